"""Surface reflectance and radar backscatter of the world's classes, and how they change with the
seasons.

Reflectances are the round figures of the course's sensor facts, consistent with the USGS Spectral
Library v7 and ECOSTRESS; backscatter follows published Sentinel-1 IW sigma0 ranges (dB).
"""

from __future__ import annotations

import numpy as np

# Bands in S2_BANDS order: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12.
_TABLE = {  # B02..B08, B8A, B11, B12 from the sensor facts
    "water": [0.05, 0.04, 0.03, 0.02, 0.015, 0.012, 0.01, 0.008, 0.005, 0.003],
    "forest": [0.03, 0.06, 0.03, 0.09, 0.25, 0.32, 0.35, 0.36, 0.17, 0.08],
    "green crop": [0.04, 0.08, 0.05, 0.12, 0.30, 0.38, 0.42, 0.43, 0.22, 0.12],
    "grassland": [0.05, 0.08, 0.07, 0.12, 0.22, 0.27, 0.30, 0.31, 0.25, 0.15],
    "built-up": [0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.16, 0.20, 0.18],
    "asphalt": [0.07, 0.08, 0.09, 0.10, 0.10, 0.11, 0.11, 0.11, 0.13, 0.12],
    "bare soil": [0.10, 0.13, 0.17, 0.20, 0.22, 0.24, 0.25, 0.26, 0.33, 0.28],
    "dry vegetation": [0.07, 0.10, 0.13, 0.17, 0.21, 0.24, 0.27, 0.28, 0.36, 0.27],
    "red tiles": [0.07, 0.09, 0.20, 0.24, 0.26, 0.27, 0.28, 0.28, 0.32, 0.27],
    "cloud": [0.62, 0.62, 0.63, 0.63, 0.63, 0.63, 0.63, 0.63, 0.42, 0.30],
}


def _full(row: list[float]) -> np.ndarray:
    """Add B01 (close to blue) and B09 (close to B8A, minus water-vapour absorption)."""
    b = np.array(row, dtype=np.float32)
    return np.concatenate([[0.9 * b[0] + 0.005], b[:8], [0.85 * b[7]], b[8:]]).astype(np.float32)


SPECTRA: dict[str, np.ndarray] = {name: _full(row) for name, row in _TABLE.items()}
#: Index of the Satellogic-like bands (red, green, blue, nir) in the S2 band order.
HR_FROM_S2 = [3, 2, 1, 7]

#: Sentinel-1 sigma0 (dB) per class: (VV, VH), middle of the published ranges.
BACKSCATTER_DB = {
    "water": (-22.5, -27.5),
    "forest": (-7.5, -13.0),
    "crop bare": (-12.5, -19.5),
    "crop peak": (-9.0, -15.0),
    "grassland": (-12.0, -19.0),
    "built-up": (1.0, -10.0),
    "bare soil": (-12.5, -20.0),
    "road": (-17.0, -24.0),
}


def crop_greenness(doy: int, sow: int, peak: int, harvest: int) -> tuple[float, bool]:
    """Green fraction of a crop on day ``doy`` and whether it is past its peak (senescing).

    A negative ``sow`` is a winter crop sown the autumn before; late in the year the next
    season's crop of it is already sown.
    """
    if sow < 0 and doy >= sow + 365:
        doy -= 365
    if doy < sow or doy > harvest:
        return 0.0, False
    if doy <= peak:
        return float(np.clip((doy - sow) / max(peak - sow, 1), 0, 1) ** 1.5), False
    return float(np.clip(1 - (doy - peak) / max(harvest - peak, 1), 0, 1)), True


def deciduous_leaf(doy: int) -> float:
    """Leaf factor of deciduous forest: 1 in summer, about 0.67 in winter (NIR drops by a third)."""
    winter = np.clip(np.cos(2 * np.pi * (doy - 15) / 365), 0, 1) ** 0.7
    return float(1 - winter / 3)


def grass_greenness(doy: int, semiarid: bool) -> float:
    """Green fraction of grassland: green in spring; semiarid grass dries out in summer."""
    if semiarid:
        return float(0.15 + 0.75 * np.clip(np.cos(2 * np.pi * (doy - 60) / 365), 0, 1))
    return float(0.7 + 0.3 * np.cos(2 * np.pi * (doy - 130) / 365))
