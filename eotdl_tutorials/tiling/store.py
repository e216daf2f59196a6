"""Build the multi-sensor chip store from matches (the chip-store contract of the course).

:func:`tile` plans one chip per footprint and sensor (``hr``: the 1 m tile; ``s2``/``s1``: the
footprint's window in its best-matching scene), cuts them in parallel processes grouped by
source scene (:mod:`~eotdl_tutorials.tiling.chips`), and packs the footprints whose chips all
succeeded into ``{sensor}.npy`` + ``index.parquet`` + ``meta.json``. It returns a
:class:`TilingReport` saying what was written, reused or skipped, and why.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.lib.format import open_memmap
from tqdm.auto import tqdm

from eotdl_tutorials import __version__
from eotdl_tutorials.facts.classes import CLASSES, SCENE_CLASSES
from eotdl_tutorials.facts.grids import zone_name
from eotdl_tutorials.facts.sensors import S2_L2A_DN_OFFSET, S2_L2A_OFFSET, S2_L2A_SCALE
from eotdl_tutorials.files import atomic_path, check_writable, write_json
from eotdl_tutorials.matching import MatchResult, read_matches
from eotdl_tutorials.matching.rasters import ChipGrid
from eotdl_tutorials.tiling.catalog import Geos, publish_chip_store
from eotdl_tutorials.tiling.chips import (
    REUSED,
    SKIPPED,
    WRITTEN,
    ChipJob,
    Outcome,
    SourceError,
    TaskOptions,
    hr_href_from_metadata,
    run_task,
)
from eotdl_tutorials.tiling.specs import SENSORS

if TYPE_CHECKING:
    from distributed import Client

STORE_FORMAT = "eotdl-tutorials-chips"
STORE_FORMAT_VERSION = 2
DEFAULT_SENSORS = ("hr", "s2", "s1")
#: Chips per task: small enough to spread a scene over workers, large enough to amortise.
DEFAULT_CHUNK = 64
#: Shares of footprints in each split, filled block by block (see :func:`assign_splits`). The
#: test share gives the ``default`` store over 200 labelled test chips (one chip under half a
#: point of accuracy).
SPLITS = (("train", 0.63), ("val", 0.1), ("test", 0.27))
#: Sentinel-2 chips with more cloud or cloud shadow (SCL) in their window are dropped from the
#: course's stores (``tile(max_cloud_percent=...)``): EOTDL's 5 % scene limit, applied where the
#: chip is.
CHIP_MAX_CLOUD_PERCENT = 5.0
#: Side of the spatial blocks that are kept whole in one split (metres): at least twice the
#: about 1 km over which the world's land cover is correlated.
SPLIT_BLOCK_M = 2000.0


@dataclass
class TilingReport:
    """Per chip: ``id``, ``sensor``, ``item``, ``status`` (written/reused/skipped), ``reason``;
    ``summary``: counts, the packed chips and the time it took."""

    chips: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def reasons(self) -> pd.Series:
        """How many chips were skipped for each kind of reason (the text before its colon:
        no match, nodata, cloudy, missing asset, missing asset file, unreadable asset file,
        missing tile metadata, chip size)."""
        skipped = self.chips[self.chips["status"] == SKIPPED]
        return skipped["reason"].str.split(":").str[0].value_counts()


def place_keys(footprints: pd.DataFrame) -> pd.Series:
    """What decides a footprint's split: the spatial block of ``SPLIT_BLOCK_M`` it lies in
    (``zone/column_row`` from EarthView's ``region``, the tile's UTM easting_northing), so
    neighbouring places, whose land cover is correlated over about a kilometre, never straddle
    train and test; ``zone/region`` when the region is not a position; the ``id`` when the place
    is not known."""
    if not {"zone", "region"} <= set(footprints.columns):
        return footprints["id"].astype(str)
    zone, region = footprints["zone"].astype(str), footprints["region"].astype(str)
    parts = region.str.extract(r"^(-?\d+(?:\.\d+)?)_(-?\d+(?:\.\d+)?)$").astype(float)
    column = np.floor(parts[0] / SPLIT_BLOCK_M).astype("Int64").astype(str)
    row = np.floor(parts[1] / SPLIT_BLOCK_M).astype("Int64").astype(str)
    return pd.Series(
        np.where(parts[0].notna(), zone + "/" + column + "_" + row, zone + "/" + region),
        index=footprints.index,
    )


def _hash_unit(key: str) -> float:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def split_of(place_key: str) -> str:
    """train/val/test of one place by a hash of its key alone (stable across runs)."""
    u, edge = _hash_unit(place_key), 0.0
    for name, share in SPLITS:
        edge += share
        if u < edge:
            return name
    return SPLITS[-1][0]


def assign_splits(keys: pd.Series) -> list[str]:
    """train/val/test of each footprint from its block key: blocks taken in the order of a hash
    of their key fill the splits to their shares of footprints (``SPLITS``), so even a store of
    a few blocks gets a test split, and a block is never cut."""
    sizes = keys.value_counts()
    order = sorted(sizes.index, key=_hash_unit)
    start, total, split = 0, len(keys), {}
    for key in order:
        edge, name = 0.0, SPLITS[-1][0]
        for candidate, share in SPLITS:
            edge += share
            if start / total < edge - 1e-9:
                name = candidate
                break
        split[key] = name
        start += int(sizes[key])
    return [split[k] for k in keys]


def presence_column(class_name: str) -> str:
    """The index column saying whether ``class_name`` appears in the footprint."""
    return f"presence_{class_name}"


def _grid(row: Any, gsd: float, width: int, height: int) -> ChipGrid:
    """The grid of ``width`` x ``height`` pixels of ``gsd`` m centred on the footprint's window."""
    half_w, half_h = width * gsd / 2, height * gsd / 2
    cx, cy = float(row.window_cx), float(row.window_cy)
    return ChipGrid(
        int(row.grid_epsg), (cx - half_w, cy - half_h, cx + half_w, cy + half_h), width, height
    )


