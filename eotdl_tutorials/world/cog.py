"""The Cloud-Optimized GeoTIFF writer of the world's rasters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

from eotdl_tutorials.files import atomic_path
from eotdl_tutorials.world.spec import TileGrid


def write_cog(
    path: Path,
    data: np.ndarray,
    grid: TileGrid,
    nodata: float | None,
    descriptions: tuple[str, ...] | None = None,
) -> None:
    """Write a Cloud-Optimized GeoTIFF atomically (deflate, tiled, overviews)."""
    data = data[None] if data.ndim == 2 else data
    profile = {
        "driver": "COG",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{grid.epsg}",
        "transform": Affine(*grid.transform),
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if data.dtype.kind == "f" else 2,
        "blocksize": 256,
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for i, text in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, text)
