"""Read the packed chip store that ``eotdl_tutorials.tiling`` writes.

The store is a folder with ``meta.json``, one ``{sensor}.npy`` array of shape (N, C, H, W) per
sensor (memory-mapped, never loaded whole) and ``index.parquet`` with one row per footprint
(``id``, ``label``, ``split``, ...). See the chip-store contract in the team guide.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from eotdl_tutorials.tiling.store import SPLITS as SPLIT_SHARES
from eotdl_tutorials.tiling.store import STORE_FORMAT, STORE_FORMAT_VERSION

SPLITS = tuple(name for name, _ in SPLIT_SHARES)


@dataclass(frozen=True)
class SensorInfo:
    """What ``meta.json`` says about one sensor's array."""

    name: str
    bands: tuple[str, ...]
    dtype: str
    shape: tuple[int, int, int]
    gsd: float
    scale: float
    offset: float
    nodata: float | None
    units: str

    @property
    def channels(self) -> int:
        """Number of bands (C)."""
        return self.shape[0]


class ChipStore:
    """A chip store folder: its metadata, memory-mapped arrays, labels and splits."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        meta_path = self.root / "meta.json"
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"chip store {self.root} does not exist: build it with eotdl_tutorials.tiling "
                "(or pass the folder that holds meta.json)"
            )
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a chip store: meta.json is missing (an unfinished build?)"
            )
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("format") != STORE_FORMAT:
            raise ValueError(f"{meta_path} is not a chip store: format is not {STORE_FORMAT!r}")
        if self.meta.get("format_version") != STORE_FORMAT_VERSION:
            raise ValueError(
                f"{meta_path} has format_version {self.meta.get('format_version')!r}; "
                f"this reader knows version {STORE_FORMAT_VERSION}"
            )
        self.count = int(self.meta["count"])
        self.classes: tuple[str, ...] = tuple(self.meta.get("classes", ()))
        self.sensors: dict[str, SensorInfo] = {
            name: SensorInfo(
                name=name,
                bands=tuple(info["bands"]),
                dtype=str(info["dtype"]),
                shape=(int(info["shape"][0]), int(info["shape"][1]), int(info["shape"][2])),
                gsd=float(info["gsd"]),
                scale=float(info.get("scale", 1.0)),
                offset=float(info.get("offset", 0.0)),
                nodata=info.get("nodata"),
                units=str(info.get("units", "")),
            )
            for name, info in self.meta["sensors"].items()
        }

    def __repr__(self) -> str:
        return f"ChipStore({str(self.root)!r}, count={self.count}, sensors={list(self.sensors)})"

    def sensor(self, name: str) -> SensorInfo:
        """The metadata of sensor ``name``, with a clear error when the store lacks it."""
        if name not in self.sensors:
            raise ValueError(
                f"chip store {self.root} has no sensor {name!r}; it has "
                f"{', '.join(sorted(self.sensors)) or 'none'}"
            )
        return self.sensors[name]

    def array_path(self, name: str) -> Path:
        """Path of the packed ``{sensor}.npy`` array."""
        self.sensor(name)
        return self.root / f"{name}.npy"

    def array(self, name: str) -> np.ndarray:
        """The (N, C, H, W) array of sensor ``name``, memory-mapped read-only."""
        info = self.sensor(name)
        path = self.array_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"chip store {self.root} lists sensor {name!r} but {path} is missing"
            )
        array = np.load(path, mmap_mode="r")
        expected = (self.count, *info.shape)
        if array.shape != expected:
            raise ValueError(
                f"{path} has shape {array.shape} but meta.json says {expected}: rebuild the store"
            )
        return array

    @cached_property
    def index(self) -> pd.DataFrame:
        """The index table without its geometry column (N rows in array order)."""
        path = self.root / "index.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"chip store {self.root} has no index.parquet")
        schema = pq.read_schema(path)
        columns = [name for name in schema.names if name != "geometry"]
        table = pq.read_table(path, columns=columns).to_pandas()
        if len(table) != self.count:
            raise ValueError(
                f"{path} has {len(table)} rows but meta.json counts {self.count} chips"
            )
        return table

    def bounds(self) -> tuple[float, float, float, float]:
        """WGS84 bounds (west, south, east, north) of all footprints."""
        import geopandas as gpd

        footprints = gpd.read_parquet(self.root / "index.parquet", columns=["geometry"])
        west, south, east, north = footprints.to_crs("EPSG:4326").total_bounds
        return float(west), float(south), float(east), float(north)

    def split_indices(self, split: str) -> np.ndarray:
        """Row positions of ``split`` ("train", "val" or "test"), ascending."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
        if "split" not in self.index:
            raise ValueError(f"chip store {self.root} has no split column in index.parquet")
        return np.flatnonzero(self.index["split"].to_numpy() == split)

    @property
    def labels(self) -> np.ndarray:
        """The land-cover class code of every chip (int64)."""
        if "label" not in self.index:
            raise ValueError(f"chip store {self.root} has no label column in index.parquet")
        return self.index["label"].to_numpy().astype(np.int64)

    def to_physical(self, name: str, chips: np.ndarray) -> np.ndarray:
        """Digital numbers -> physical values (``DN * scale + offset``) as float32."""
        info = self.sensor(name)
        values = chips.astype(np.float32)
        if info.scale != 1.0 or info.offset != 0.0:
            values *= np.float32(info.scale)
            values += np.float32(info.offset)
        return values

    def nodata_mask(self, name: str, chips: np.ndarray) -> np.ndarray | None:
        """Where ``chips`` hold the sensor's nodata value, or None when it has none."""
        nodata = self.sensor(name).nodata
        if nodata is None:
            return None
        if isinstance(nodata, float) and np.isnan(nodata):
            return np.isnan(chips)
        return chips == nodata


def open_chip_store(root: str | os.PathLike[str]) -> ChipStore:
    """Open the chip store at ``root`` (checks ``meta.json``; arrays are mapped lazily)."""
    return ChipStore(root)
