"""Band tables and conventions of the sensors the sample world renders.

Values from the Sentinel-2 MSI and Sentinel-1 mission documentation, as summarised in the
course's sensor facts (Earth Search v1 and Planetary Computer asset keys, L2A offset, SCL classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Band:
    """One spectral band: its Sentinel-2 name, Earth Search common-name key, centre and GSD."""

    name: str
    common_name: str
    center_nm: float
    fwhm_nm: float
    gsd: int


#: Sentinel-2 MSI L2A bands in Planetary Computer order (B01..B12, B8A after B08).
S2_BANDS: tuple[Band, ...] = (
    Band("B01", "coastal", 443, 27, 60),
    Band("B02", "blue", 490, 98, 10),
    Band("B03", "green", 560, 45, 10),
    Band("B04", "red", 665, 38, 10),
    Band("B05", "rededge1", 705, 19, 20),
    Band("B06", "rededge2", 740, 18, 20),
    Band("B07", "rededge3", 783, 28, 20),
    Band("B08", "nir", 842, 145, 10),
    Band("B8A", "nir08", 865, 33, 20),
    Band("B09", "nir09", 945, 26, 60),
    Band("B11", "swir16", 1610, 143, 20),
    Band("B12", "swir22", 2190, 242, 20),
)
S2_BAND_BY_COMMON_NAME = {b.common_name: b for b in S2_BANDS}
S2_BAND_BY_NAME = {b.name: b for b in S2_BANDS}

#: Earth Search v1 asset key -> Planetary Computer asset key, for every S2 band plus SCL.
S2_EARTH_SEARCH_TO_PC = {b.common_name: b.name for b in S2_BANDS} | {"scl": "SCL"}

#: Since processing baseline 04.00 L2A digital numbers carry +1000: reflectance = (DN - 1000) / 1e4.
S2_L2A_SCALE = 1e-4
S2_L2A_OFFSET = -0.1
S2_L2A_DN_OFFSET = 1000

#: Scene classification (SCL) codes of Sentinel-2 L2A.
SCL_CLASSES = {
    0: "no data",
    1: "saturated or defective",
    2: "dark area pixels",
    3: "cloud shadows",
    4: "vegetation",
    5: "not vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud medium probability",
    9: "cloud high probability",
    10: "thin cirrus",
    11: "snow or ice",
}
#: SCL codes counted by ``eo:cloud_cover``.
SCL_CLOUD = (8, 9, 10)
#: SCL code of cloud shadows (not counted by ``eo:cloud_cover``, but as dark as a cloud is bright).
SCL_CLOUD_SHADOW = 3


def scl_cloud_percent(
    scl: np.ndarray, empty: float = float("nan"), codes: tuple[int, ...] = SCL_CLOUD
) -> float:
    """Percentage of ``codes`` pixels (by default the cloud classes ``eo:cloud_cover`` counts)
    among the valid (non-zero) SCL pixels; ``empty`` when no pixel is valid."""
    valid = scl != 0
    if not valid.any():
        return empty
    return 100.0 * float(np.isin(scl[valid], codes).mean())


#: Modulation transfer function of the Sentinel-2 10 m bands at the Nyquist frequency of their
#: grid (0.5 cycles per pixel), per Earth Search common name. The MSI's image-quality requirement
#: puts it between 0.15 and 0.30 for the 10 m bands, and the in-flight values the Mission
#: Performance Centre reports every month (S2 MPC Data Quality Report, S2-PDGS-MPC-DQR, section
#: "Modulation Transfer Function") lie inside that range. The figure here is the course's round
#: value for all four bands (its sensor facts: a Gaussian PSF of about 0.5 pixel gives 0.25), not
#: a band-by-band copy of one report: replace an entry with a report's value to refine it.
S2_MTF_NYQUIST = {"blue": 0.25, "green": 0.25, "red": 0.25, "nir": 0.25}
#: Signal-to-noise ratio of the 10 m bands at their reference radiance (the MSI radiometric
#: requirement: Sentinel-2 User Handbook, ESA 2015, table of SNR at Lref) and that reference
#: radiance (W m-2 sr-1 um-1), and the bands' mean solar irradiance (W m-2 um-1, the L1C
#: metadata's values, rounded): what the degradation to a Sentinel-2-like image adds as noise.
S2_SNR_AT_LREF = {"blue": 154, "green": 168, "red": 142, "nir": 174}
S2_LREF = {"blue": 128.0, "green": 128.0, "red": 108.0, "nir": 103.0}
S2_SOLAR_IRRADIANCE = {"blue": 1959.0, "green": 1823.0, "red": 1512.0, "nir": 1036.0}


def s2_noise_sd(band: str) -> float:
    """Noise standard deviation (reflectance) of a 10 m band at its reference radiance: the
    radiance's reflectance (pi L / E0, sun at the zenith, 1 AU) over the band's SNR there."""
    reflectance = np.pi * S2_LREF[band] / S2_SOLAR_IRRADIANCE[band]
    return float(reflectance / S2_SNR_AT_LREF[band])


#: Satellogic EarthView analytic bands (1 m, uint16 DN = reflectance x 10000).
HR_BANDS: tuple[Band, ...] = (
    Band("red", "red", 665, 60, 1),
    Band("green", "green", 560, 60, 1),
    Band("blue", "blue", 490, 60, 1),
    Band("nir", "nir", 842, 100, 1),
)
#: Their common names, the order of the bands in the tiles and the chip store.
HR_BAND_NAMES = tuple(b.common_name for b in HR_BANDS)
HR_TILE_PX = 384
HR_SCALE = 1e-4
#: The common names of a true-colour composite, in display order.
RGB = ("red", "green", "blue")

#: Sentinel-1 GRD IW polarisations; assets hold linear sigma0 (float32) at 10 m.
S1_POLARIZATIONS = ("vv", "vh")
#: Equivalent number of looks of GRDH products: the shape of the gamma-distributed speckle.
S1_ENL = 4.4
