"""Per-band mean and standard deviation of a sensor, in physical units, from the training split.

The statistics are saved with every model (encoder ``mean``/``std`` buffers and its JSON record),
so the same normalisation is applied at training, evaluation and inference time.
"""

from __future__ import annotations

from collections.abc import Iterator
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


#: Chips read at once: the statistics stream over the split (a 1 m split as float64 at once
#: took 10 GB in C2's pre-training of the 1 m encoder).
CHUNK_CHIPS = 32


def _chunks(store: ChipStore, sensor: str, rows: np.ndarray) -> Iterator[np.ndarray]:
    """The chips of ``rows`` as float64 physical values, nodata as NaN, a few at a time."""
    array = store.array(sensor)
    for start in range(0, len(rows), CHUNK_CHIPS):
        raw = np.asarray(array[rows[start : start + CHUNK_CHIPS]])
        values = store.to_physical(sensor, raw).astype(np.float64)
        nodata = store.nodata_mask(sensor, raw)
        if nodata is not None:
            values[nodata] = np.nan
        yield values


def compute_band_stats(
    store: ChipStore,
    sensor: str,
    split: str = "train",
    max_chips: int = 2048,
    seed: int = 0,
) -> BandStats:
    """Mean and std of each band over (up to ``max_chips`` seeded samples of) ``split``.

    Nodata pixels are left out. The chips are read :data:`CHUNK_CHIPS` at a time, in two passes
    (the mean, then the deviations from it). Raises ``ValueError`` if the split is empty.
    """
    info = store.sensor(sensor)
    rows = store.split_indices(split)
    if rows.size == 0:
        raise ValueError(
            f"chip store {store.root} has no {split!r} chips to compute {sensor} band statistics"
        )
    if rows.size > max_chips:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_chips, replace=False))
    counts = np.zeros(info.channels)
    sums = np.zeros(info.channels)
    for values in _chunks(store, sensor, rows):
        counts += np.sum(~np.isnan(values), axis=(0, 2, 3))
        sums += np.nansum(values, axis=(0, 2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    if not np.all(np.isfinite(mean)):
        raise ValueError(f"{sensor} chips of split {split!r} are all nodata in some band")
    squares = np.zeros(info.channels)
    for values in _chunks(store, sensor, rows):
        squares += np.nansum((values - mean.reshape(1, -1, 1, 1)) ** 2, axis=(0, 2, 3))
    std = np.sqrt(squares / counts)
    std = np.where(std > 0, std, 1.0)
    return BandStats(info.bands, tuple(map(float, mean)), tuple(map(float, std)))
