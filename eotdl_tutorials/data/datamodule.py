"""A LightningDataModule over one sensor of the chip store.

Loaders read whole batches from the memory-mapped array (see :mod:`.dataset`), pin memory when the
trainer runs on CUDA and keep their worker processes alive between epochs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from eotdl_tutorials.data.dataset import ChipDataset, batch_collate
from eotdl_tutorials.data.stats import BandStats, compute_band_stats
from eotdl_tutorials.data.store import ChipStore


def make_loader(
    dataset: ChipDataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader that fetches whole batches through ``ChipDataset.__getitems__``.

    ``pin_memory`` defaults to whether CUDA is available; workers persist across epochs.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        collate_fn=batch_collate,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=num_workers > 0,
        drop_last=drop_last and len(dataset) > batch_size,
    )


class ChipDataModule(L.LightningDataModule):
    """Train/val/test loaders of one sensor, with band statistics from the training split.

    Args:
        store: chip store folder.
        sensor: "hr", "s2" or "s1".
        batch_size: chips per batch.
        num_workers: loader worker processes (0 reads in the main process).
        train_rows: store rows to train on (default: the whole "train" split), e.g. a
            few-label subset.
        with_labels: serve ``label`` too (needed for supervised training).
        stats: band statistics to use (default: computed from the "train" split).
        drop_last: drop the last incomplete training batch (Barlow Twins needs full batches).
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        sensor: str,
        batch_size: int = 64,
        num_workers: int = 0,
        train_rows: Sequence[int] | None = None,
        with_labels: bool = True,
        stats: BandStats | None = None,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["store", "train_rows", "stats"])
        self.hparams["store"] = str(store)  # a str: checkpoints load with weights_only=True
        self.store = ChipStore(store)
        self.store.sensor(sensor)
        self.sensor = sensor
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.with_labels = with_labels
        self.drop_last = drop_last
        self.train_rows = (
            self.store.split_indices("train") if train_rows is None else np.asarray(train_rows)
        )
        self.stats = stats or compute_band_stats(self.store, sensor)

    def dataset(self, rows: Sequence[int] | np.ndarray) -> ChipDataset:
        """A dataset of this sensor at ``rows``, nodata filled with the band means."""
        return ChipDataset(
            self.store, self.sensor, rows, fill=self.stats.mean, with_labels=self.with_labels
        )

    def _pin_memory(self) -> bool:
        trainer = self.trainer
        if trainer is None:
            return torch.cuda.is_available()
        return trainer.strategy.root_device.type == "cuda"

    def _loader(self, rows: np.ndarray, train: bool) -> DataLoader:
        return make_loader(
            self.dataset(rows),
            self.batch_size,
            shuffle=train,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            drop_last=train and self.drop_last,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_rows, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.store.split_indices("val"), train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.store.split_indices("test"), train=False)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """On CUDA, hand the model channels-last images (faster convolutions)."""
        image = batch["image"]
        if image.is_cuda:
            batch["image"] = image.contiguous(memory_format=torch.channels_last)
        return batch
