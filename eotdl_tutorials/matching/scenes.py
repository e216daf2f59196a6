"""Fetch the candidate scenes of a collection once for all footprints.

The footprints are gathered into a few search areas: their windows' centres fall on a grid of
``cell_deg`` degree cells, touching cells merge into one area, and each area is searched once
(paged) with the bounding box of its windows and the time range of its footprints widened by
the time window. A search area is a STAC API request (plus pages), not one per footprint.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.ndimage

from eotdl_tutorials.matching.join import MatchRules
from eotdl_tutorials.matching.windows import Windows
from eotdl_tutorials.stac import (
    RequestCounter,
    RetryPolicy,
    items_to_frame,
    reflectance_scale_offset,
    search_item_dicts,
)

#: Items per page asked of a STAC API (fewer, larger pages: fewer requests).
PAGE_SIZE = 1000
#: Searches sent at once (areas and collections).
SEARCH_THREADS = 4
#: Slack added to the searched time range so the API's own rounding cannot drop a scene.
_TIME_SLACK = pd.Timedelta(seconds=1)

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


def search_areas(
    windows: Windows, t_ns: np.ndarray, half_window_ns: int, cell_deg: float = 1.0
) -> list[SearchArea]:
    """The few (bbox, time range) searches that cover every footprint's window and time window."""
    if len(windows) == 0:
        return []
    lonlat = windows.lonlat_bounds()
    lon = (lonlat[:, 0] + lonlat[:, 2]) / 2
    lat = (lonlat[:, 1] + lonlat[:, 3]) / 2
    col = np.floor((lon + 180) / cell_deg).astype("int64")
    row = np.floor((lat + 90) / cell_deg).astype("int64")
    c0, r0 = col.min(), row.min()
    occupied = np.zeros((row.max() - r0 + 1, col.max() - c0 + 1), dtype=bool)
    occupied[row - r0, col - c0] = True
    labels, _ = scipy.ndimage.label(occupied, structure=np.ones((3, 3)))
    area_of = labels[row - r0, col - c0] - 1
    frame = pd.DataFrame(
        {
            "area": area_of,
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
    return [
        SearchArea(
            bbox=(float(r.west), float(r.south), float(r.east), float(r.north)),
            start=pd.Timestamp(int(r.t0) - half_window_ns, tz="UTC") - _TIME_SLACK,
            end=pd.Timestamp(int(r.t1) + half_window_ns, tz="UTC") + _TIME_SLACK,
        )
        for r in grouped.itertuples()
    ]


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
) -> tuple[list[gpd.GeoDataFrame], RequestCounter]:
    """The scenes of each ``(rules, areas)`` of ``plan`` as a frame (``items_to_frame``
    columns), and the requests sent.

    ``source`` is a STAC API URL, a stac-geoparquet or JSON file, or an already fetched frame
    (then only filtered by collection). Each scene appears once per collection, however many
    areas it touches. The searches run in ``threads`` threads: the API prepares a page while
    this process decodes another.
    """
    if isinstance(source, gpd.GeoDataFrame):
        frames = [source[source["collection"] == rules.collection] for rules, _ in plan]
        return [f.drop_duplicates("id").reset_index(drop=True) for f in frames], RequestCounter()
    if not str(source).startswith(("http://", "https://")) and not Path(source).exists():
        raise FileNotFoundError(
            f"STAC source {source} not found: pass a STAC API URL, a stac-geoparquet or a JSON file"
        )
    searches = [(k, rules, area) for k, (rules, areas) in enumerate(plan) for area in areas]
    counters = [RequestCounter() for _ in searches]  # one per thread: no shared increments

    def search(i: int) -> list[dict]:
        _, rules, area = searches[i]
        return search_item_dicts(
            source,
            rules.collection,
            area.bbox,
            area.datetime,
            max_cloud_cover=None if rules.sensor == "s1" else rules.max_cloud_cover,
            limit=PAGE_SIZE,
            counter=counters[i],
            retry=retry,
        )

    with _gc_paused():
        with ThreadPoolExecutor(max(1, min(threads, len(searches)))) as pool:
            answers = list(pool.map(search, range(len(searches))))
        found: list[dict[str, dict]] = [{} for _ in plan]
        for (k, _, _), items in zip(searches, answers, strict=True):
            for item in items:
                found[k].setdefault(item["id"], item)
        frames = [
            _frame(list(f.values()), rules) for f, (rules, _) in zip(found, plan, strict=True)
        ]
    total = RequestCounter(sum(c.requests for c in counters), sum(c.retries for c in counters))
    return frames, total


def _reflectance_offset(item: dict) -> float:
    """The L2A offset of a Sentinel-2 item's DNs (-0.1 since baseline 04.00, 0 if removed)."""
    try:
        return reflectance_scale_offset(item, "red")[1]
    except ValueError:
        return float("nan")
