"""Use case C on real data (the ``full`` profile): the land-cover set from a SCANEO export.

:func:`build_real_landcover_set` reads the labelled images of a SCANEO export
(:func:`~eotdl_tutorials.labels.read_scaneo_export`, either of SCANEO's layouts) or of a STAC
label catalog (:func:`~eotdl_tutorials.labels.read_label_catalog`), burns their segmentation
labels onto each image's grid, cuts each image into ``tile_size`` px tiles and adds the unlabelled
pool: a folder of GeoTIFFs, the 1 m chips of use case A's ``full`` chip store, or else the
export's own images without labels. The classes are the export's labels (its ``spai.json``
order), the bands those of its images: 3 (red, green, blue, as SCANEO's RGB campaigns) or 4
(red, green, blue, nir, as Satellogic's EarthView), named by the files' band descriptions when
every band has one. Splits are by place (each image's 2 km block, the chip store's rule); the
pool's rows have the split ``unlabelled`` and empty masks. Nothing here reads a sample world.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import CRS, Transformer
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from tqdm.auto import tqdm

from eotdl_tutorials.facts.grids import utm_epsg, zone_name
from eotdl_tutorials.facts.sensors import HR_BAND_NAMES, RGB
from eotdl_tutorials.labels import (
    ScaneoExport,
    ScaneoFormatError,
    rasterize_image,
    read_label_catalog,
    read_scaneo_export,
)
from eotdl_tutorials.models.bands import band_name
from eotdl_tutorials.multitask.dataset import (
    SET_SIZES,
    UNLABELLED,
    LandCoverSet,
    landcover_set_dir,
    save_landcover_set,
)
from eotdl_tutorials.tiling.store import assign_splits, place_keys

#: What C1 needs in the ``full`` profile, in words (the message of every missing-labels error).
REAL_LABELS_HELP = (
    "set -p scaneo_dir FOLDER (a SCANEO export: spai.json and one GeoJSON per image) or "
    "-p label_catalog PATH (a STAC label catalog); see book/real-data.md"
)
#: Band names by band count, for images whose bands carry no usable description.
BANDS_BY_COUNT = {3: RGB, 4: HR_BAND_NAMES}
#: The pool's most tiles by default (a seeded random sample of the candidates).
POOL_SIZE = 2000


def check_real_labels(
    scaneo_dir: str | os.PathLike[str] | None, label_catalog: str | os.PathLike[str] | None
) -> None:
    """Raise a clear FileNotFoundError when neither labels source is given or one is missing,
    before any work."""
    if scaneo_dir is None and label_catalog is None:
        raise FileNotFoundError(
            f"the full profile reads real labels and none were given: {REAL_LABELS_HELP}"
        )
    for name, value in (("scaneo_dir", scaneo_dir), ("label_catalog", label_catalog)):
        if value is not None and not Path(value).exists():
            raise FileNotFoundError(
                f"-p {name} {value}: no such file or folder; {REAL_LABELS_HELP}"
            )


def read_real_labels(
    scaneo_dir: str | os.PathLike[str] | None = None,
    label_catalog: str | os.PathLike[str] | None = None,
) -> ScaneoExport:
    """The labelled images of a SCANEO export (``scaneo_dir``) or a STAC label catalog."""
    check_real_labels(scaneo_dir, label_catalog)
    if scaneo_dir is not None:
        return read_scaneo_export(scaneo_dir)
    return read_label_catalog(label_catalog)


def image_bands(path: str | os.PathLike[str], descriptions: tuple, count: int) -> tuple[str, ...]:
    """The band names of an image: its band descriptions when every band has a known one, else
    by count (3: red, green, blue; 4: red, green, blue, nir)."""
    names = tuple(band_name(d) for d in descriptions)
    if all(names) and set(RGB) <= set(names):
        return names  # type: ignore[return-value]
    if count not in BANDS_BY_COUNT:
        raise ScaneoFormatError(
            f"{path} has {count} bands without red, green, blue descriptions: use case C reads "
            "RGB (3 bands) or RGB + NIR (4 bands, in that order) images"
        )
    return BANDS_BY_COUNT[count]


def default_dn_scale(dtype: str, scales: tuple[float, ...]) -> float:
    """Reflectance per digital number: the file's scale tag, else 1/255 for 8-bit images and
    1e-4 for other integers (Satellogic's and Sentinel-2's L2A convention)."""
    if any(s != 1 for s in scales):
        return float(scales[0])
    if dtype == "uint8":
        return 1 / 255
    return 1e-4


@dataclass(frozen=True)
class _Image:
    path: Path
    bands: tuple[str, ...]
    dtype: str
    dn_scale: float
    height: int
    width: int
    crs: rasterio.crs.CRS
    transform: rasterio.Affine
    datetime: str


def _open_image(path: Path) -> _Image:
    with rasterio.open(path) as src:
        bands = image_bands(path, src.descriptions, src.count)
        stamp = src.tags().get("TIFFTAG_DATETIME")
        if src.crs is None:
            raise ScaneoFormatError(f"{path} has no CRS: SCANEO's images are georeferenced")
        moment = None
        if stamp:
            try:
                moment = dt.datetime.strptime(stamp, "%Y:%m:%d %H:%M:%S").replace(tzinfo=dt.UTC)
            except ValueError:
                moment = None
        if moment is None:  # the file says no date: the day it was written
            moment = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        return _Image(
            path, bands, src.dtypes[0], default_dn_scale(src.dtypes[0], src.scales),
            src.height, src.width, src.crs, src.transform, moment.isoformat(),
        )  # fmt: skip


def _windows(image: _Image, size: int) -> list[tuple[int, int]]:
    """Top-left corners of the ``size`` px tiles that fit in the image (edges dropped)."""
    if image.height < size or image.width < size:
        raise ScaneoFormatError(
            f"{image.path} is {image.height}x{image.width} px, smaller than the tiles of "
            f"{size} px: set -p tile_size to at most {min(image.height, image.width)}"
        )
    return [
        (row, col)
        for row in range(0, image.height - size + 1, size)
        for col in range(0, image.width - size + 1, size)
    ]


@functools.cache
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(epsg), always_xy=True)


def _place(image: _Image, row: int, col: int, size: int) -> tuple[str, str, str]:
    """The tile's zone and region (the UTM position of its image's centre, metres: every tile
    of an image falls in the same split block) and its footprint (WKT, EPSG:4326)."""
    west, south, east, north = transform_bounds(
        image.crs,
        "EPSG:4326",
        *rasterio.transform.array_bounds(image.height, image.width, image.transform),
    )
    lon, lat = (west + east) / 2, (south + north) / 2
    epsg = utm_epsg(lon, lat)
    x, y = _to_utm(epsg).transform(lon, lat)
    bounds = rasterio.windows.bounds(Window(col, row, size, size), image.transform)
    footprint = shapely.box(*transform_bounds(image.crs, "EPSG:4326", *bounds)).wkt
    return zone_name(epsg), f"{x:.0f}_{y:.0f}", footprint


def _to_set_dn(dn: np.ndarray, image: _Image, dn_scale: float) -> np.ndarray:
    """Digital numbers of ``image`` in the set's scale (uint16)."""
    if np.issubdtype(dn.dtype, np.floating):
        values = np.nan_to_num(dn.astype(np.float64)) / dn_scale
    elif np.isclose(image.dn_scale, dn_scale):
        values = dn
    else:
        values = dn.astype(np.float64) * image.dn_scale / dn_scale
    return np.clip(np.round(values), 0, np.iinfo(np.uint16).max).astype(np.uint16)


