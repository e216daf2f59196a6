"""Match high-resolution footprints with Sentinel-2 and Sentinel-1 scenes, at scale.

:func:`match` fetches each collection's candidate scenes once for the whole area and period
(:mod:`~eotdl_tutorials.matching.scenes`), joins them with all footprints in one vectorised
operation (:mod:`~eotdl_tutorials.matching.join`), optionally on a Dask cluster, and returns a
:class:`MatchResult`: every candidate ranked by time distance, and the best match per footprint
and collection.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from eotdl_tutorials.files import atomic_path, check_writable, write_json
from eotdl_tutorials.matching.footprints import read_footprints
from eotdl_tutorials.matching.join import (
    NS_PER_DAY,
    Candidates,
    MatchRules,
    SceneIndex,
    join,
    times_ns,
)
from eotdl_tutorials.matching.scenes import (
    TIME_PIECES,
    ScenesSource,
    fetch_scenes,
    is_api,
    plan_searches,
)
from eotdl_tutorials.matching.windows import SENTINEL_GSD, Windows, footprint_windows
from eotdl_tutorials.stac import RetryPolicy

if TYPE_CHECKING:
    from distributed import Client

DEFAULT_COLLECTIONS = ("sentinel-2-l2a", "sentinel-1-grd")
MATCHES_FILE, CANDIDATES_FILE, SCENES_FILE, SUMMARY_FILE = (
    "matches.parquet",
    "candidates.parquet",
    "scenes.parquet",
    "match.json",
)


@dataclass
class MatchResult:
    """What :func:`match` found.

    - ``best``: one row per footprint (EPSG:4326 geometry): ``id``, ``datetime``, the window
      (``grid_epsg``, ``window_cx``/``window_cy``/``window_width_px``/``window_height_px``,
      ``footprint_width_m``/``footprint_height_m``) and per sensor ``{s}_item``,
      ``{s}_datetime``, ``{s}_dt_days`` (scene minus footprint),
      ``{s}_cloud_cover`` and ``{s}_candidates`` (how many scenes matched); no match: null item.
    - ``candidates``: every match, ``id``, ``collection``, ``item``, ``item_datetime``,
      ``dt_days``, ``cloud_cover``, ``rank`` (0 = best), by collection, footprint and rank.
    - ``scenes``: the fetched scenes (``items_to_frame`` columns).
    """

    best: gpd.GeoDataFrame
    candidates: pd.DataFrame
    scenes: gpd.GeoDataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``matches.parquet`` (geoparquet), ``candidates.parquet``, ``scenes.parquet``
        and ``match.json`` into ``folder``, each file atomically; ``match.json`` goes last and
        marks the result complete (it is removed first, so a half-replaced result is not read)."""
        folder = check_writable(folder)
        (folder / SUMMARY_FILE).unlink(missing_ok=True)
        with atomic_path(folder / SCENES_FILE) as tmp:
            scenes = self.scenes.copy()
            scenes["assets"] = scenes["assets"].map(json.dumps)
            scenes.to_parquet(tmp)
        with atomic_path(folder / CANDIDATES_FILE) as tmp:
            self.candidates.to_parquet(tmp, index=False)
        with atomic_path(folder / MATCHES_FILE) as tmp:
            self.best.to_parquet(tmp)
        write_json(folder / SUMMARY_FILE, self.summary)
        return folder


def read_matches(folder: str | os.PathLike[str]) -> MatchResult:
    """Read a :class:`MatchResult` written by :meth:`MatchResult.write`."""
    folder = Path(folder)
    files = (MATCHES_FILE, CANDIDATES_FILE, SCENES_FILE, SUMMARY_FILE)
    missing = [n for n in files if not (folder / n).exists()]
    if missing:
        raise FileNotFoundError(
            f"{folder} holds no complete matching result (missing {', '.join(missing)}): "
            "run `eotdl-tutorials match` first"
        )
    scenes = gpd.read_parquet(folder / SCENES_FILE)
    scenes["assets"] = scenes["assets"].map(json.loads)
    return MatchResult(
        best=gpd.read_parquet(folder / MATCHES_FILE),
        candidates=pd.read_parquet(folder / CANDIDATES_FILE),
        scenes=scenes,
        summary=json.loads((folder / SUMMARY_FILE).read_text()),
    )


