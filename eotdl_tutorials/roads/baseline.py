"""The baseline: one spectral index and one threshold, both chosen on the training split only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eotdl_tutorials.roads.metrics import dataset_scores

#: Indices tried, as (band a, band b): (a - b) / (a + b); roads are paved and bare of plants.
INDICES = {
    "ndvi": ("nir", "red"),
    "ndbi": ("swir16", "nir"),
    "ndwi": ("green", "nir"),
    "visible_contrast": ("blue", "red"),
}


def spectral_index(images: np.ndarray, bands: Sequence[str], name: str) -> np.ndarray:
    """Normalised difference ``name`` of (N, bands, H, W) reflectance (NaN where no data)."""
    if name not in INDICES:
        raise ValueError(f"unknown index {name!r}: use one of {', '.join(INDICES)}")
    missing = [b for b in INDICES[name] if b not in bands]
    if missing:
        raise ValueError(f"index {name} needs bands {', '.join(missing)}, not in {list(bands)}")
    a, b = (images[:, list(bands).index(band)] for band in INDICES[name])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a - b) / (a + b)


@dataclass(frozen=True)
class IndexThreshold:
    """Road where ``index`` is below (``sign`` -1) or above (+1) ``threshold``."""

    index: str
    threshold: float
    sign: int
    train_iou: float

    def predict(self, images: np.ndarray, bands: Sequence[str]) -> np.ndarray:
        """Road masks (N, H, W) of reflectance ``images``."""
        values = spectral_index(images, bands, self.index)
        return np.nan_to_num(self.sign * values, nan=-np.inf) > self.sign * self.threshold


def fit_index_threshold(
    images: np.ndarray, labels: np.ndarray, bands: Sequence[str], steps: int = 64
) -> IndexThreshold:
    """The index, direction and threshold with the best dataset IoU on (training) ``images``."""
    best = None
    for name, pair in INDICES.items():
        if not set(pair) <= set(bands):
            continue
        values = spectral_index(images, bands, name)
        levels = np.unique(np.nanquantile(values, np.linspace(0.0, 1.0, steps + 1)))
        candidates = (levels[:-1] + levels[1:]) / 2  # between observed values
        for sign in (-1, 1):
            for threshold in candidates:
                pred = np.nan_to_num(sign * values, nan=-np.inf) > sign * threshold
                iou = dataset_scores(pred, labels).iou
                if best is None or iou > best.train_iou:
                    best = IndexThreshold(name, float(threshold), sign, iou)
    if best is None:
        raise ValueError(f"no index can be computed from bands {list(bands)}")
    return best
