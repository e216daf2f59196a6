"""Whole Sentinel-2 scenes as one GeoTIFF, the way a user downloads them: the sample world keeps
one COG per band, a real L2A product is often shared as one 12-band file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

from eotdl_tutorials.facts.sensors import S2_BANDS, S2_L2A_SCALE
from eotdl_tutorials.files import atomic_path


def stack_s2_scene(
    hrefs: Mapping[str, str],
    out_path: str | os.PathLike[str],
    reflectance_offset: float = -0.1,
    gsd: float = 10.0,
) -> Path:
    """Write the 12 L2A bands of one scene (``hrefs``: common name -> COG) as one GeoTIFF at
    ``gsd`` m in B01..B12 order with band descriptions (B01..), nodata 0 and scale/offset tags
    (reflectance = DN x 1e-4 + ``reflectance_offset``)."""
    missing = [b.common_name for b in S2_BANDS if b.common_name not in hrefs]
    if missing:
        raise ValueError(f"the scene lacks bands {', '.join(missing)}")
    with rasterio.open(hrefs["red"]) as ref:
        profile = ref.profile | {
            "driver": "GTiff", "count": len(S2_BANDS), "dtype": "uint16", "nodata": 0,
            "compress": "deflate", "tiled": True, "blockxsize": 256, "blockysize": 256,
        }  # fmt: skip
        scale = ref.res[0] / gsd
        width, height = round(ref.width * scale), round(ref.height * scale)
        transform = ref.transform * rasterio.Affine.scale(1 / scale)
    profile |= {"width": width, "height": height, "transform": transform}
    with atomic_path(out_path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            for i, band in enumerate(S2_BANDS, start=1):
                with rasterio.open(hrefs[band.common_name]) as src:
                    data = src.read(1, out_shape=(height, width), resampling=Resampling.nearest)
                dst.write(data.astype(np.uint16), i)
                dst.set_band_description(i, band.name)
            dst.scales = [S2_L2A_SCALE] * len(S2_BANDS)
            dst.offsets = [reflectance_offset] * len(S2_BANDS)
    return Path(out_path)