def _row(image: _Image, tile_id: str, row: int, col: int, size: int, label: str) -> dict:
    zone, region, footprint = _place(image, row, col, size)
    return {
        "id": tile_id, "zone": zone, "region": region, "image": str(image.path), "label": label,
        "datetime": image.datetime, "footprint": footprint, "window_row": row,
        "window_col": col, "window_size": size,
    }  # fmt: skip


def _tile_id(path: Path, row: int, col: int, windows: int) -> str:
    return path.stem if windows == 1 else f"{path.stem}_{row}_{col}"


def _check_bands(image: _Image, bands: tuple[str, ...], source: str) -> None:
    if image.bands != bands:
        raise ScaneoFormatError(
            f"{image.path} has bands {', '.join(image.bands)} but {source} has "
            f"{', '.join(bands)}: every image of the set needs the same bands"
        )


def pool_from_geotiffs(
    paths: list[Path], bands: tuple[str, ...], size: int, dn_scale: float, count: int, source: str
) -> tuple[list[np.ndarray], list[dict]]:
    """Up to ``count`` random tiles (seed 0) of the GeoTIFFs ``paths`` as the unlabelled pool."""
    candidates = []
    for path in paths:
        image = _open_image(path)
        _check_bands(image, bands, source)
        windows = _windows(image, size)
        candidates += [(image, row, col, len(windows)) for row, col in windows]
    if len(candidates) > count:
        picked = np.sort(np.random.default_rng(0).choice(len(candidates), count, replace=False))
        candidates = [candidates[i] for i in picked]
    images, rows = [], []
    for image, row, col, windows in candidates:
        with rasterio.open(image.path) as src:
            dn = src.read(window=Window(col, row, size, size))
        images.append(_to_set_dn(dn, image, dn_scale))
        tile_id = _tile_id(image.path, row, col, windows)
        rows.append(_row(image, tile_id, row, col, size, ""))
    return images, rows


