"""Surface reflectance and radar backscatter of the world's classes, and how they change with the
seasons.

Reflectances are the round figures of the course's sensor facts, consistent with the USGS Spectral
Library v7 (Kokaly et al. 2017, USGS Data Series 1035) and ECOSTRESS (Meerdink et al. 2019, RSE
230:111196); backscatter follows published Sentinel-1 IW sigma0 ranges (dB).

Spread within a class and between acquisitions comes from ``VARIABILITY``: each entry is a range
the world draws from, with the published figure it comes from. Classes that share materials share
spectra on purpose (a river and a lake, a motorway and a street, pasture and herbaceous vegetation
in spring): what tells them apart is their layout, as on real imagery.
"""

from __future__ import annotations

import numpy as np

from eotdl_tutorials.facts.sensors import HR_BANDS, S2_BAND_BY_COMMON_NAME, S2_BANDS

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
    # needleleaf canopy: darker than broadleaf, NIR about 0.2-0.28 (ECOSTRESS conifer needles
    # scaled to canopy; Sentinel-2 spruce/pine stands, e.g. Grabska et al. 2019, Remote Sens.
    # 11(10):1197)
    "conifer forest": [0.02, 0.04, 0.02, 0.06, 0.17, 0.22, 0.25, 0.26, 0.12, 0.05],
    # galvanised or coated metal sheet of industrial halls (USGS v7 "galvanized sheet metal",
    # about 0.25-0.35 and nearly flat)
    "metal roof": [0.25, 0.27, 0.28, 0.29, 0.29, 0.30, 0.30, 0.30, 0.28, 0.25],
    # concrete yards and car parks (USGS v7 concrete road, 0.2-0.3)
    "concrete": [0.16, 0.18, 0.20, 0.21, 0.22, 0.23, 0.24, 0.24, 0.28, 0.25],
    "cloud": [0.62, 0.62, 0.63, 0.63, 0.63, 0.63, 0.63, 0.63, 0.42, 0.30],
}


def _full(row: list[float]) -> np.ndarray:
    """Add B01 (close to blue) and B09 (close to B8A, minus water-vapour absorption)."""
    b = np.array(row, dtype=np.float32)
    return np.concatenate([[0.9 * b[0] + 0.005], b[:8], [0.85 * b[7]], b[8:]]).astype(np.float32)


SPECTRA: dict[str, np.ndarray] = {name: _full(row) for name, row in _TABLE.items()}
#: Index of each Satellogic-like band (red, green, blue, nir) in the S2 band order.
HR_FROM_S2 = [S2_BANDS.index(S2_BAND_BY_COMMON_NAME[b.common_name]) for b in HR_BANDS]

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
    # orchards and vineyards: between forest and grassland (rows of trunks and canopy)
    "permanent crop": (-9.5, -15.5),
    # shrubs raise volume scattering above grassland by 1-2 dB
    "herbaceous": (-11.0, -17.5),
}

#: Spread within classes and between acquisitions: (low, high) and the published source.
VARIABILITY: dict[str, tuple[float, float, str]] = {
    "parcel brightness": (
        0.9,
        1.1,
        "factor per parcel: +-10 % spread of soil and canopy reflectance within a cover type "
        "(USGS v7 and ECOSTRESS samples of one type span this and more)",
    ),
    "soil moisture darkening": (
        0.0,
        0.3,
        "fraction by which wet soil is darker than dry (Lobell & Asner 2002, SSSAJ 66:722: "
        "reflectance falls by up to about 30-50 % from dry to saturated)",
    ),
    "acquisition gain": (
        0.95,
        1.05,
        "factor per acquisition: illumination and view-angle (BRDF) effects left in L2A "
        "reflectance, about +-5 % across the swath (Roy et al. 2017, RSE 199:25-38)",
    ),
    "acquisition haze": (
        0.0,
        0.015,
        "reflectance added in the blue band per acquisition (less at longer wavelengths, "
        "Angstrom exponent 1.3): aerosol residual of L2A, RMSE 0.01-0.02 in the visible "
        "(ACIX, Doxani et al. 2018, Remote Sens. 10(2):352)",
    ),
    "s2 noise": (
        0.002,
        0.002,
        "reflectance sd of Sentinel-2 MSI noise: SNR 100-170 at the reference radiance "
        "(ESA Sentinel-2 User Handbook)",
    ),
    "hr noise": (
        0.003,
        0.003,
        "reflectance sd of 1 m small-satellite imagery noise (SNR about 50-100)",
    ),
    "permanent crop canopy": (
        0.3,
        0.6,
        "share of an orchard or vineyard covered by the canopy of the rows (fraction of "
        "ground cover of orchards 0.3-0.7, Allen & Pereira 2009, Irrig. Sci. 28:17)",
    ),
}
#: Angstrom exponent of the aerosol residual (continental aerosol, about 1.3).
ANGSTROM_EXPONENT = 1.3


def acquisition_atmosphere(
    u_gain: float, u_haze: float, wavelengths_nm: np.ndarray
) -> tuple[float, np.ndarray]:
    """The gain and the per-band haze of one acquisition from two uniform draws in [0, 1)."""
    low, high, _ = VARIABILITY["acquisition gain"]
    gain = low + (high - low) * u_gain
    low, high, _ = VARIABILITY["acquisition haze"]
    blue = low + (high - low) * u_haze
    haze = blue * (np.asarray(wavelengths_nm, dtype=np.float64) / 490.0) ** -ANGSTROM_EXPONENT
    return float(gain), haze.astype(np.float32)


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
