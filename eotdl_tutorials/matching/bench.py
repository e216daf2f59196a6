"""Benchmark: matching at scale against the per-footprint (EOTDL) way, in one run.

Both run against the same local STAC API over a sample world. The fast path matches every
footprint of the world's index (``seconds``; writing its results: ``write_seconds``; importing
pystac-client, seconds once per process, is timed apart as ``import_seconds``). The baseline
(one search per footprint and collection) runs on a sample of them, and the fast path runs on
the same sample too (the median of three runs), so the speed-up compares equal work (nothing is
extrapolated).
``identical`` says whether the two found exactly the same candidates, ``identical_full``
whether the full run's answer for the sample is that same answer.

``api_floor_seconds`` is how long the API alone takes to send the fast path's pages for the
sample (:func:`api_floor_seconds`), so ``speedup_ceiling`` is the most any client could reach
on this API: with ``rustac serve`` (no ``fields`` nor ``filter``/``query`` extension) the fast
path must receive every candidate scene in full, and the API serialises them one request at a
time; with pgstac (``backend="pgstac"``) the cloud limit is applied by the server and only the
fields the join reads are sent.
"""

from __future__ import annotations

import gc
import os
import resource
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import orjson
import requests

from eotdl_tutorials.matching.baseline import compare_matches, match_per_footprint
from eotdl_tutorials.matching.footprints import read_footprints
from eotdl_tutorials.matching.join import times_ns
from eotdl_tutorials.matching.match import (
    DEFAULT_COLLECTIONS,
    MatchResult,
    collection_rules,
    match,
)
from eotdl_tutorials.matching.scenes import plan_searches, search_arguments
from eotdl_tutorials.matching.windows import footprint_windows

if TYPE_CHECKING:
    from eotdl_tutorials.stac.server import Backend

#: The fast path on the sample takes about a second: its time is the median of this many runs
#: (the baseline's 4,000 requests average themselves).
FAST_SAMPLE_RUNS = 3


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def api_floor_seconds(
    url: str, footprints: gpd.GeoDataFrame, collections: Sequence[str]
) -> tuple[float, int]:
    """Seconds the STAC API at ``url`` takes to answer the searches :func:`match` sends for
    ``footprints`` (the same request bodies, filters and fields included), with nothing done
    here but receiving the bytes (decoding the pages to find the next one is not timed), and the
    items it sends. The searches go one after another: the local API answers one request at a
    time anyway."""
    from eotdl_tutorials.stac import open_source, search_parameters

    fps = read_footprints(footprints)
    windows, t_ns = footprint_windows(fps), times_ns(fps["datetime"])
    search_url = url.rstrip("/") + "/search"
    api = open_source(url)
    seconds, items = 0.0, 0
    with requests.Session() as session:
        for rules, areas in plan_searches(windows, t_ns, collection_rules(collections)):
            for area in areas:
                body: dict[str, Any] | None = search_parameters(
                    api, **search_arguments(rules, area)
                )
                while body is not None:
                    started = time.perf_counter()
                    response = session.post(search_url, json=body)
                    content = response.content
                    seconds += time.perf_counter() - started
                    response.raise_for_status()
                    page = orjson.loads(content)
                    items += len(page.get("features", []))
                    after = [link for link in page.get("links", []) if link.get("rel") == "next"]
                    body = (
                        {**body, **after[0].get("body", {})}
                        if page.get("features") and after
                        else None
                    )
    return seconds, items


def _restrict(result: MatchResult, ids: set[str]) -> MatchResult:
    keep = result.candidates["id"].astype(str).isin(ids)
    return MatchResult(result.best, result.candidates[keep.to_numpy()], result.scenes)


