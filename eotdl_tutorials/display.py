"""Display helpers every stage's figures share: stretch, true colour, the Sentinel-1 false colour
and the web-map overlay of a GeoTIFF.

A leaf: it imports no stage (numpy, matplotlib, rasterio and the facts only), so each
``<stage>/figures.py`` draws with the same conventions.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence

import numpy as np
import rasterio
from matplotlib.image import imsave
from rasterio.enums import Resampling
from rasterio.transform import array_bounds
from rasterio.warp import calculate_default_transform, reproject, transform_bounds

from eotdl_tutorials.facts.sensors import RGB

WEB_MERCATOR = "EPSG:3857"
#: Surface reflectance times this, clipped to [0, 1], is a true colour on one fixed scale (images
#: compared side by side keep their differences, which a stretch per image would hide).
REFLECTANCE_GAIN = 3.5
#: The (low, high) dB mapped to [0, 1] in each channel of the Sentinel-1 false colour. VH spans
#: -30 to -5 dB, the window the sample world's VH panel uses (``world.figures``), so a VH value
#: looks the same in both; it holds the classes' published VH means (``facts.spectra``:
#: -27.5 dB water to -10 dB built-up) with 2.5 dB or more for speckle on either side. (The chip
#: figures used -32 to -7 dB, which left 4.5 dB below water and 3 dB above built-up.)
S1_COMPOSITE_DB = {"vv": (-25.0, 0.0), "vh": (-30.0, -5.0), "vv-vh": (0.0, 15.0)}

#: (south, west), (north, east) corners in degrees, as a web map's image overlay takes them.
Corners = tuple[tuple[float, float], tuple[float, float]]


def _percentile_stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    values = values.astype(np.float32)
    lo, hi = np.nanpercentile(values, [low, high])
    return np.clip((values - lo) / max(hi - lo, 1e-6), 0, 1)


def stretch(rgb: np.ndarray, low: float = 2, high: float = 98) -> np.ndarray:
    """Percentile stretch of a (3, H, W) or (H, W, 3) array to [0, 1] as (H, W, 3), one range
    over all three bands (their balance is kept); NaN stays NaN."""
    if rgb.shape[0] == 3:
        rgb = np.moveaxis(rgb, 0, -1)
    return _percentile_stretch(rgb, low, high)


def true_colour(image: np.ndarray, bands: Sequence[str], gain: float | None = None) -> np.ndarray:
    """The red, green and blue bands (found by name in ``bands``) of a (..., C, H, W) image as
    (..., H, W, 3) in [0, 1]: percentile-stretched, or reflectance times ``gain``, clipped."""
    bands = list(bands)
    picked = np.moveaxis(image[..., [bands.index(b) for b in RGB], :, :], -3, -1)
    if gain is None:
        return _percentile_stretch(picked, 2, 98)
    return np.clip(np.nan_to_num(picked) * gain, 0, 1)


def s1_composite(vv: np.ndarray, vh: np.ndarray) -> np.ndarray:
    """Sentinel-1 false colour of VV and VH in dB, (...) -> (..., 3): VV, VH and VV - VH, each
    mapped from its :data:`S1_COMPOSITE_DB` range to [0, 1]."""
    channels = {"vv": vv, "vh": vh, "vv-vh": vv - vh}
    return np.stack(
        [np.clip((channels[k] - lo) / (hi - lo), 0, 1) for k, (lo, hi) in S1_COMPOSITE_DB.items()],
        axis=-1,
    )


def warp_to_web_mercator(
    path: str | os.PathLike[str], bands: Sequence[int]
) -> tuple[np.ndarray, Corners]:
    """Bands (1-based) of a GeoTIFF warped to Web Mercator (NaN where no data) and the corners of
    the warped grid: an image overlay on a web map is axis-aligned in Web Mercator, so a UTM
    raster drawn there unwarped would be slightly rotated and stretched."""
    with rasterio.open(path) as src:
        transform, width, height = calculate_default_transform(
            src.crs, WEB_MERCATOR, src.width, src.height, *src.bounds
        )
        out = np.full((len(bands), height, width), np.nan, np.float32)
        for i, band in enumerate(bands):
            reproject(
                src.read(band).astype(np.float32), out[i],
                src_transform=src.transform, src_crs=src.crs, src_nodata=src.nodata,
                dst_transform=transform, dst_crs=WEB_MERCATOR, dst_nodata=np.nan,
                resampling=Resampling.bilinear,
            )  # fmt: skip
    west, south, east, north = transform_bounds(
        WEB_MERCATOR, "EPSG:4326", *array_bounds(height, width, transform)
    )
    return out, ((south, west), (north, east))


def image_overlay(rgba: np.ndarray, corners: Corners, name: str):  # noqa: ANN201 - ipyleaflet
    """An (H, W, 3 or 4) image in [0, 1], already in Web Mercator, as an ipyleaflet overlay (a
    PNG in the page: it works offline and in a built book alike)."""
    import ipyleaflet

    buffer = io.BytesIO()
    imsave(buffer, np.clip(rgba, 0, 1), format="png")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return ipyleaflet.ImageOverlay(url=url, bounds=corners, name=name)


def true_colour_overlay(  # noqa: ANN201 - an ipyleaflet.ImageOverlay
    path: str | os.PathLike[str], bands: Sequence[str], name: str
):
    """A GeoTIFF whose bands are ``bands`` as a stretched true-colour web-map overlay, warped to
    Web Mercator, transparent where it has no data."""
    positions = [list(bands).index(b) + 1 for b in RGB]
    values, corners = warp_to_web_mercator(path, positions)
    valid = np.isfinite(values).all(0).astype(np.float32)
    return image_overlay(np.dstack([np.nan_to_num(stretch(values)), valid]), corners, name)