def pool_from_chip_store(
    store: str | os.PathLike[str], bands: tuple[str, ...], size: int, dn_scale: float, count: int
) -> tuple[list[np.ndarray], list[dict]]:
    """Up to ``count`` random 1 m chips (seed 0) of use case A's chip store as the unlabelled
    pool (the store's ``hr`` sensor: its bands must be the set's, its chips at least ``size``
    px; a larger chip gives its centre)."""
    from eotdl_tutorials.data import open_chip_store

    chips = open_chip_store(store)
    info = chips.sensor("hr")
    if tuple(info.bands) != bands:
        raise ScaneoFormatError(
            f"the 1 m chips of {chips.root} have bands {', '.join(info.bands)} but the SCANEO "
            f"export's images have {', '.join(bands)}: pass -p pool_dir FOLDER (GeoTIFFs with "
            "the export's bands) instead"
        )
    height, width = info.shape[1:]
    if min(height, width) < size:
        raise ScaneoFormatError(
            f"the 1 m chips of {chips.root} are {height}x{width} px, smaller than the tiles of "
            f"{size} px: set -p tile_size to at most {min(height, width)}"
        )
    positions = np.arange(chips.count)
    if len(positions) > count:
        positions = np.sort(np.random.default_rng(0).choice(positions, count, replace=False))
    array, index = chips.array("hr"), chips.index
    top, left = (height - size) // 2, (width - size) // 2
    scale = info.scale / dn_scale
    images, rows = [], []
    frame = index.iloc[positions]
    footprints = _store_footprints(chips.root, positions)
    for position, record, footprint in zip(positions, frame.itertuples(), footprints, strict=True):
        dn = np.asarray(array[position, :, top : top + size, left : left + size])
        values = dn if np.isclose(scale, 1) else dn.astype(np.float64) * scale
        images.append(np.clip(np.round(values), 0, 65535).astype(np.uint16))
        rows.append(
            {
                "id": str(record.id), "zone": str(getattr(record, "zone", "")),
                "region": str(getattr(record, "region", "")),
                "image": f"{chips.root}#hr/{position}", "label": "",
                "datetime": str(getattr(record, "datetime", "")), "footprint": footprint,
                "window_row": top, "window_col": left, "window_size": size,
            }
        )  # fmt: skip
    return images, rows


def _store_footprints(root: Path, positions: np.ndarray) -> list[str]:
    import geopandas as gpd

    frame = gpd.read_parquet(root / "index.parquet", columns=["geometry"]).to_crs("EPSG:4326")
    return [geometry.wkt for geometry in frame.geometry.iloc[positions]]


def _full_store() -> Path | None:
    """Use case A's ``full`` chip store when A1 has written one (with 1 m chips)."""
    from eotdl_tutorials.data import chip_store_dir

    store = chip_store_dir("full")
    return store if (store / "meta.json").is_file() else None