def collection_rules(
    collections: Sequence[str],
    time_buffer_days: float | Mapping[str, float] | None = None,
    max_cloud_cover: float | Mapping[str, float | None] | None = -1.0,
) -> list[MatchRules]:
    """One :class:`MatchRules` per collection; per-collection values may be given as a dict."""
    if isinstance(collections, str):
        collections = [collections]
    if not collections:
        raise ValueError("no collection to match: pass e.g. ['sentinel-2-l2a', 'sentinel-1-grd']")
    rules = []
    for name in collections:
        buffer = (
            time_buffer_days.get(name)
            if isinstance(time_buffer_days, Mapping)
            else time_buffer_days
        )
        cloud = (
            max_cloud_cover.get(name, -1.0)
            if isinstance(max_cloud_cover, Mapping)
            else max_cloud_cover
        )
        rules.append(MatchRules.for_collection(name, buffer, cloud))
    sensors = [r.sensor for r in rules]
    if len(set(sensors)) != len(sensors):
        raise ValueError(f"two collections of the same sensor: {list(collections)}; keep one")
    return rules


def window_columns(windows: Windows) -> dict[str, np.ndarray]:
    """The window of each footprint as columns (what the tiler cuts)."""
    return {
        "grid_epsg": windows.epsg,
        "window_cx": windows.cx,
        "window_cy": windows.cy,
        "window_width_px": windows.width_px,
        "window_height_px": windows.height_px,
        "footprint_width_m": windows.width_m,
        "footprint_height_m": windows.height_m,
    }


def _join_all(
    windows: Windows, t_ns: np.ndarray, index: SceneIndex, client: Client | None, partitions: int
) -> Candidates:
    if client is None:
        return join(windows, t_ns, index)
    from eotdl_tutorials.matching.distributed import join_on_cluster

    return join_on_cluster(client, windows, t_ns, index, partitions)


