"""Cut co-registered chips of every matched footprint and pack them into the chip store.

:func:`tile` reads, for each footprint, its 1 m tile and the footprint's window in its best
Sentinel-2 and Sentinel-1 scenes (windowed reads, files kept open, grouped by scene, in parallel
processes) and writes ``{sensor}.npy``, ``index.parquet``, ``meta.json`` and GeoTIFF chips.
"""

from eotdl_tutorials.tiling.catalog import ensure_published, publish_chip_store
from eotdl_tutorials.tiling.chips import chip_path, label_of
from eotdl_tutorials.tiling.specs import SENSORS, SensorSpec
from eotdl_tutorials.tiling.store import (
    CHIP_MAX_CLOUD_PERCENT,
    DEFAULT_SENSORS,
    SPLIT_BLOCK_M,
    TilingReport,
    assign_splits,
    place_keys,
    presence_column,
    split_of,
    tile,
)

__all__ = [
    "CHIP_MAX_CLOUD_PERCENT",
    "DEFAULT_SENSORS",
    "SENSORS",
    "SensorSpec",
    "TilingReport",
    "chip_path",
    "ensure_published",
    "label_of",
    "presence_column",
    "publish_chip_store",
    "SPLIT_BLOCK_M",
    "assign_splits",
    "place_keys",
    "split_of",
    "tile",
]