def _sizes(best: gpd.GeoDataFrame, sensor: str) -> tuple[np.ndarray, np.ndarray]:
    """Chip width and height (pixels) of every footprint for ``sensor``."""
    if sensor == "hr":
        gsd = SENSORS["hr"].gsd
        return (
            np.round(best["footprint_width_m"] / gsd).astype(int).to_numpy(),
            np.round(best["footprint_height_m"] / gsd).astype(int).to_numpy(),
        )
    return best["window_width_px"].to_numpy(int), best["window_height_px"].to_numpy(int)


def chip_shape(best: gpd.GeoDataFrame, sensor: str) -> tuple[int, int]:
    """The most common (height, width): the packed array's chip size."""
    widths, heights = _sizes(best, sensor)
    pairs, counts = np.unique(np.column_stack([heights, widths]), axis=0, return_counts=True)
    height, width = pairs[np.argmax(counts)]
    return int(height), int(width)


def _scene_lookup(scenes: gpd.GeoDataFrame) -> dict[str, tuple[dict, float]]:
    """Item id -> (assets, L2A reflectance offset or NaN)."""
    offsets = scenes.get("reflectance_offset", pd.Series(np.nan, index=scenes.index))
    return dict(
        zip(scenes["id"], zip(scenes["assets"], offsets.astype(float), strict=True), strict=True)
    )


def _dn_shift(offset: float) -> int:
    """DNs to add so an S2 scene's values follow the store's encoding (offset -0.1)."""
    return 0 if np.isnan(offset) else round((offset - S2_L2A_OFFSET) / S2_L2A_SCALE)


def _hr_source(row: Any) -> tuple[str, tuple[str, ...], dict]:
    """The 1 m tile of a footprint: its own file (``hr_href`` or the EarthView metadata)."""
    href = getattr(row, "hr_href", None)
    metadata = getattr(row, "hr_metadata", None)
    if not isinstance(href, str) and isinstance(metadata, str):
        href = hr_href_from_metadata(metadata)
    if not isinstance(href, str):
        raise SourceError("no match: no 1 m image for this footprint")
    return row.id, (href,), {}


def _scene_source(
    row: Any, sensor: str, lookup: dict[str, tuple[dict, float]]
) -> tuple[str, tuple[str, ...], dict]:
    """The best-matching scene of a footprint: its band files in the spec's order."""
    item = getattr(row, f"{sensor}_item")
    if pd.isna(item):
        raise SourceError(f"no match: no {sensor} scene for this footprint")
    assets, offset = lookup[item]
    missing = [band for band in SENSORS[sensor].bands if band not in assets]
    if missing:
        raise SourceError(f"missing asset: item {item} has no {', '.join(missing)}")
    extra = {}
    if sensor == "s2":
        extra = {
            "dn_shift": _dn_shift(offset),
            "scl_href": assets.get("scl"),
        }
    return item, tuple(assets[band] for band in SENSORS[sensor].bands), extra


