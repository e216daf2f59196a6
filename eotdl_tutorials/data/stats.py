"""Per-band mean and standard deviation of a sensor, in physical units, from the training split.

The statistics are saved with every model (encoder ``mean``/``std`` buffers and its JSON record),
so the same normalisation is applied at training, evaluation and inference time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eotdl_tutorials.data.store import ChipStore


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and standard deviation (physical units: reflectance, dB, ...)."""

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, list]:
        """JSON-ready form."""
        return {"bands": list(self.bands), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, value: dict) -> BandStats:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(value["bands"]), tuple(value["mean"]), tuple(value["std"]))


def compute_band_stats(
    store: ChipStore,
    sensor: str,
    split: str = "train",
    max_chips: int = 2048,
    seed: int = 0,
) -> BandStats:
    """Mean and std of each band over (up to ``max_chips`` seeded samples of) ``split``.

    Nodata pixels are left out. Raises ``ValueError`` if the split is empty.
    """
    info = store.sensor(sensor)
    rows = store.split_indices(split)
    if rows.size == 0:
        raise ValueError(
            f"chip store {store.root} has no {split!r} chips to compute {sensor} band statistics"
        )
    if rows.size > max_chips:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_chips, replace=False))
    raw = np.asarray(store.array(sensor)[rows])
    values = store.to_physical(sensor, raw).astype(np.float64)
    nodata = store.nodata_mask(sensor, raw)
    if nodata is not None:
        values[nodata] = np.nan
    per_band = values.transpose(1, 0, 2, 3).reshape(info.channels, -1)
    mean = np.nanmean(per_band, axis=1)
    std = np.nanstd(per_band, axis=1)
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"{sensor} chips of split {split!r} are all nodata in some band")
    std = np.where(std > 0, std, 1.0)
    return BandStats(info.bands, tuple(map(float, mean)), tuple(map(float, std)))
