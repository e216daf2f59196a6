"""Benchmark: the tiler against plain rasterio windowed reads of the same windows, in one run.

The tiler cuts the store as the course does, Sentinel-2 chips checked for cloud in their SCL
window (``CHIP_MAX_CLOUD_PERCENT``). ``raw`` reads exactly the pixels the tiler reads (the
covering window of every chip in every band file, in its scene's SCL file for Sentinel-2, and
each 1 m tile's label mask), with the same files kept open, the same grouping and the same
number of processes, and does nothing else: no checks, no chip files, no packing. It is the
I/O floor of the tiler, so ``ratio_to_raw`` (raw seconds over tiler seconds for the same planned
chips, i.e. the tiler's throughput as a fraction of raw reads) says what the tiler's own work
costs. ``naive_read_seconds`` is the same reads opening the file for each window, as a script
would. After a warm-up pass (the files then come from the page cache), raw reads and the tiler
run ``repeats`` times, alternating, and the best time of each is kept: a shared machine's noise
(a run can take a third longer than the next) then hits both sides alike.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import rasterio

from eotdl_tutorials.matching import MatchResult, match
from eotdl_tutorials.matching.rasters import covering_window, source_pixels
from eotdl_tutorials.tiling.chips import ChipJob
from eotdl_tutorials.tiling.store import (
    CHIP_MAX_CLOUD_PERCENT,
    DEFAULT_CHUNK,
    DEFAULT_SENSORS,
    TilingReport,
    chip_shape,
    group_tasks,
    plan_jobs,
    tile,
)

#: Time windows for the bench's matching (S1 of the sample worlds passes every 6 to 24 days).
BENCH_TIME_BUFFER_DAYS = {"sentinel-2-l2a": 30, "sentinel-1-grd": 24}


def _read_windows(task: tuple[str, list[ChipJob], bool]) -> int:
    """Read every job's covering window from its files; reopen per window if ``naive``."""
    _, jobs, naive = task
    opened: dict[str, rasterio.DatasetReader] = {}
    pixels = 0
    try:
        for job in jobs:
            checked = tuple(h for h in (job.scl_href, job.label_href) if h is not None)
            for href in job.hrefs + checked:
                if naive:
                    src = rasterio.open(href)
                else:
                    src = opened.get(href) or opened.setdefault(href, rasterio.open(href))
                rows, cols = source_pixels(src, job.grid)
                window = covering_window(src, rows, cols)
                pixels += src.read(window=window).size if window is not None else 0
                if naive:
                    src.close()
    finally:
        for src in opened.values():
            src.close()
    return pixels


def raw_tasks(matches: MatchResult, labels: Path) -> tuple[list[tuple[str, list[ChipJob]]], int]:
    """The tiler's tasks for ``matches`` (what raw reads read) and the footprints planned."""
    shapes = {s: chip_shape(matches.best, s) for s in DEFAULT_SENSORS}
    jobs, _, planned = plan_jobs(matches.best, matches.scenes, DEFAULT_SENSORS, shapes, labels)
    return list(group_tasks(jobs, DEFAULT_CHUNK)), len(planned)


def cut_store(
    matches: MatchResult, out: str, labels: Path, workers: int, progress: bool
) -> TilingReport:
    """The tiler as the bench runs it: the course's store, SCL cloud check included."""
    return tile(
        matches,
        out,
        labels_dir=labels,
        workers=workers,
        max_cloud_percent=CHIP_MAX_CLOUD_PERCENT,
        progress=progress,
    )


def timed_reads(tasks: list[tuple[str, list[ChipJob]]], workers: int, naive: bool) -> float:
    """Seconds to read every task's windows in ``workers`` processes (see :func:`_read_windows`)."""
    started = time.perf_counter()
    work = [(sensor, jobs, naive) for sensor, jobs in tasks]
    if workers <= 1:
        for task in work:
            _read_windows(task)
    else:
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(_read_windows, work))
    return time.perf_counter() - started


def bench_tiling(
    world_dir: str | os.PathLike[str],
    workers: int = 2,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    repeats: int = 3,
) -> dict[str, Any]:
    """Tile a sample world's matches and time plain reads of the same windows (see above)."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    from eotdl_tutorials.world import open_world

    world = open_world(world_dir)
    matches = match(
        world.earthview_index, world.items_parquet, time_buffer_days=BENCH_TIME_BUFFER_DAYS
    )
    labels = world.root / "labels"
    tasks, planned = raw_tasks(matches, labels)
    planned_chips = sum(len(jobs) for _, jobs in tasks)
    timed_reads(tasks, workers, naive=False)  # warm-up: the page cache holds the files
    raw_runs, tiler_runs = [], []
    for _ in range(repeats):
        raw_runs.append(timed_reads(tasks, workers, naive=False))
        with tempfile.TemporaryDirectory(dir=out) as folder:
            started = time.perf_counter()
            report = cut_store(matches, folder, labels, workers, progress)
            tiler_runs.append(time.perf_counter() - started)
    naive_seconds = timed_reads(tasks, workers, naive=True)
    raw_seconds, seconds = min(raw_runs), min(tiler_runs)
    chips = int((report.chips["status"] == "written").sum())
    return {
        "world": str(world.root),
        "footprints": len(matches.best),
        "packed_footprints": report.summary["packed"],
        "planned_chips": planned_chips,
        "chips": chips,
        "workers": workers,
        "repeats": repeats,
        "max_cloud_percent": CHIP_MAX_CLOUD_PERCENT,
        "seconds": round(seconds, 3),
        "seconds_runs": [round(r, 3) for r in tiler_runs],
        "chips_per_s": round(chips / seconds, 1),
        "raw_read_seconds": round(raw_seconds, 3),
        "raw_read_seconds_runs": [round(r, 3) for r in raw_runs],
        "raw_chips_per_s": round(planned_chips / raw_seconds, 1),
        "naive_read_seconds": round(naive_seconds, 3),
        # the tiler reads every planned chip too (some are then skipped): same work, so the
        # throughput ratio is the ratio of times
        "ratio_to_raw": round(raw_seconds / seconds, 3),
        "ratio_to_naive": round(naive_seconds / seconds, 3),
        "skipped": report.summary["skipped_reasons"],
        "footprints_planned": planned,
    }


def format_report(result: dict[str, Any]) -> str:
    """The benchmark as a readable table."""
    rows = [
        ("footprints (packed)", f"{result['footprints']:,} ({result['packed_footprints']:,})"),
        ("workers", str(result["workers"])),
        ("tiler: chips written", f"{result['chips']:,}"),
        ("  seconds", f"{result['seconds']:.2f}"),
        ("  chips/s", f"{result['chips_per_s']:,.1f}"),
        ("raw windowed reads (files open)", f"{result['planned_chips']:,} chips"),
        ("  seconds", f"{result['raw_read_seconds']:.2f}"),
        ("  chips/s", f"{result['raw_chips_per_s']:,.1f}"),
        ("naive reads (open per window) s", f"{result['naive_read_seconds']:.2f}"),
        (
            f"tiler / raw throughput (best of {result['repeats']})",
            f"{result['ratio_to_raw']:.0%}",
        ),
        ("tiler / naive throughput", f"{result['ratio_to_naive']:.0%}"),
        ("skipped", ", ".join(f"{k}: {v}" for k, v in result["skipped"].items()) or "none"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
