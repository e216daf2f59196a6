"""Which bands a model reads and how a GeoTIFF's bands map to them; SCANEO's RGB preprocessing.

Bands are matched by the file's band descriptions when every band has one (Sentinel-2 names such
as ``B04``/``B4``/``B8A`` or common names such as ``red``, ``nir08``, ``vv``), else by band count
(:data:`LAYOUTS_BY_COUNT`).

SCANEO (earthpulse/scaneo) can turn an image into RGB before it calls a model: ``S2RGB`` takes
bands 4, 3, 2, ``clip(DN / 3000, 0, 1) * 255`` as uint8; ``SATRGB`` takes the 2nd to 4th bands,
``clip(DN / 3000, 0, 1)`` as float. A model trained on either reads red, green, blue in
``[0, 1]`` (:func:`scaneo_rgb` computes exactly what SCANEO sends, :func:`rgb_values` reads it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from eotdl_tutorials.facts.sensors import HR_BANDS, S1_POLARIZATIONS, S2_BANDS

_S2_NAME_TO_COMMON = {band.name: band.common_name for band in S2_BANDS} | {"B10": "cirrus"}
_COMMON_NAMES = (
    {band.common_name for band in S2_BANDS} | {"cirrus"} | {band.common_name for band in HR_BANDS}
)
_COMMON_NAMES |= set(S1_POLARIZATIONS)

L2A_12 = tuple(band.common_name for band in S2_BANDS)
EUROSAT_13 = tuple(
    _S2_NAME_TO_COMMON[name]
    for name in ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11")
    + ("B12", "B8A")
)
#: Band layouts recognised by band count: count -> (what the file is taken to be, common names).
LAYOUTS_BY_COUNT = {
    12: ("Sentinel-2 L2A (B01..B08, B8A, B09, B11, B12)", L2A_12),
    13: ("Sentinel-2 L1C as in EuroSAT (B01..B12, B8A)", EUROSAT_13),
    4: ("Satellogic EarthView (red, green, blue, nir)", tuple(b.common_name for b in HR_BANDS)),
    2: ("Sentinel-1 (vv, vh)", tuple(S1_POLARIZATIONS)),
}

#: SCANEO's preprocessing steps a model can expect ("none": the raw bands as stored).
PREPROCESSING = ("none", "S2RGB", "SATRGB")
#: SCANEO divides digital numbers by this before clipping to [0, 1].
SCANEO_DN_DIVISOR = 3000.0
#: 0-based band positions SCANEO's steps take (S2RGB: B04, B03, B02 of a Sentinel-2 file).
SCANEO_BANDS = {"S2RGB": (3, 2, 1), "SATRGB": (1, 2, 3)}


def band_name(description: str | None) -> str | None:
    """The common name a band description stands for (``"B4"`` -> ``"red"``), or None."""
    if not description:
        return None
    text = description.strip()
    match = re.fullmatch(r"[Bb]0?(\d{1,2})([Aa]?)", text)
    if match:
        number = int(match.group(1))
        return _S2_NAME_TO_COMMON.get(f"B{number}A" if match.group(2) else f"B{number:02d}")
    return text.lower() if text.lower() in _COMMON_NAMES else None


def match_bands(
    descriptions: Sequence[str | None], wanted: Sequence[str], source: str = "the file"
) -> tuple[list[int], str]:
    """0-based positions in the file of each ``wanted`` band, and how they were matched."""
    names = [band_name(text) for text in descriptions]
    if all(names):
        how = "band descriptions"
    elif len(descriptions) in LAYOUTS_BY_COUNT:
        how, names = LAYOUTS_BY_COUNT[len(descriptions)]
    else:
        raise ValueError(
            f"cannot tell which bands {source} holds: it has {len(descriptions)} bands without "
            f"usable descriptions ({', '.join(repr(d) for d in descriptions)}). The model reads "
            f"{', '.join(wanted)}: describe the bands (B01..B12, B8A or common names) or send "
            f"a file of {' or '.join(str(n) for n in LAYOUTS_BY_COUNT)} bands in the usual order"
        )
    missing = [band for band in wanted if band not in names]
    if missing:
        raise ValueError(
            f"{source} lacks bands {', '.join(missing)} that the model reads (matched by {how}; "
            f"the file has {', '.join(str(n) for n in names)})"
        )
    return [list(names).index(band) for band in wanted], how


def band_mapping(preprocessing: str) -> str:
    """How a GeoTIFF's bands map to the bands of a model expecting ``preprocessing``."""
    check_preprocessing(preprocessing)
    if preprocessing != "none":
        return (
            f"3 bands red, green, blue as SCANEO's {preprocessing} sends them (uint8 0..255 "
            "or float 0..1, both clip(DN / 3000, 0, 1))"
        )
    layouts = "; ".join(f"{count}: {what}" for count, (what, _) in LAYOUTS_BY_COUNT.items())
    return (
        "by band descriptions (B01..B12, B8A or common names) when every band has one, "
        f"else by band count ({layouts})"
    )


def check_preprocessing(preprocessing: str) -> str:
    """``preprocessing`` if it is one of :data:`PREPROCESSING`, else a clear ``ValueError``."""
    if preprocessing not in PREPROCESSING:
        raise ValueError(
            f"unknown SCANEO preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSING)}"
        )
    return preprocessing


def scaneo_rgb(raw: np.ndarray, step: str) -> np.ndarray:
    """What SCANEO sends after its ``S2RGB``/``SATRGB`` step, from (bands, H, W) digital numbers."""
    if check_preprocessing(step) == "none":
        raise ValueError("scaneo_rgb needs a preprocessing step: S2RGB or SATRGB")
    if raw.ndim != 3 or raw.shape[0] <= max(SCANEO_BANDS[step]):
        raise ValueError(
            f"SCANEO's {step} reads 0-based bands {SCANEO_BANDS[step]} of a (bands, height, "
            f"width) array; got shape {raw.shape}"
        )
    values = np.clip(raw[list(SCANEO_BANDS[step])] / SCANEO_DN_DIVISOR, 0, 1)
    return (values * 255).astype(np.uint8) if step == "S2RGB" else values


def rgb_values(rgb: np.ndarray, source: str = "the image") -> np.ndarray:
    """SCANEO RGB (uint8 0..255 from S2RGB, float 0..1 from SATRGB) as float32 in [0, 1]."""
    if rgb.ndim != 3 or rgb.shape[0] != 3:
        raise ValueError(
            f"{source} has {rgb.shape[0] if rgb.ndim == 3 else '?'} bands; the model expects 3 "
            "(red, green, blue) as SCANEO's S2RGB or SATRGB preprocessing sends them"
        )
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / np.float32(255)
    if np.issubdtype(rgb.dtype, np.floating):
        return np.clip(np.nan_to_num(rgb.astype(np.float32)), 0, 1)
    raise ValueError(
        f"{source} holds {rgb.dtype} values; the model expects SCANEO RGB: uint8 (S2RGB) or "
        "float in 0..1 (SATRGB). Configure the model's preprocessing in SCANEO"
    )
