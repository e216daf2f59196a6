"""The EOTDL way, as a reference: one STAC API search per footprint and collection.

For each footprint, :func:`match_per_footprint` asks the API for the scenes intersecting the
footprint's window (bbox) within its time window, then tests every returned scene with plain
shapely calls, one footprint at a time: the window polygon within the scene footprint (in the
scene's CRS), ``|dt| <= time_buffer_days / 2``, the cloud limit; and ranks by ``|dt|``, cloud
cover and id. It shares no join code with :func:`~eotdl_tutorials.matching.match.match`, so equal
answers check the fast path; it sends two orders of magnitude more requests.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from tqdm.auto import tqdm

from eotdl_tutorials.matching.footprints import read_footprints
from eotdl_tutorials.matching.join import Candidates, MatchRules, scene_epsg, times_ns
from eotdl_tutorials.matching.match import (
    DEFAULT_COLLECTIONS,
    MatchResult,
    best_columns,
    candidates_frame,
    collection_rules,
    window_columns,
)
from eotdl_tutorials.matching.scenes import TIME_SLACK, is_api
from eotdl_tutorials.matching.windows import (
    SENTINEL_GSD,
    footprint_windows,
    transform_geometries,
)
from eotdl_tutorials.stac import RequestCounter, RetryPolicy, items_to_frame
from eotdl_tutorials.stac.api_io import counting_stac_api_io


def _open_api(url: str, counter: RequestCounter, retry: RetryPolicy | None) -> Any:
    from pystac_client import Client

    if not is_api(url):
        raise ValueError(f"the per-footprint baseline searches a STAC API URL, not {url!r}")
    url = url + "/" if urllib.parse.urlsplit(url).path == "" else url
    return Client.open(url, stac_io=counting_stac_api_io()(counter, retry or RetryPolicy()))


def _scene_matches(
    window: shapely.Polygon,
    grid_epsg: int,
    t_ns: int,
    scenes: gpd.GeoDataFrame,
    rules: MatchRules,
) -> list[tuple[str, int, float]]:
    """(scene id, dt_ns, cloud) of the scenes one footprint's window matches, best first."""
    found = []
    epsg = scene_epsg(scenes)
    scene_t = times_ns(scenes["datetime"])
    cloud_ok = rules.cloud_ok(scenes["cloud_cover"].to_numpy(dtype="float64"))
    for k in range(len(scenes)):
        footprint = transform_geometries(np.array([scenes.geometry.iloc[k]]), 4326, int(epsg[k]))
        quad = transform_geometries(np.array([window]), grid_epsg, int(epsg[k]))
        dt = int(scene_t[k]) - int(t_ns)
        if cloud_ok[k] and abs(dt) <= rules.half_window_ns and quad[0].within(footprint[0]):
            found.append((scenes["id"].iloc[k], dt, float(scenes["cloud_cover"].iloc[k])))
    return sorted(found, key=lambda f: (abs(f[1]), np.inf if np.isnan(f[2]) else f[2], str(f[0])))


def match_per_footprint(
    footprints: gpd.GeoDataFrame | str,
    url: str,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    time_buffer_days: float | Mapping[str, float] | None = None,
    max_cloud_cover: float | Mapping[str, float | None] | None = -1.0,
    retry: RetryPolicy | None = None,
    progress: bool = False,
) -> MatchResult:
    """Match like :func:`~eotdl_tutorials.matching.match.match`, one API search per footprint
    and collection (bbox = the window's WGS84 bounds, datetime = the time window)."""
    started = time.perf_counter()
    rules = collection_rules(collections, time_buffer_days, max_cloud_cover)
    fps = read_footprints(footprints)
    windows = footprint_windows(fps, SENTINEL_GSD)
    t_ns = times_ns(fps["datetime"])
    boxes = windows.boxes()
    lonlat = windows.lonlat_bounds()
    counter = RequestCounter()
    api = _open_api(url, counter, retry)
    best: dict[str, Any] = {"id": fps["id"], "datetime": fps["datetime"]}
    best |= window_columns(windows)
    per_rule, items = [], {}
    for rule in rules:
        rows = []
        bar = tqdm(range(len(fps)), desc=f"per-footprint {rule.sensor}", disable=not progress)
        for i in bar:
            centre = pd.Timestamp(int(t_ns[i]), tz="UTC")
            half = pd.Timedelta(rule.half_window_ns, unit="ns") + TIME_SLACK
            search = api.search(
                collections=[rule.collection],
                bbox=[float(v) for v in lonlat[i]],
                datetime=[centre - half, centre + half],
                limit=100,
            )
            found = list(search.items_as_dicts())
            for item in found:
                items.setdefault(item["id"], item)
            if found:
                scenes = items_to_frame(found)
                matches = _scene_matches(boxes[i], int(windows.epsg[i]), int(t_ns[i]), scenes, rule)
                rows += [(i, rank, *m) for rank, m in enumerate(matches)]
        per_rule.append((rule, rows))
    all_scenes = items_to_frame(items.values())
    position = pd.Series(np.arange(len(all_scenes)), index=all_scenes["id"])
    tables = []
    for rule, rows in per_rule:
        table = pd.DataFrame(rows, columns=["footprint", "rank", "item", "dt_ns", "cloud"])
        found = Candidates(
            footprint=table["footprint"].to_numpy("int64"),
            scene=position.reindex(table["item"]).to_numpy("int64"),
            dt_ns=table["dt_ns"].to_numpy("int64"),
            cloud=table["cloud"].to_numpy("float64"),
            rank=table["rank"].to_numpy("int32"),
        )
        counts = np.bincount(found.footprint, minlength=len(fps))
        best |= best_columns(found.best(), len(fps), all_scenes, rule, counts)
        names = [r.collection for r in rules]
        tables.append(candidates_frame(found, 0, rule.collection, names, fps["id"], all_scenes))
    summary = {
        "footprints": len(fps),
        "source": url,
        "method": "per-footprint",
        "requests": counter.requests,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return MatchResult(
        gpd.GeoDataFrame(best, geometry=fps.geometry.to_crs(4326).to_numpy(), crs=4326),
        pd.concat(tables, ignore_index=True),
        all_scenes,
        summary,
    )


def compare_matches(a: MatchResult, b: MatchResult) -> pd.DataFrame:
    """Differences between two results: rows (id, collection, rank) whose item or time differs,
    or that only one side has. Empty when both found the same candidates in the same order."""
    keys = ["id", "collection", "rank"]

    def table(result: MatchResult) -> pd.DataFrame:
        frame = result.candidates[[*keys, "item", "dt_days"]].copy()
        for column in ("id", "collection", "item"):
            frame[column] = frame[column].astype(str)
        return frame

    merged = table(a).merge(table(b), on=keys, how="outer", suffixes=("_a", "_b"), indicator=True)
    differs = (
        (merged["_merge"] != "both")
        | (merged["item_a"] != merged["item_b"])
        | ~np.isclose(merged["dt_days_a"], merged["dt_days_b"], rtol=0, atol=1e-9)
    )
    return merged[differs].reset_index(drop=True)