def plan_jobs(
    best: gpd.GeoDataFrame,
    scenes: gpd.GeoDataFrame,
    sensors: Sequence[str],
    shapes: dict[str, tuple[int, int]],
    labels_dir: str | os.PathLike[str] | None,
) -> tuple[dict[str, list[ChipJob]], list[Outcome], np.ndarray]:
    """The chip jobs per sensor, the chips skipped before reading, and the planned footprints.

    A footprint is planned when every sensor has a source for it; staging row ``k`` is the
    ``k``-th planned footprint.
    """
    lookup = _scene_lookup(scenes)
    rows = list(best.itertuples())
    sources: list[dict[str, tuple[str, tuple[str, ...], dict]]] = [{} for _ in rows]
    skipped: list[Outcome] = []
    for sensor in sensors:
        widths, heights = _sizes(best, sensor)
        for i, row in enumerate(rows):
            try:
                source = _hr_source(row) if sensor == "hr" else _scene_source(row, sensor, lookup)
                if (heights[i], widths[i]) != shapes[sensor]:
                    raise SourceError(
                        f"chip size: {heights[i]}x{widths[i]} px, not {shapes[sensor]}"
                    )
                sources[i][sensor] = source
            except SourceError as err:
                item = row.id if sensor == "hr" else getattr(row, f"{sensor}_item")
                item = "" if pd.isna(item) else str(item)
                skipped.append(Outcome(-1, row.id, sensor, item, SKIPPED, str(err)))
    planned = np.array([i for i, found in enumerate(sources) if len(found) == len(sensors)], int)
    jobs: dict[str, list[ChipJob]] = {s: [] for s in sensors}
    for staging_row, i in enumerate(planned):
        row = rows[i]
        for sensor in sensors:
            item, hrefs, extra = sources[i][sensor]
            height, width = shapes[sensor]
            grid = _grid(row, SENSORS[sensor].gsd, width, height)
            if sensor == "hr" and labels_dir is not None:
                extra = {"label_href": str(Path(labels_dir) / "landcover" / f"{row.id}.tif")}
            jobs[sensor].append(ChipJob(staging_row, row.id, item, hrefs, grid, **extra))
    return jobs, skipped, planned


def group_tasks(jobs: dict[str, list[ChipJob]], chunk: int) -> Iterator[tuple[str, list[ChipJob]]]:
    """Jobs grouped by source files (a scene), cut into chunks of at most ``chunk`` jobs."""
    for sensor, sensor_jobs in jobs.items():
        ordered = sorted(sensor_jobs, key=lambda j: (j.hrefs, j.row))
        group: list[ChipJob] = []
        for job in ordered:
            # a 1 m tile is its own file: batch many; a scene: a task per scene chunk
            if group and (len(group) >= chunk or (sensor != "hr" and job.hrefs != group[0].hrefs)):
                yield sensor, group
                group = []
            group.append(job)
        if group:
            yield sensor, group


def _run_all(
    tasks: list[tuple[str, list[ChipJob]]],
    options: TaskOptions,
    workers: int,
    progress: bool,
    client: Client | None = None,
) -> list[Outcome]:
    total = sum(len(jobs) for _, jobs in tasks)
    bar = tqdm(total=total, desc="chips", unit="chip", disable=not progress)
    outcomes: list[Outcome] = []
    try:
        if client is not None:
            from distributed import as_completed as completed_on_cluster

            futures = [client.submit(run_task, s, j, options, pure=False) for s, j in tasks]
            sizes = {f.key: len(jobs) for f, (_, jobs) in zip(futures, tasks, strict=True)}
            for future in completed_on_cluster(futures):
                outcomes += future.result()
                bar.update(sizes[future.key])
        elif workers <= 1:
            for sensor, jobs in tasks:
                outcomes += run_task(sensor, jobs, options)
                bar.update(len(jobs))
        else:
            with ProcessPoolExecutor(workers) as pool:
                futures = {pool.submit(run_task, s, j, options): len(j) for s, j in tasks}
                for future in as_completed(futures):
                    outcomes += future.result()
                    bar.update(futures[future])
    finally:
        bar.close()
    return outcomes