def build_real_landcover_set(
    scaneo_dir: str | os.PathLike[str] | None = None,
    label_catalog: str | os.PathLike[str] | None = None,
    pool_dir: str | os.PathLike[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    tile_size: int | None = None,
    pool_size: int = POOL_SIZE,
    dn_scale: float | None = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> LandCoverSet:
    """The ``full`` land-cover set from real labels, saved into ``out`` (default
    :func:`landcover_set_dir` of ``full``, where C2 to C4 find it) and returned.

    Labels: ``scaneo_dir`` (a SCANEO export) or ``label_catalog`` (a STAC label catalog). Pool:
    the GeoTIFFs of ``pool_dir``, else the 1 m chips of ``store`` (default: A1's ``full`` store
    when it exists), else the export's unlabelled images; at most ``pool_size`` tiles.
    ``tile_size``: the tiles' side in pixels of the images (default 384, a Satellogic tile);
    ``dn_scale``: reflectance per digital number (default: the images' scale tag, else 1/255
    for 8-bit images and 1e-4 for other integers)."""
    export = read_real_labels(scaneo_dir, label_catalog)
    if pool_dir is not None and not Path(pool_dir).is_dir():
        raise FileNotFoundError(f"-p pool_dir {pool_dir}: no such folder (a folder of GeoTIFFs)")
    size = int(tile_size or SET_SIZES["full"])
    labelled = [_open_image(export.image_path(image)) for image in sorted(export.annotations)]
    bands = labelled[0].bands
    for image in labelled[1:]:
        _check_bands(image, bands, f"{labelled[0].path}")
    scale = float(dn_scale or labelled[0].dn_scale)
    images, masks, rows = [], [], []
    skipped = 0
    for key, image in tqdm(
        zip(sorted(export.annotations), labelled, strict=True), total=len(labelled),
        desc="labelled images", disable=not progress,
    ):  # fmt: skip
        mask = rasterize_image(export, key)
        with rasterio.open(image.path) as src:
            dn = src.read()
        windows = _windows(image, size)
        for row, col in windows:
            tile_mask = mask[row : row + size, col : col + size]
            if not tile_mask.any():
                skipped += 1  # no segmentation label in this tile: nothing to learn from
                continue
            images.append(_to_set_dn(dn[:, row : row + size, col : col + size], image, scale))
            masks.append(tile_mask)
            tile_id = _tile_id(image.path, row, col, len(windows))
            rows.append(_row(image, tile_id, row, col, size, str(export.label_path(key))))
    if not rows:
        raise ScaneoFormatError(
            f"{export.root} has no segmentation labels (only classification or detection): "
            "use case C trains on per-pixel labels; label areas in SCANEO's segmentation task"
        )
    frame = pd.DataFrame(rows)
    frame.insert(3, "split", assign_splits(place_keys(frame)))
    missing = [name for name in ("train", "test") if not (frame["split"] == name).any()]
    if missing:
        places = place_keys(frame).nunique()
        raise ScaneoFormatError(
            f"the labelled images of {export.root} lie in {places} place(s) (2 km blocks): too "
            f"few for a {' and a '.join(missing)} split by place; label images of more places"
        )
    pool_images, pool_rows = _pool(export, bands, size, scale, pool_dir, store, pool_size)
    if pool_rows:
        pool_frame = pd.DataFrame(pool_rows)
        pool_frame.insert(3, "split", UNLABELLED)
        frame = pd.concat([frame, pool_frame], ignore_index=True)
        images += pool_images
        masks += [np.zeros((size, size), np.uint8)] * len(pool_images)
    dataset = LandCoverSet(
        np.stack(images), np.stack(masks).astype(np.uint8), frame, export.labels, bands, scale
    )
    save_landcover_set(dataset, out or landcover_set_dir("full"))
    if skipped and progress:
        print(f"{skipped} tiles of labelled images hold no segmentation label: left out")
    return dataset


def _pool(
    export: ScaneoExport,
    bands: tuple[str, ...],
    size: int,
    scale: float,
    pool_dir: str | os.PathLike[str] | None,
    store: str | os.PathLike[str] | None,
    count: int,
) -> tuple[list[np.ndarray], list[dict]]:
    if pool_dir is not None:
        paths = sorted(
            p for p in Path(pool_dir).rglob("*") if p.suffix.lower() in (".tif", ".tiff")
        )
        if not paths:
            raise FileNotFoundError(f"-p pool_dir {pool_dir} holds no GeoTIFF (.tif, .tiff)")
        return pool_from_geotiffs(paths, bands, size, scale, count, f"{export.root}")
    if store is not None:
        return pool_from_chip_store(store, bands, size, scale, count)
    found = _full_store()
    if found is not None:
        try:
            return pool_from_chip_store(found, bands, size, scale, count)
        except ScaneoFormatError as err:  # another sensor's bands: the export's own images
            print(f"use case A's chip store is not the pool: {err}")
    paths = [export.image_path(image) for image in export.unlabelled]
    return pool_from_geotiffs(paths, bands, size, scale, count, f"{export.root}")


def source_images(
    dataset: LandCoverSet, rows: np.ndarray, export: ScaneoExport
) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """The whole images the tiles ``rows`` were cut from, by name (stem), and their masks on
    each image's own grid burnt from ``export`` (what C1 writes back as a SCANEO export)."""
    images, masks = {}, {}
    root = export.root.resolve()
    for path in dict.fromkeys(dataset.index["image"].iloc[rows]):
        key = Path(os.path.relpath(Path(path).resolve(), root)).as_posix()
        if key not in export.annotations:
            raise ValueError(f"{path} is not a labelled image of the export in {export.root}")
        images[Path(path).stem] = Path(path)
        masks[Path(path).stem] = rasterize_image(export, key)
    return images, masks
