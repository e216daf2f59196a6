"""Land-cover labels for a chip store from a land-cover raster (e.g. ESA WorldCover tiles).

A store cut from real EarthView tiles has no label masks (``label = -1``): give it labels from
any raster rasterio opens (a local GeoTIFF, or ``/vsicurl/https://...`` of a COG found by STAC),
or from several tiles, the majority class under each footprint mapped to the store's scene
classes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.windows
import shapely
from tqdm.auto import tqdm

from eotdl_tutorials.data.store import ChipStore
from eotdl_tutorials.files import atomic_path, write_json

#: ESA WorldCover 2021 codes -> the course's scene classes (EuroSAT's; None: no scene class).
#: WorldCover cannot tell a river from a lake, nor an industrial estate from a town, nor a
#: permanent crop from an annual one: those chips get the nearer class (SeaLake, Residential,
#: AnnualCrop). Shrubland, bare ground, wetland and moss count as HerbaceousVegetation, as the
#: world's bare soil does (``facts.classes.PIXEL_TO_SCENE``).
WORLDCOVER_CLASSES: dict[int, str | None] = {
    10: "Forest",
    20: "HerbaceousVegetation",  # shrubland
    30: "Pasture",  # grassland
    40: "AnnualCrop",
    50: "Residential",  # built-up
    60: "HerbaceousVegetation",  # bare or sparse vegetation
    70: None,  # snow and ice
    80: "SeaLake",  # permanent water bodies
    90: "HerbaceousVegetation",  # herbaceous wetland
    95: "Forest",  # mangroves
    100: "HerbaceousVegetation",  # moss and lichen
}
UNLABELLED = -1
#: One land-cover raster (a path or a GDAL URL such as ``/vsicurl/https://...``), or several.
RasterSource = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


def majority_codes(
    footprints: gpd.GeoSeries, rasters: RasterSource, progress: bool = True
) -> np.ndarray:
    """The most frequent non-nodata value under each footprint (-1 where none), counted over
    every raster of ``rasters`` (one raster, or tiles such as the WorldCover tiles of an area)."""
    counts: list[dict[int, int]] = [{} for _ in range(len(footprints))]
    for raster in raster_list(rasters):
        with rasterio.open(raster) as src:
            if src.crs is None:
                raise ValueError(f"label raster {raster} has no CRS: give a georeferenced raster")
            shapes = footprints.to_crs(src.crs)
            inside = shapes.intersects(shapely.box(*src.bounds)).to_numpy()
            nodata = src.nodata if src.nodata is not None else 0
            rows = tqdm(np.flatnonzero(inside), desc="labels", disable=not progress)
            for i in rows:
                bounds = shapes.iloc[i].bounds
                window = rasterio.windows.from_bounds(*bounds, transform=src.transform)
                data = src.read(1, window=window, boundless=True, fill_value=nodata)
                found, number = np.unique(data[data != nodata], return_counts=True)
                for code, n in zip(found.tolist(), number.tolist(), strict=True):
                    counts[i][code] = counts[i].get(code, 0) + n
    return np.array(
        [max(c, key=c.__getitem__) if c else UNLABELLED for c in counts], dtype=np.int64
    )


def raster_list(rasters: RasterSource) -> list[str]:
    """``rasters`` as a list of paths or URLs (one raster, or several tiles)."""
    if isinstance(rasters, str | os.PathLike):
        return [os.fspath(rasters)]
    listed = [os.fspath(r) for r in rasters]
    if not listed:
        raise ValueError("no land-cover raster given: pass a path, a URL or a list of tiles")
    return listed


def label_store_from_raster(
    store: str | os.PathLike[str],
    raster: RasterSource,
    class_map: Mapping[int, str | None] = WORLDCOVER_CLASSES,
    progress: bool = True,
) -> int:
    """Set the ``label`` of every chip of ``store`` from ``raster`` (a raster, or a list of tiles
    such as the WorldCover tiles of the area) and return how many got one.

    ``class_map``: raster value -> one of the store's class names (None or absent: unlabelled).
    ``index.parquet`` is rewritten atomically; its ``label_source`` column names the raster.
    """
    chips = ChipStore(store)
    unknown = {name for name in class_map.values() if name and name not in chips.classes}
    if unknown:
        raise ValueError(
            f"class_map names {sorted(unknown)}, not classes of the store "
            f"({', '.join(chips.classes)})"
        )
    path = chips.root / "index.parquet"
    index = gpd.read_parquet(path)
    codes = majority_codes(index.geometry, raster, progress)
    position = {name: k for k, name in enumerate(chips.classes)}
    index["label"] = [
        position[name] if (name := class_map.get(int(code))) else UNLABELLED for code in codes
    ]
    source = "; ".join(raster_list(raster))
    index["label_source"] = source
    with atomic_path(path) as tmp:
        index.to_parquet(tmp)
    meta = dict(chips.meta) | {"labels": {"source": source, "class_map": dict(class_map)}}
    write_json(chips.root / "meta.json", meta)
    return int((index["label"] >= 0).sum())
