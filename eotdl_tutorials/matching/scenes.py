"""Fetch the candidate scenes of a collection once for all footprints.

The footprints are gathered into a few search areas: their windows' centres fall on a grid of
``cell_deg`` degree cells, touching cells merge into one area, and each area is searched (paged)
with the bounding box of its windows and the time range of its footprints widened by the time
window, that range cut into a few pieces when the areas are few. A search is a few STAC API
requests, not one per footprint. An API that declares the ``filter`` (or ``query``) and
``fields`` extensions applies the cloud-cover limit itself and sends only the fields the join
reads (:data:`~eotdl_tutorials.stac.FRAME_FIELDS`).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.ndimage

from eotdl_tutorials.matching.join import MatchRules
from eotdl_tutorials.matching.windows import Windows
from eotdl_tutorials.stac import (
    FRAME_FIELDS,
    RequestCounter,
    RetryPolicy,
    items_to_frame,
    open_source,
    reflectance_scale_offset,
    search_item_dicts,
)

#: Items per page asked of a STAC API (fewer, larger pages: fewer requests).
PAGE_SIZE = 1000
#: Searches sent at once (areas, time pieces and collections).
SEARCH_THREADS = 3
#: At least this many searches per collection from an API: a collection with fewer search areas
#: has their time ranges cut into equal pieces, so that this process decodes one answer while
#: the API (which answers one request at a time) prepares the next (about 15 % faster than one
#: search per area on the large world's 2,000-footprint benchmark sample). A file is not cut.
TIME_PIECES = 8
#: Slack added to the searched time range so the API's own rounding cannot drop a scene.
TIME_SLACK = pd.Timedelta(seconds=1)

ScenesSource = str | os.PathLike[str] | gpd.GeoDataFrame


@dataclass(frozen=True)
class SearchArea:
    """One bounded search: a WGS84 bbox and a closed UTC time range."""

    bbox: tuple[float, float, float, float]
    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def datetime(self) -> str:
        """The range as a STAC ``datetime`` interval."""
        fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
        return f"{self.start.strftime(fmt)}/{self.end.strftime(fmt)}"


def plan_searches(
    windows: Windows,
    t_ns: np.ndarray,
    rules: Sequence[MatchRules],
    cell_deg: float = 1.0,
    time_pieces: int = TIME_PIECES,
) -> list[tuple[MatchRules, list[SearchArea]]]:
    """The few (bbox, time range) searches of each collection that cover every footprint's
    window and time window; the areas are the same for all, the time ranges differ, and with
    fewer than ``time_pieces`` areas each area's time range is cut into equal pieces."""
    if len(windows) == 0:
        return [(rule, []) for rule in rules]
    lonlat = windows.lonlat_bounds()
    lon = (lonlat[:, 0] + lonlat[:, 2]) / 2
    lat = (lonlat[:, 1] + lonlat[:, 3]) / 2
    col = np.floor((lon + 180) / cell_deg).astype("int64")
    row = np.floor((lat + 90) / cell_deg).astype("int64")
    c0, r0 = col.min(), row.min()
    occupied = np.zeros((row.max() - r0 + 1, col.max() - c0 + 1), dtype=bool)
    occupied[row - r0, col - c0] = True
    labels, _ = scipy.ndimage.label(occupied, structure=np.ones((3, 3)))
    frame = pd.DataFrame(
        {
            "area": labels[row - r0, col - c0] - 1,
            "west": lonlat[:, 0],
            "south": lonlat[:, 1],
            "east": lonlat[:, 2],
            "north": lonlat[:, 3],
            "t": t_ns,
        }
    )
    grouped = frame.groupby("area").agg(
        west=("west", "min"),
        south=("south", "min"),
        east=("east", "max"),
        north=("north", "max"),
        t0=("t", "min"),
        t1=("t", "max"),
    )
    pieces = max(1, -(-time_pieces // len(grouped)))  # per area (ceil)
    plan = []
    for rule in rules:
        areas = []
        for r in grouped.itertuples():
            start = pd.Timestamp(int(r.t0) - rule.half_window_ns, tz="UTC") - TIME_SLACK
            end = pd.Timestamp(int(r.t1) + rule.half_window_ns, tz="UTC") + TIME_SLACK
            bbox = (float(r.west), float(r.south), float(r.east), float(r.north))
            edges = pd.date_range(start, end, periods=pieces + 1)
            areas += [SearchArea(bbox, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        plan.append((rule, areas))
    return plan


def search_arguments(rules: MatchRules, area: SearchArea) -> dict[str, Any]:
    """The search of one collection over one area, as keyword arguments of
    :func:`~eotdl_tutorials.stac.search_item_dicts` (the source apart)."""
    return {
        "collections": rules.collection,
        "bbox": area.bbox,
        "datetime": area.datetime,
        "max_cloud_cover": None if rules.sensor == "s1" else rules.max_cloud_cover,
        "limit": PAGE_SIZE,
        "fields": FRAME_FIELDS,
    }


def is_api(source: ScenesSource) -> bool:
    """Whether ``source`` is a STAC API URL (not a file, not a frame)."""
    return isinstance(source, str | os.PathLike) and str(source).startswith(("http://", "https://"))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: decoding thousands of items makes millions of
    small dicts and lists (no cycles), and the collector's repeated passes over them cost more
    than the decoding itself (about 3x on a page of 1,000 Sentinel-2 items)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _frame(items: list[dict], rules: MatchRules) -> gpd.GeoDataFrame:
    frame = items_to_frame(items)
    if rules.sensor == "s2":
        frame["reflectance_offset"] = [_reflectance_offset(item) for item in items]
    return frame


def fetch_scenes(
    source: ScenesSource,
    plan: list[tuple[MatchRules, list[SearchArea]]],
    retry: RetryPolicy | None = None,
    threads: int = SEARCH_THREADS,
    sign: bool | None = None,
) -> tuple[list[gpd.GeoDataFrame], RequestCounter]:
    """The scenes of each ``(rules, areas)`` of ``plan`` as a frame (``items_to_frame``
    columns), and the requests sent.

    ``source`` is a STAC API URL, a stac-geoparquet or JSON file, or an already fetched frame
    (then only filtered by collection). Each scene appears once per collection, however many
    areas it touches. The searches run in ``threads`` threads, each with its own client, and
    each thread turns its items into a frame at once: this process decodes and converts one
    answer while the API prepares the next. ``sign``: sign the scenes' asset hrefs for the
    Planetary Computer (None: when ``source`` is its API; see
    :func:`~eotdl_tutorials.stac.needs_signing`).
    """
    if isinstance(source, gpd.GeoDataFrame):
        frames = [source[source["collection"] == rules.collection] for rules, _ in plan]
        return [f.drop_duplicates("id").reset_index(drop=True) for f in frames], RequestCounter()
    if not is_api(source) and not Path(source).exists():
        raise FileNotFoundError(
            f"STAC source {source} not found: pass a STAC API URL, a stac-geoparquet or a JSON file"
        )
    searches = [(k, rules, area) for k, (rules, areas) in enumerate(plan) for area in areas]
    counters: list[RequestCounter] = []  # one per thread: no shared increments
    local = threading.local()
    file = None if is_api(source) else open_source(source, sign=sign)  # read once, shared

    def search(i: int) -> gpd.GeoDataFrame:
        if file is None and not hasattr(local, "source"):
            counter = RequestCounter()
            counters.append(counter)
            local.source = open_source(source, counter, retry, sign)
        _, rules, area = searches[i]
        items = search_item_dicts(
            file if file is not None else local.source, **search_arguments(rules, area)
        )
        return _frame(items, rules)

    with _gc_paused():
        with ThreadPoolExecutor(max(1, min(threads, len(searches)))) as pool:
            answers = list(pool.map(search, range(len(searches))))
        frames = [
            _concat([a for (j, _, _), a in zip(searches, answers, strict=True) if j == k])
            for k in range(len(plan))
        ]
    total = RequestCounter(sum(c.requests for c in counters), sum(c.retries for c in counters))
    return frames, total


def _concat(frames: list[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """One frame of scenes, each once (a scene may touch two search areas)."""
    if not frames:
        return items_to_frame([])
    joined = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return gpd.GeoDataFrame(joined.drop_duplicates("id").reset_index(drop=True), crs=4326)


def _reflectance_offset(item: dict) -> float:
    """The L2A offset of a Sentinel-2 item's DNs (-0.1 since baseline 04.00, 0 if removed)."""
    try:
        return reflectance_scale_offset(item, "red")[1]
    except ValueError:
        return float("nan")