def _index(
    best: gpd.GeoDataFrame,
    rows: np.ndarray,
    sensors: Sequence[str],
    labels: dict[int, tuple[int, list[bool] | None]],
    staging_rows: np.ndarray,
    clouds: dict[int, float | None] | None = None,
) -> gpd.GeoDataFrame:
    """The contract's ``index.parquet`` for footprints ``rows`` of ``best``; with Sentinel-2,
    ``s2_cloud_percent``: each chip's SCL cloud and cloud shadow (``clouds``, by staging row;
    NaN where its cloud was not checked)."""
    chosen = best.iloc[rows].reset_index(drop=True)
    index = gpd.GeoDataFrame(
        {"id": chosen["id"].astype(str), "datetime": chosen["datetime"]},
        geometry=chosen.geometry.to_numpy(),
        crs=best.crs,
    ).to_crs(4326)
    zone_of = zone_name(chosen["grid_epsg"].to_numpy())
    left = (chosen["window_cx"] - chosen["footprint_width_m"] / 2).round().astype(int)
    bottom = (chosen["window_cy"] - chosen["footprint_height_m"] / 2).round().astype(int)
    index["zone"] = chosen["zone"] if "zone" in chosen else zone_of
    index["region"] = (
        chosen["region"] if "region" in chosen else left.astype(str) + "_" + bottom.astype(str)
    )
    for sensor in sensors:
        if sensor == "hr":
            index["hr_item"], index["hr_datetime"] = index["id"], index["datetime"]
        else:
            index[f"{sensor}_item"] = chosen[f"{sensor}_item"].astype(str)
            index[f"{sensor}_datetime"] = chosen[f"{sensor}_datetime"]
            index[f"{sensor}_dt_days"] = chosen[f"{sensor}_dt_days"]
        if sensor == "s2":
            cloud = [(clouds or {}).get(int(r)) for r in staging_rows]
            index["s2_cloud_percent"] = np.array(
                [np.nan if c is None else c for c in cloud], dtype="float64"
            )
    index["label"] = [labels.get(int(r), (-1, None))[0] for r in staging_rows]
    for k, name in enumerate(CLASSES):
        index[presence_column(name)] = pd.array(
            [
                None if (p := labels.get(int(r), (-1, None))[1]) is None else p[k]
                for r in staging_rows
            ],
            dtype="boolean",
        )
    index["split"] = assign_splits(place_keys(index))
    return index


#: Errors of ``copy_file_range`` where the file system cannot copy in the kernel.
NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL)


def _copy_range(source: int, target: int, size: int, start: int, to: int) -> None:
    """Copy ``size`` bytes from offset ``start`` of file ``source`` to offset ``to`` of
    ``target``: in the kernel (``copy_file_range``: no pages mapped nor copied through this
    process), else read and written in pieces."""
    while size:
        try:
            done = os.copy_file_range(source, target, size, start, to)
        except OSError as err:
            if err.errno not in NO_KERNEL_COPY:
                raise
            done = os.pwrite(target, os.pread(source, min(size, 1 << 26), start), to)
        if done <= 0:
            raise OSError(f"copying a packed array stopped {size} bytes short")
        size, start, to = size - done, start + done, to + done


def _pack(staging: str, final: Path, rows: np.ndarray) -> None:
    """The staging rows ``rows`` as the packed array ``final``: a rename when that is all, else
    each run of consecutive rows copied at once (:func:`_copy_range`)."""
    source = np.load(staging, mmap_mode="r")
    shape, dtype, offset = source.shape, source.dtype, source.offset
    del source
    if len(rows) == shape[0] and (rows == np.arange(len(rows))).all():
        os.replace(staging, final)
        return
    row_bytes = int(np.prod(shape[1:])) * dtype.itemsize
    runs = np.split(np.arange(len(rows)), np.flatnonzero(np.diff(rows) != 1) + 1)
    with atomic_path(final) as tmp:
        out = open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(rows), *shape[1:]))
        out_offset = out.offset
        del out
        with open(staging, "rb") as src, open(tmp, "r+b") as dst:
            for run in runs:
                if len(run):
                    start = offset + int(rows[run[0]]) * row_bytes
                    to = out_offset + int(run[0]) * row_bytes
                    _copy_range(src.fileno(), dst.fileno(), len(run) * row_bytes, start, to)


