"""A PyTorch dataset over one sensor of the chip store, read batch-wise from the memory map.

``DataLoader`` calls ``__getitems__`` with a whole batch of indices, so a batch is one sorted
fancy-index read of the packed array (not one small read per chip), converted to physical values
in a vectorised step. Samples follow torchgeo's convention: ``{"image": (C, H, W), "label": ()}``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eotdl_tutorials.data.store import ChipStore


class ChipDataset(Dataset):
    """Chips of one sensor at the given store rows, as float32 physical values.

    Args:
        store: the chip store (or its folder).
        sensor: "hr", "s2" or "s1".
        rows: store row positions to serve (e.g. ``store.split_indices("train")``).
        fill: physical value per band written where a pixel is nodata (e.g. the band means).
        with_labels: also return ``label`` (the store's land-cover code).
    """

    def __init__(
        self,
        store: ChipStore | str | os.PathLike[str],
        sensor: str,
        rows: Sequence[int] | np.ndarray,
        fill: Sequence[float] | None = None,
        with_labels: bool = True,
    ) -> None:
        self.store = store if isinstance(store, ChipStore) else ChipStore(store)
        self.sensor = sensor
        self.info = self.store.sensor(sensor)
        self.rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size == 0:
            raise ValueError(
                f"no {sensor} chips selected from {self.store.root}: the split or subset is empty"
            )
        if self.rows.min() < 0 or self.rows.max() >= self.store.count:
            raise ValueError(f"row positions must lie in [0, {self.store.count})")
        self.labels = self.store.labels[self.rows] if with_labels else None
        self.fill = None if fill is None else np.asarray(fill, np.float32).reshape(1, -1, 1, 1)
        if self.fill is not None and self.fill.shape[1] != self.info.channels:
            raise ValueError(
                f"fill has {self.fill.shape[1]} values but {sensor} has {self.info.channels} bands"
            )
        self._array: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.size)

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes re-open the memory map instead of pickling its contents.
        return {**self.__dict__, "_array": None}

    @property
    def array(self) -> np.ndarray:
        """The sensor's memory-mapped array, opened on first use in each process."""
        if self._array is None:
            self._array = self.store.array(self.sensor)
        return self._array

    def read(self, positions: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """A batch for dataset ``positions``: ``image`` (B, C, H, W) float32 and ``label`` (B,).

        Positions are read in ascending store order (one sequential pass over the file).
        """
        positions = np.sort(np.asarray(positions, dtype=np.int64))
        raw = self.array[self.rows[positions]]
        values = self.store.to_physical(self.sensor, raw)
        if self.fill is not None:
            nodata = self.store.nodata_mask(self.sensor, raw)
            if nodata is not None and nodata.any():
                values = np.where(nodata, self.fill, values)
        batch = {"image": torch.from_numpy(np.ascontiguousarray(values))}
        if self.labels is not None:
            batch["label"] = torch.from_numpy(self.labels[positions])
        return batch

    def __getitems__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        return self.read(positions)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        batch = self.read([position])
        return {key: value[0] for key, value in batch.items()}


def batch_collate(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``collate_fn`` for :class:`ChipDataset`: ``__getitems__`` already returns a batch."""
    return batch