def bench_matching(
    world_dir: str | os.PathLike[str],
    footprints: int | None = None,
    baseline_footprints: int = 2000,
    collections: Sequence[str] = DEFAULT_COLLECTIONS,
    dask_workers: int = 0,
    seed: int = 0,
    progress: bool = True,
    backend: Backend = "rustac",
) -> dict[str, Any]:
    """Time :func:`match` on the world's footprints (all, or a sample of ``footprints``) and
    :func:`match_per_footprint` on ``baseline_footprints`` of them, both through the local STAC
    API of ``backend`` (``"rustac"`` or ``"pgstac"``); see the module docstring."""
    from eotdl_tutorials.stac import LocalStacApi
    from eotdl_tutorials.world import open_world

    world = open_world(world_dir)
    source: gpd.GeoDataFrame | str = str(world.earthview_index)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    import pystac_client  # noqa: F401  (a one-off cost of seconds per process, timed apart)

    import_seconds = time.perf_counter() - started
    with (
        LocalStacApi(world.root, backend=backend) as api,
        tempfile.TemporaryDirectory() as folder,
    ):
        client = cluster = None
        if dask_workers:
            from distributed import Client, LocalCluster

            cluster = LocalCluster(
                n_workers=dask_workers,
                processes=True,
                threads_per_worker=1,
                host="127.0.0.1",
                dashboard_address=None,
            )
            client = Client(cluster)
        try:
            started = time.perf_counter()
            if footprints is not None:
                everything = read_footprints(source)
                pick = np.sort(rng.choice(len(everything), min(footprints, len(everything)), False))
                source = everything.iloc[pick].reset_index(drop=True)
                del everything
            fast = match(
                source, api.url, collections, client=client, partitions=4 * max(dask_workers, 1)
            )
            seconds = time.perf_counter() - started
            fast.write(folder)
            write_seconds = time.perf_counter() - started - seconds
            peak = peak_rss_mb()
        finally:
            if client is not None:
                client.close()
                cluster.close()
        fps = read_footprints(source) if isinstance(source, str) else source
        pick = np.sort(rng.choice(len(fps), min(baseline_footprints, len(fps)), replace=False))
        sample = fps.iloc[pick].reset_index(drop=True)
        full_on_sample = _restrict(fast, set(sample["id"].astype(str)))
        full = {
            "footprints": len(fast.best),
            "requests": fast.summary["requests"],
            "candidates": len(fast.candidates),
            "matched_footprints": {
                c: info["matched_footprints"] for c, info in fast.summary["collections"].items()
            },
        }
        # Both ways are timed on a clean heap: what the full run left would make the collector's
        # passes slower for whichever runs next.
        del fast, fps, source
        gc.collect()
        runs = []
        for _ in range(FAST_SAMPLE_RUNS):
            started = time.perf_counter()
            fast_sample = match(sample, api.url, collections)
            runs.append(time.perf_counter() - started)
        fast_sample_seconds = float(np.median(runs))
        floor_seconds, floor_items = api_floor_seconds(api.url, sample, collections)
        started = time.perf_counter()
        slow = match_per_footprint(sample, api.url, collections, progress=progress)
        baseline_seconds = time.perf_counter() - started
    return {
        "world": str(world.root),
        "backend": backend,
        "footprints": full["footprints"],
        "collections": list(collections),
        "seconds": round(seconds, 3),
        "write_seconds": round(write_seconds, 3),
        "import_seconds": round(import_seconds, 3),
        "peak_rss_mb": round(peak, 1),
        "requests": full["requests"],
        "candidates": full["candidates"],
        "matched_footprints": full["matched_footprints"],
        "dask_workers": dask_workers,
        "cpu_count": os.cpu_count(),
        "baseline_footprints": len(sample),
        "baseline_seconds": round(baseline_seconds, 3),
        "baseline_requests": slow.summary["requests"],
        "fast_sample_seconds": round(fast_sample_seconds, 3),
        "fast_sample_runs_seconds": [round(r, 3) for r in runs],
        "fast_sample_requests": fast_sample.summary["requests"],
        "speedup": round(baseline_seconds / fast_sample_seconds, 1),
        "api_floor_seconds": round(floor_seconds, 3),
        "api_floor_items": floor_items,
        "speedup_ceiling": round(baseline_seconds / floor_seconds, 1),
        "identical": bool(compare_matches(fast_sample, slow).empty),
        "identical_full": bool(compare_matches(full_on_sample, slow).empty),
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark as a readable table."""
    rows = [
        ("STAC API backend", result["backend"]),
        ("footprints matched (fast path)", f"{result['footprints']:,}"),
        (
            "  seconds (match / + writing)",
            f"{result['seconds']:.2f} / {result['seconds'] + result['write_seconds']:.2f}",
        ),
        ("  one-off pystac-client import s", f"{result['import_seconds']:.2f} (not counted)"),
        ("  peak memory (MiB)", f"{result['peak_rss_mb']:,.0f}"),
        ("  STAC API requests", f"{result['requests']:,}"),
        ("  candidates", f"{result['candidates']:,}"),
        (
            "  matched per collection",
            ", ".join(f"{k}: {v:,}" for k, v in result["matched_footprints"].items()),
        ),
        ("same sample, both ways", f"{result['baseline_footprints']:,} footprints"),
        (
            f"  fast path seconds (median of {len(result['fast_sample_runs_seconds'])}) / requests",
            f"{result['fast_sample_seconds']:.2f} s / {result['fast_sample_requests']:,}",
        ),
        (
            "  per-footprint seconds / requests",
            f"{result['baseline_seconds']:.2f} s / {result['baseline_requests']:,}",
        ),
        ("  speed-up", f"{result['speedup']:,.1f}x"),
        (
            "  the API alone, for those searches",
            f"{result['api_floor_seconds']:.2f} s ({result['api_floor_items']:,} items)",
        ),
        ("  best possible speed-up on this API", f"{result['speedup_ceiling']:,.1f}x"),
        ("  identical matches", "yes" if result["identical"] else "NO"),
        ("  full run agrees on the sample", "yes" if result["identical_full"] else "NO"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
