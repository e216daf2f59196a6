"""Cut chips: the worker side of the tiler.

A task is a list of chip jobs of one sensor that share source files (one Sentinel scene, or a
batch of 1 m tiles). The worker opens each source file once (a scene's SCL file too, for the
cloud check), reads every job's window with :func:`~eotdl_tutorials.matching.rasters.read_chip`,
checks it (no-data, cloud), writes the chip as a GeoTIFF under a temporary name then renames it,
and copies it into the row of the staging array that becomes the packed ``{sensor}.npy``. A chip
already on disk for the same item is reused instead of read again, so an interrupted run resumes.
A Sentinel-2 chip whose cloud was checked carries its SCL cloud figure in its GeoTIFF tags
(:data:`CLOUD_TAG`), so a reused chip keeps it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from eotdl_tutorials.facts.classes import CLASSES, scene_label
from eotdl_tutorials.facts.sensors import SCL_CLOUD, SCL_CLOUD_SHADOW, scl_cloud_percent
from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.matching.rasters import ChipGrid, read_chip, source_pixels
from eotdl_tutorials.tiling.geotiff import write_geotiff
from eotdl_tutorials.tiling.specs import SENSORS, SensorSpec

#: Statuses of a chip in the report.
WRITTEN, REUSED, SKIPPED = "written", "reused", "skipped"
#: GeoTIFF tag of a Sentinel-2 chip: its percentage of SCL cloud and cloud shadow.
CLOUD_TAG = "scl_cloud_percent"


class SourceError(Exception):
    """A source file that is missing or cannot be read (e.g. truncated)."""


@dataclass(frozen=True)
class ChipJob:
    """One chip to cut: staging ``row``, footprint ``id``, source ``item`` and files, grid."""

    row: int
    id: str
    item: str
    hrefs: tuple[str, ...]
    grid: ChipGrid
    dn_shift: int = 0
    scl_href: str | None = None
    label_href: str | None = None


@dataclass(frozen=True)
class TaskOptions:
    """What every worker needs to know besides its jobs."""

    out_dir: str
    staging: dict[str, str]
    max_nodata_percent: float = 0.0
    max_cloud_percent: float | None = None


@dataclass(frozen=True)
class ChipGeo:
    """Where a chip file lies: its EPSG code, (height, width) and affine ``transform`` (a-f)."""

    epsg: int
    shape: tuple[int, int]
    transform: tuple[float, ...]


def geo_of(src: rasterio.DatasetReader) -> ChipGeo:
    """The :class:`ChipGeo` of an open raster."""
    return ChipGeo(src.crs.to_epsg(), (src.height, src.width), tuple(src.transform)[:6])


@dataclass
class Outcome:
    """What happened to one chip (``label``/``presence`` for 1 m chips with a label mask;
    ``geo`` for a chip written or reused; ``cloud``: the percentage of SCL cloud and cloud
    shadow of a Sentinel-2 chip whose cloud was checked, else None)."""

    row: int
    id: str
    sensor: str
    item: str
    status: str
    reason: str = ""
    label: int = -1
    presence: list[bool] | None = field(default=None)
    geo: ChipGeo | None = None
    cloud: float | None = None


def chip_path(out_dir: str | os.PathLike[str], sensor: str, footprint_id: str) -> Path:
    """Where the GeoTIFF chip of a footprint and sensor lies."""
    return Path(out_dir) / "chips" / sensor / f"{footprint_id.replace(os.sep, '_')}.tif"


def hr_href_from_metadata(metadata: str) -> str:
    """The ``analytic`` asset of an EarthView tile's metadata JSON (relative to the JSON)."""
    try:
        item = json.loads(Path(metadata).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise SourceError(f"missing tile metadata: {metadata} ({err})") from None
    href = ((item.get("assets") or {}).get("analytic") or {}).get("href")
    if href is None:
        raise SourceError(f"missing asset: tile metadata {metadata} has no analytic asset")
    return href if "://" in href or os.path.isabs(href) else str(Path(metadata).parent / href)


def _open(href: str) -> rasterio.DatasetReader:
    try:
        return rasterio.open(href)
    except RasterioError as err:
        if "://" not in href and not Path(href).exists():
            raise SourceError(f"missing asset file: {href}") from None
        raise SourceError(f"unreadable asset file: {href} ({err})") from None


def _read(sources: list[rasterio.DatasetReader], grid: ChipGrid, spec: SensorSpec) -> np.ndarray:
    """The chip of ``grid`` from one multi-band file or one file per band, in the spec's dtype."""
    try:
        if len(sources) == 1:
            data = read_chip(sources[0], grid, list(range(1, len(spec.bands) + 1)))
        else:  # bands of one scene: those on the same pixel grid share the pixel lookup
            pixels: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
            bands = []
            for src in sources:
                key = (src.transform, src.width, src.height)  # one scene: one CRS
                if key not in pixels:
                    pixels[key] = source_pixels(src, grid)
                bands.append(read_chip(src, grid, [1], pixels=pixels[key]))
            data = np.concatenate(bands)
    except RasterioError as err:
        raise SourceError(f"unreadable asset file: {err} (is it truncated?)") from None
    return data


def _nodata_mask(data: np.ndarray, spec: SensorSpec) -> np.ndarray:
    """Pixels where any band is no-data (0, or non-positive/NaN linear sigma0 for SAR)."""
    if spec.name == "s1":
        return ~(data > 0).all(axis=0)
    return (data == 0).any(axis=0)


def _to_store(data: np.ndarray, spec: SensorSpec, dn_shift: int) -> np.ndarray:
    """Source values to the store's encoding (S1: linear to dB; S2: DN offset to +1000)."""
    if spec.name == "s1":
        return (10.0 * np.log10(data.astype("float64"))).astype("float32")
    if dn_shift:
        shifted = data.astype("int64") + dn_shift
        return np.where(data == 0, 0, np.clip(shifted, 1, 65535)).astype(spec.dtype)
    return data.astype(spec.dtype)


def _cloud_percent(src: rasterio.DatasetReader, grid: ChipGrid) -> float:
    """Percentage of cloud and cloud shadow in the SCL file ``src`` on ``grid``."""
    scl = read_chip(src, grid, [1])[0]
    return scl_cloud_percent(scl, empty=100.0, codes=(*SCL_CLOUD, SCL_CLOUD_SHADOW))


def label_of(mask: np.ndarray) -> tuple[int, list[bool]]:
    """The chip's EuroSAT scene class (``facts.classes.scene_label`` of its land-cover pixels)
    and the presence of each land-cover class; -1 when no pixel is labelled."""
    counts = np.bincount(mask.ravel(), minlength=256)[: len(CLASSES)]
    label = scene_label(counts) if counts.sum() else -1
    return label, (counts > 0).tolist()


def _label(job: ChipJob) -> tuple[int, list[bool] | None]:
    if job.label_href is None or not Path(job.label_href).exists():
        return -1, None
    with rasterio.open(job.label_href) as src:
        return label_of(read_chip(src, job.grid, [1], fill=255)[0])


def _reusable(
    path: Path, job: ChipJob, spec: SensorSpec
) -> tuple[np.ndarray, ChipGeo, float | None] | tuple[None, None, None]:
    """The chip already on disk, its geo and its cloud tag (None if it has none), if it is
    complete and cut from the same item (a copied 1 m tile carries no item tag: its file name
    says which it is)."""
    if not path.exists():
        return None, None, None
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
            same = (
                tags.get("item", job.item) == job.item
                and (src.count, src.height, src.width)
                == (len(spec.bands), job.grid.height, job.grid.width)
                and src.dtypes[0] == spec.dtype
            )
            if not same:
                return None, None, None
            cloud = float(tags[CLOUD_TAG]) if CLOUD_TAG in tags else None
            return src.read(), geo_of(src), cloud
    except (RasterioError, ValueError):
        return None, None, None  # a damaged chip is cut again


def _is_the_source(src: rasterio.DatasetReader, job: ChipJob, spec: SensorSpec) -> bool:
    """Whether a local source file already is the chip: the chip's pixels are the file's
    pixels, in order, with the same bands and encoding (a 1 m tile cut on its own footprint)."""
    if spec.name == "s1" or job.dn_shift or not Path(src.name).is_file():
        return False
    if (src.count, src.dtypes[0]) != (len(spec.bands), spec.dtype):
        return False
    rows, cols = source_pixels(src, job.grid)
    return (
        rows.ndim == 1
        and np.array_equal(rows, np.arange(src.height))
        and np.array_equal(cols, np.arange(src.width))
    )


def _write_chip(
    path: Path,
    chip: np.ndarray,
    job: ChipJob,
    spec: SensorSpec,
    sources: list,
    cloud: float | None = None,
) -> ChipGeo:
    """Write the chip as a GeoTIFF and return its geo; when the source file is the chip
    already, link to it (a second name for the same bytes: chips are replaced, never edited in
    place), or copy it where a link cannot be made (another file system)."""
    with atomic_path(path) as tmp:
        if len(sources) == 1 and _is_the_source(sources[0], job, spec):
            try:
                os.link(sources[0].name, tmp)
            except OSError:
                shutil.copyfile(sources[0].name, tmp)
            return geo_of(sources[0])
        write_geotiff(
            tmp,
            chip,
            job.grid.transform,
            job.grid.epsg,
            spec.nodata,
            tags={"item": job.item, "footprint": job.id}
            | ({} if cloud is None else {CLOUD_TAG: repr(float(cloud))}),
            descriptions=list(spec.bands),
        )
    grid = job.grid
    return ChipGeo(grid.epsg, (grid.height, grid.width), tuple(grid.transform)[:6])


def _cut(
    job: ChipJob, files: _OpenFiles, spec: SensorSpec, options: TaskOptions
) -> tuple[np.ndarray | None, str, float | None]:
    """The chip of ``job`` in store encoding (or None and why it is skipped) and its SCL cloud
    percentage (None when its cloud is not checked)."""
    data = _read(files.get(job.hrefs), job.grid, spec)
    nodata = 100.0 * float(_nodata_mask(data, spec).mean())
    if nodata > options.max_nodata_percent:
        return None, f"nodata: {nodata:.1f}% of the chip has no data", None
    cloud = None
    if options.max_cloud_percent is not None and job.scl_href is not None:
        cloud = _cloud_percent(files.extra(job.scl_href), job.grid)
        if cloud > options.max_cloud_percent:
            return None, f"cloudy: {cloud:.1f}% of the chip is cloud or cloud shadow (SCL)", cloud
    return _to_store(data, spec, job.dn_shift), "", cloud


class _OpenFiles:
    """The source files of the current job, and the extra files its checks read (a scene's
    SCL), kept open while the next jobs share them."""

    def __init__(self) -> None:
        self.hrefs: tuple[str, ...] = ()
        self.sources: list[rasterio.DatasetReader] = []
        self.error: SourceError | None = None
        self.extras: dict[str, rasterio.DatasetReader] = {}

    def get(self, hrefs: tuple[str, ...]) -> list[rasterio.DatasetReader]:
        if hrefs != self.hrefs:
            self.close()
            self.hrefs = hrefs
            try:
                for href in hrefs:
                    self.sources.append(_open(href))
            except SourceError as err:
                self.error = err
        if self.error is not None:
            raise self.error
        return self.sources

    def extra(self, href: str) -> rasterio.DatasetReader:
        """``href``, opened once while the current sources are."""
        if href not in self.extras:
            self.extras[href] = _open(href)
        return self.extras[href]

    def close(self) -> None:
        for src in [*self.sources, *self.extras.values()]:
            src.close()
        self.hrefs, self.sources, self.error, self.extras = (), [], None, {}


class _StagingRows:
    """The rows of a staging ``.npy`` file, written in place with ``pwrite`` (several workers
    write different rows of one file; a memory map's page faults cost about 3x more)."""

    def __init__(self, path: str) -> None:
        array = np.load(path, mmap_mode="r")
        self.offset, self.shape, self.dtype = array.offset, array.shape[1:], array.dtype
        self.row_bytes = int(np.prod(self.shape)) * self.dtype.itemsize
        del array
        self.fd = os.open(path, os.O_WRONLY)

    def write(self, row: int, chip: np.ndarray) -> None:
        data = np.ascontiguousarray(chip, dtype=self.dtype)
        if data.shape != self.shape:
            raise ValueError(f"a chip of shape {data.shape} in a store of {self.shape} chips")
        view, position = memoryview(data).cast("B"), self.offset + row * self.row_bytes
        while view:
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written

    def close(self) -> None:
        os.close(self.fd)


def run_task(sensor: str, jobs: list[ChipJob], options: TaskOptions) -> list[Outcome]:
    """Cut (or reuse) every chip of ``jobs`` (sorted so that jobs sharing files are adjacent:
    each source file is opened once)."""
    spec = SENSORS[sensor]
    staging = _StagingRows(options.staging[sensor])
    outcomes: list[Outcome] = []
    files = _OpenFiles()
    try:
        for job in jobs:
            outcome = Outcome(job.row, job.id, sensor, job.item, SKIPPED)
            path = chip_path(options.out_dir, sensor, job.id)
            try:
                chip, outcome.geo, outcome.cloud = _reusable(path, job, spec)
                if chip is not None:
                    outcome.status = REUSED
                else:
                    chip, outcome.reason, outcome.cloud = _cut(job, files, spec, options)
                    if chip is not None:
                        outcome.geo = _write_chip(
                            path, chip, job, spec, files.get(job.hrefs), outcome.cloud
                        )
                        outcome.status = WRITTEN
                if chip is not None:
                    staging.write(job.row, chip)
                    if sensor == "hr":
                        outcome.label, outcome.presence = _label(job)
            except SourceError as err:
                outcome.reason = str(err)
            outcomes.append(outcome)
    finally:
        files.close()
        staging.close()
    return outcomes
