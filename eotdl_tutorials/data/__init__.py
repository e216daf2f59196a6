"""Reading the chip store: datasets, a datamodule, band statistics and batch augmentations."""

from eotdl_tutorials.data.augment import ChipAugment, resize_to
from eotdl_tutorials.data.datamodule import ChipDataModule, make_loader
from eotdl_tutorials.data.dataset import ChipDataset, batch_collate
from eotdl_tutorials.data.labels import WORLDCOVER_CLASSES, label_store_from_raster
from eotdl_tutorials.data.sample import chip_store_dir, ensure_chip_store
from eotdl_tutorials.data.stats import BandStats, compute_band_stats
from eotdl_tutorials.data.store import SPLITS, ChipStore, SensorInfo, open_chip_store
from eotdl_tutorials.data.synthetic import write_synthetic_store

__all__ = [
    "SPLITS",
    "WORLDCOVER_CLASSES",
    "BandStats",
    "ChipAugment",
    "ChipDataModule",
    "ChipDataset",
    "ChipStore",
    "SensorInfo",
    "batch_collate",
    "chip_store_dir",
    "compute_band_stats",
    "ensure_chip_store",
    "label_store_from_raster",
    "make_loader",
    "open_chip_store",
    "resize_to",
    "write_synthetic_store",
]
