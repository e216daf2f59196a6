"""What a model reads: the tiles as reflectance, or as SCANEO's preprocessing hands them over.

SCANEO preprocesses an image before it calls a model (``scaneo/src/usecases/models/
processing.py``): ``SATRGB`` keeps bands 1, 2, 3 of the file (0-based) and divides the digital
numbers by 3000, clipped to 0..1 (:func:`eotdl_tutorials.models.scaneo_rgb`). A model exported
for SCANEO is trained on exactly what SCANEO sends for the sample world's tiles; ``none`` is
reflectance of every band.

The model card calls SATRGB's three channels red, green, blue (SCANEO's name for the step); on
a file stored red, green, blue, nir (EarthView's order, the sample world's) the 0-based bands
1, 2, 3 are green, blue and nir. The model learns from whatever SCANEO sends, so it works in
SCANEO either way; only the names differ.
"""

from __future__ import annotations

import numpy as np

from eotdl_tutorials.facts.sensors import RGB
from eotdl_tutorials.models.bands import scaneo_rgb
from eotdl_tutorials.multitask.dataset import LandCoverSet

PREPROCESSING = ("none", "SATRGB")


def check_preprocessing(preprocessing: str) -> str:
    if preprocessing not in PREPROCESSING:
        raise ValueError(
            f"unknown preprocessing {preprocessing!r}: use one of {', '.join(PREPROCESSING)}"
        )
    return preprocessing


def model_inputs(
    dataset: LandCoverSet, rows: np.ndarray | slice, preprocessing: str = "none"
) -> np.ndarray:
    """The tiles ``rows`` as a model with ``preprocessing`` reads them (float32)."""
    if check_preprocessing(preprocessing) == "SATRGB":
        return np.stack([scaneo_rgb(dn, "SATRGB") for dn in dataset.images[rows]]).astype(
            np.float32
        )
    return dataset.reflectance(rows)


def input_bands(dataset: LandCoverSet, preprocessing: str = "none") -> tuple[str, ...]:
    """The band names of the model's input channels (SATRGB: the card's red, green, blue)."""
    if check_preprocessing(preprocessing) == "SATRGB":
        return RGB
    return dataset.bands