def candidates_frame(
    found: Candidates,
    offset: int,
    collection: str,
    collections: list[str],
    footprint_ids: pd.Series,
    scenes: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """Candidates as a table; ids and collections are categoricals (cheap for millions).

    ``scenes`` holds the scenes of every collection; ``found.scene + offset`` are their rows.
    """
    rows = found.scene + offset
    return pd.DataFrame(
        {
            "id": pd.Categorical.from_codes(found.footprint, categories=footprint_ids),
            "collection": pd.Categorical.from_codes(
                np.full(len(found), collections.index(collection), dtype="int8"),
                categories=collections,
            ),
            "item": pd.Categorical.from_codes(rows, categories=scenes["id"]),
            "item_datetime": scenes["datetime"].iloc[rows].reset_index(drop=True),
            "dt_days": found.dt_ns / NS_PER_DAY,
            "cloud_cover": found.cloud,
            "rank": found.rank,
        }
    )


def best_columns(
    best: Candidates, n: int, scenes: gpd.GeoDataFrame, rules: MatchRules, counts: np.ndarray
) -> dict[str, Any]:
    """Per-footprint columns of the best match of one collection (null where none)."""
    s = rules.sensor
    item = np.full(n, -1, dtype="int64")
    item[best.footprint] = best.scene
    when = np.full(n, np.iinfo("int64").min, dtype="int64")  # NaT
    when[best.footprint] = times_ns(scenes["datetime"])[best.scene]
    dt = np.full(n, np.nan)
    dt[best.footprint] = best.dt_ns / NS_PER_DAY
    cloud = np.full(n, np.nan)
    cloud[best.footprint] = best.cloud
    return {
        f"{s}_item": pd.Categorical.from_codes(item, categories=scenes["id"].astype(str)),
        f"{s}_datetime": pd.to_datetime(when, utc=True),
        f"{s}_dt_days": dt,
        f"{s}_cloud_cover": cloud,
        f"{s}_candidates": counts,
    }


def match(
    footprints: gpd.GeoDataFrame | str | os.PathLike[str],
    source: ScenesSource,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    time_buffer_days: float | Mapping[str, float] | None = None,
    max_cloud_cover: float | Mapping[str, float | None] | None = -1.0,
    scl_max_cloud: float | None = None,
    client: Client | None = None,
    partitions: int | None = None,
    cell_deg: float = 1.0,
    retry: RetryPolicy | None = None,
    sign: bool | None = None,
) -> MatchResult:
    """Match every footprint with scenes of ``collections`` (see the module docstring).

    ``footprints``: a GeoDataFrame or geoparquet path (:func:`read_footprints`). ``source``: a
    STAC API URL, a stac-geoparquet or JSON file of items, or a frame of items.
    ``time_buffer_days``: total width of the time window (default 30 for S2, 6 for S1: +-15
    and +-3 days). ``max_cloud_cover``: ``eo:cloud_cover`` limit in percent (default 5 for S2;
    None: no limit). ``scl_max_cloud``: also require at most this percentage of cloud pixels
    (SCL 8, 9, 10) inside the window of the chosen S2 scene, read from its ``scl`` COG.
    ``client``: a ``distributed.Client`` to run the join on, in ``partitions`` pieces.
    ``sign``: sign the scenes' asset hrefs with a Planetary Computer SAS token (None: when
    ``source`` is the Planetary Computer's STAC API).
    """
    started = time.perf_counter()
    rules = collection_rules(collections, time_buffer_days, max_cloud_cover)
    fps = read_footprints(footprints)
    windows = footprint_windows(fps, SENTINEL_GSD)
    t_ns = times_ns(fps["datetime"])
    best: dict[str, Any] = {"id": fps["id"], "datetime": fps["datetime"]}
    best |= window_columns(windows)
    for column in ("hr_href", "hr_metadata", "json_path", "zone", "region"):
        if column in fps:
            best[column] = fps[column].to_numpy()
    plan = plan_searches(windows, t_ns, rules, cell_deg, TIME_PIECES if is_api(source) else 1)
    scene_frames, counter = fetch_scenes(source, plan, retry, sign=sign)
    results, per_collection = [], {}
    offset = 0
    for (rule, areas), scenes in zip(plan, scene_frames, strict=True):
        index = SceneIndex.build(scenes, rule)
        found = _join_all(windows, t_ns, index, client, partitions or 8)
        if scl_max_cloud is not None and rule.sensor == "s2":
            from eotdl_tutorials.matching.scl import drop_cloudy_windows

            found = drop_cloudy_windows(found, windows, scenes, scl_max_cloud)
        counts = np.bincount(found.footprint, minlength=len(fps))
        best |= best_columns(found.best(), len(fps), scenes, rule, counts)
        results.append((found, offset, rule.collection))
        offset += len(scenes)
        per_collection[rule.collection] = {
            "searches": len(areas),
            "scenes": len(scenes),
            "candidates": len(found),
            "matched_footprints": int((counts > 0).sum()),
            "time_buffer_days": rule.time_buffer_days,
            "max_cloud_cover": rule.max_cloud_cover,
        }
    best_frame = gpd.GeoDataFrame(best, geometry=fps.geometry.to_crs(4326).to_numpy(), crs=4326)
    all_scenes = gpd.GeoDataFrame(pd.concat(scene_frames, ignore_index=True), crs=4326)
    candidates = pd.concat(
        [
            candidates_frame(found, off, name, [r.collection for r in rules], fps["id"], all_scenes)
            for found, off, name in results
        ],
        ignore_index=True,
    )
    summary = {
        "footprints": len(fps),
        "source": "GeoDataFrame" if isinstance(source, gpd.GeoDataFrame) else str(source),
        "collections": per_collection,
        "scl_max_cloud": scl_max_cloud,
        "requests": counter.requests,
        "retries": counter.retries,
        "seconds": round(time.perf_counter() - started, 3),
    }
    return MatchResult(best_frame, candidates, all_scenes, summary)
