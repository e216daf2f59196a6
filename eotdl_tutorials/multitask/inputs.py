"""What a model reads: the tiles as reflectance, or as SCANEO's preprocessing hands them over.

SCANEO preprocesses an image before it calls a model (``scaneo/src/usecases/models/
processing.py``): ``SATRGB`` keeps bands 1, 2, 3 of the file (0-based) and divides the digital
numbers by 3000, clipped to 0..1; ``S2RGB`` takes bands 3, 2, 1 the same way as 8-bit. A model
exported for SCANEO is trained on exactly those inputs; ``none`` is reflectance of every band.
"""

from __future__ import annotations

import numpy as np

from eotdl_tutorials.multitask.dataset import LandCoverSet

PREPROCESSING = ("none", "SATRGB")
#: SCANEO's SATRGB step: these bands of the file (0-based), DN / 3000 clipped to 0..1.
SATRGB_BANDS = (1, 2, 3)
SATRGB_DIVISOR = 3000.0


def check_preprocessing(preprocessing: str) -> str:
    if preprocessing not in PREPROCESSING:
        raise ValueError(
            f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSING)}"
        )
    return preprocessing


def satrgb(dn: np.ndarray) -> np.ndarray:
    """SCANEO's SATRGB of (bands, H, W) or (N, bands, H, W) digital numbers, as float32."""
    picked = dn[..., SATRGB_BANDS, :, :].astype(np.float32)
    return np.clip(picked / np.float32(SATRGB_DIVISOR), 0, 1)


def model_inputs(
    dataset: LandCoverSet, rows: np.ndarray | slice, preprocessing: str = "none"
) -> np.ndarray:
    """The tiles ``rows`` as a model with ``preprocessing`` reads them (float32)."""
    if check_preprocessing(preprocessing) == "SATRGB":
        return satrgb(dataset.images[rows])
    return dataset.reflectance(rows)


def input_bands(dataset: LandCoverSet, preprocessing: str = "none") -> tuple[str, ...]:
    """The band names of the model's input channels."""
    if check_preprocessing(preprocessing) == "SATRGB":
        return tuple(dataset.bands[i] for i in SATRGB_BANDS)
    return dataset.bands
