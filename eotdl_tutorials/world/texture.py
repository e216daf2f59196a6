"""Metre-scale texture drawn from the vectors: rows, tramlines, tree crowns, shadows of buildings.

Every pattern is a function of map coordinates, so any grid sees the same ground. Periodic
patterns (rows, tramlines) are integrated over each pixel's width (box-filtered), so a 1 m pixel
sees a row and a 5 m pixel sees its mean cover: Sentinel-2 sees the 1 m ground through its PSF.
Tree crowns are a cellular pattern whose mean is one, drawn only where metres are resolved.

Figures, each with its source:

- tree crowns: 3-10 m across in temperate stands, the range of the 1 m semivariogram of forest
  canopies (Woodcock, Strahler & Jupp 1988, RSE 25:323-348; Song & Woodcock 2002, IEEE TGRS
  40:1263); stems about 4-8 m apart in managed forest;
- tramlines: wheel tracks about 0.5 m wide and 1.8 m apart every 12-36 m (sprayer boom widths;
  the "controlled traffic" literature, e.g. Tullberg et al. 2007, Soil Till. Res. 97:272);
- orchards and vineyards: rows 1.8-6.5 m apart (``landscape.ROW_SPACING``);
- shadows: building heights 3-12 m (1-3 storeys; industrial halls 6-12 m), cast away from the sun
  at the overpass (Sentinel-2 crosses the equator at 10:30 local solar time, descending; the
  sun's elevation from Cooper's declination, Solar Energy 12:333, 1969).
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from eotdl_tutorials.world.noise import _hash01

#: Local solar time of the morning overpass (hours).
OVERPASS_HOUR = 10.5
#: Tree spacing (m) of the crown lattice and the crown radius range (m).
CROWN_SPACING = 6.0
CROWN_RADIUS = (1.5, 5.0)
#: Tramline period range (m), track width and gauge (m).
TRAMLINE_PERIOD = (12.0, 36.0)
TRACK_WIDTH, TRACK_GAUGE = 0.5, 1.8
#: Building heights (m): residential and industrial.
BUILDING_HEIGHT = {"residential": (4.0, 10.0), "industrial": (6.0, 12.0)}


def sun_position(day: date, lat: float) -> tuple[float, float]:
    """Sun elevation and azimuth (radians, azimuth clockwise from north) at the overpass."""
    doy = day.timetuple().tm_yday
    decl = math.radians(23.45) * math.sin(2 * math.pi * (284 + doy) / 365)
    phi, hour = math.radians(lat), math.radians(15 * (OVERPASS_HOUR - 12))
    sin_el = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(hour)
    elevation = math.asin(sin_el)
    cos_az = (math.sin(decl) - sin_el * math.sin(phi)) / (math.cos(elevation) * math.cos(phi))
    azimuth = math.acos(max(-1.0, min(1.0, cos_az)))  # morning: the sun is east of south
    return elevation, azimuth


def shadow_offset(height: np.ndarray, elevation: float, azimuth: float) -> np.ndarray:
    """Map offset (dx, dy) in metres of the shadow of something ``height`` m tall."""
    length = np.asarray(height, dtype=np.float64) / math.tan(max(elevation, math.radians(5)))
    away = azimuth + math.pi
    return np.stack([length * math.sin(away), length * math.cos(away)], axis=-1)


def _ramp(x: np.ndarray, period: np.ndarray, width: np.ndarray) -> np.ndarray:
    """The integral from 0 to ``x`` of a square wave of ``period`` that is 1 over ``width``."""
    whole = np.floor(x / period)
    return whole * width + np.minimum(x - whole * period, width)


def stripe_cover(u: np.ndarray, period: np.ndarray, width: np.ndarray, pixel: float) -> np.ndarray:
    """Share of each pixel (centred at ``u`` across the stripes, ``pixel`` m wide) covered by
    stripes of ``width`` repeating every ``period`` metres: box-filtered, so it is exact at any
    pixel size and tends to ``width / period`` for wide pixels."""
    half = pixel / 2
    return (_ramp(u + half, period, width) - _ramp(u - half, period, width)) / pixel


def across(xs: np.ndarray, ys: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """Distance across rows running at ``azimuth`` (radians from north) of map points."""
    return xs * np.cos(azimuth) - ys * np.sin(azimuth)


def crown_field(
    xs: np.ndarray, ys: np.ndarray, seed: int, elevation: float, azimuth: float
) -> np.ndarray:
    """Relative brightness of a closed canopy at points ``xs``, ``ys`` (2-D arrays): sunlit
    crowns, their shaded sides and the shadowed gaps between them; mean about one."""
    gx, gy = xs / CROWN_SPACING, ys / CROWN_SPACING
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    nearest = np.full(xs.shape, np.inf)
    radius = np.zeros(xs.shape)
    towards = np.zeros(xs.shape)
    sun = np.array([math.sin(azimuth), math.cos(azimuth)])
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            cx, cy = ix + dx, iy + dy
            tx = (cx + 0.1 + 0.8 * _hash01(cx, cy, seed)) * CROWN_SPACING
            ty = (cy + 0.1 + 0.8 * _hash01(cx, cy, seed + 1)) * CROWN_SPACING
            r = CROWN_RADIUS[0] + (CROWN_RADIUS[1] - CROWN_RADIUS[0]) * _hash01(cx, cy, seed + 2)
            ex, ey = xs - tx, ys - ty
            d = np.hypot(ex, ey) / r  # distance in crown radii: the largest crown nearby wins
            closer = d < nearest
            nearest = np.where(closer, d, nearest)
            radius = np.where(closer, r, radius)
            towards = np.where(closer, (ex * sun[0] + ey * sun[1]) / r, towards)
    inside = nearest < 1
    dome = np.sqrt(np.clip(1 - nearest**2, 0, 1))
    lit = 0.75 + 0.35 * dome + 0.3 * np.clip(towards, -1, 1) * inside
    gap_shadow = 0.45 + 0.1 * math.sin(elevation)
    field = np.where(inside, lit, gap_shadow)
    return field / max(float(field.mean()), 1e-6)


def building_heights(use: np.ndarray, ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Height (m) of each building from its use and a hash of its position."""
    industrial = np.asarray(use) == "industrial"
    low = np.where(industrial, BUILDING_HEIGHT["industrial"][0], BUILDING_HEIGHT["residential"][0])
    high = np.where(industrial, BUILDING_HEIGHT["industrial"][1], BUILDING_HEIGHT["residential"][1])
    return low + (high - low) * _hash01(ix, iy, seed)