def tile(
    matches: MatchResult | str | os.PathLike[str],
    out: str | os.PathLike[str],
    sensors: Sequence[str] = DEFAULT_SENSORS,
    labels_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    max_nodata_percent: float = 0.0,
    max_cloud_percent: float | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    client: Client | None = None,
) -> TilingReport:
    """Cut and pack the chips of every matched footprint into the chip store ``out``.

    ``matches``: a :class:`~eotdl_tutorials.matching.MatchResult` or its folder. ``labels_dir``:
    a sample world's ``labels/`` folder (label masks ``landcover/{id}.tif``), or None.
    ``workers``: processes (1: in this process). ``client``: a ``distributed.Client`` whose
    workers cut the chips instead (a ``LocalCluster``, or a cluster's scheduler address; the
    workers must see ``out`` and the imagery at the same paths or URLs). Chips with more than
    ``max_nodata_percent`` no-data pixels, or (S2, when set) more than ``max_cloud_percent`` SCL
    cloud, are skipped.
    Chips already in ``out/chips`` for the same item are reused, not read again.
    """
    started = time.perf_counter()
    result = matches if isinstance(matches, MatchResult) else read_matches(matches)
    unknown = [s for s in sensors if s not in SENSORS]
    if unknown or not sensors:
        raise ValueError(f"unknown sensors {unknown or sensors}: use some of {', '.join(SENSORS)}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    best = result.best
    if len(best) == 0:
        raise ValueError("no footprints in the matches: nothing to tile")
    out = check_writable(out)
    shapes = {s: chip_shape(best, s) for s in sensors}
    jobs, skipped, planned = plan_jobs(best, result.scenes, sensors, shapes, labels_dir)
    staging_dir = out / ".staging"
    staging_dir.mkdir(exist_ok=True)
    staging = {}
    for sensor in sensors:
        spec = SENSORS[sensor]
        path = staging_dir / f"{sensor}.npy"
        open_memmap(
            path,
            mode="w+",
            dtype=spec.dtype,
            shape=(max(len(planned), 1), len(spec.bands), *shapes[sensor]),
        )
        staging[sensor] = str(path)
    options = TaskOptions(str(out), staging, max_nodata_percent, max_cloud_percent)
    outcomes = _run_all(list(group_tasks(jobs, chunk)), options, workers, progress, client)
    good = np.zeros(len(planned), dtype=bool)
    per_row: dict[int, int] = {}
    labels: dict[int, tuple[int, list[bool] | None]] = {}
    geos: Geos = {}
    clouds: dict[int, float | None] = {}
    for o in outcomes:
        if o.status in (WRITTEN, REUSED):
            per_row[o.row] = per_row.get(o.row, 0) + 1
        if o.geo is not None:
            geos[o.sensor, o.id] = o.geo
        if o.sensor == "hr" and o.status != SKIPPED:
            labels[o.row] = (o.label, o.presence)
        if o.sensor == "s2" and o.status != SKIPPED:
            clouds[o.row] = o.cloud
    for row, count in per_row.items():
        good[row] = count == len(sensors)
    staging_rows = np.flatnonzero(good)
    (out / "meta.json").unlink(missing_ok=True)  # the store is incomplete until meta.json
    # The packed arrays are copied in the kernel (the GIL released) by threads while this one
    # writes the index, the report and the catalog: the tiler's serial tail, overlapped.
    with ThreadPoolExecutor(len(sensors)) as copies:
        packing = [
            copies.submit(_pack, staging[s], out / f"{s}.npy", staging_rows) for s in sensors
        ]
        index = _index(best, planned[staging_rows], sensors, labels, staging_rows, clouds)
        with atomic_path(out / "index.parquet") as tmp:
            index.to_parquet(tmp)
        report = pd.DataFrame(
            [(o.id, o.sensor, o.item, o.status, o.reason) for o in skipped + outcomes],
            columns=["id", "sensor", "item", "status", "reason"],
        )
        with atomic_path(out / "report.parquet") as tmp:
            report.to_parquet(tmp, index=False)
        counts = report.groupby(["sensor", "status"]).size()
        summary = {
            "footprints": len(best),
            "packed": int(len(staging_rows)),
            "chips": {f"{s}/{st}": int(n) for (s, st), n in counts.items()},
            "skipped_reasons": {},
            "seconds": round(time.perf_counter() - started, 3),
            "workers": workers,
        }
        tiling_report = TilingReport(report, summary)
        summary["skipped_reasons"] = {k: int(v) for k, v in tiling_report.reasons().items()}
        meta = {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "count": int(len(staging_rows)),
            "sensors": {s: SENSORS[s].meta(*shapes[s]) for s in sensors},
            "classes": list(SCENE_CLASSES),
            "pixel_classes": list(CLASSES),
            "source": {
                "matches": result.summary,
                "labels_dir": str(labels_dir) if labels_dir else None,
                "s2_dn_offset": S2_L2A_DN_OFFSET,
                "eotdl_tutorials": __version__,
                "report": summary,
            },
        }
        if len(staging_rows):
            publish_chip_store(out, meta, geos, index)  # README.md and catalog.json: EOTDL-ready
        for copy in packing:
            copy.result()
    shutil.rmtree(staging_dir, ignore_errors=True)
    write_json(out / "meta.json", meta)
    return tiling_report
