"""The land-cover set of use case C: the sample world's 1 m tiles with their per-pixel labels.

Every high-resolution tile of a world is read with its land-cover raster, averaged down to
``size`` pixels (the mask takes each block's most common class) and kept in one ``.npz`` per
profile (:func:`ensure_landcover_set`), in an EOTDL-ready folder (``README.md`` and a STAC
catalog: one label Item per tile, :func:`publish_landcover_set`). Masks follow SCANEO's
convention: 0 = no label, class ``i`` of the legend (0-based) is ``i + 1``. Splits are by
place (the chip store's rule), and :func:`labelled_and_pool` cuts the training split into a
small labelled set and a large pool.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from tqdm.auto import tqdm

from eotdl_tutorials.facts.sensors import HR_BAND_NAMES, HR_SCALE
from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir
from eotdl_tutorials.publish import (
    JSON,
    LABEL_EXTENSION,
    NPZ,
    PARQUET,
    file_asset,
    footprint_item,
    is_published,
    label_properties,
    publish_dataset,
)
from eotdl_tutorials.tiling import place_keys, split_of
from eotdl_tutorials.world import World, ensure_world

SET_FORMAT = "eotdl-tutorials-landcover-set"
#: The split of a set's unlabelled tiles (the pool of real data; their masks are all 0).
UNLABELLED = "unlabelled"
#: Tile size (pixels) of the set in each profile: 384 m tiles seen at 6, 4 and 1 m.
SET_SIZES = {"ci": 64, "default": 96, "full": 384}
#: Columns of the index that place each tile (its date and its footprint in EPSG:4326, WKT).
PLACE_COLUMNS = ("datetime", "footprint")


@dataclass(frozen=True)
class LandCoverSet:
    """Tiles (digital numbers), masks (0 = no label, class ``i`` -> ``i + 1``) and the index.

    ``index`` has one row per tile: ``id``, ``zone``, ``region``, ``split``, the tile's
    ``image`` and ``label`` GeoTIFF paths, its ``datetime`` and ``footprint`` (WKT, EPSG:4326).
    """

    images: np.ndarray  # (N, bands, size, size) uint16 DN (reflectance = DN * dn_scale)
    masks: np.ndarray  # (N, size, size) uint8
    index: pd.DataFrame
    classes: tuple[str, ...]
    bands: tuple[str, ...]
    dn_scale: float

    def __len__(self) -> int:
        return len(self.images)

    @property
    def presence(self) -> np.ndarray:
        """(N, classes) bool: which classes each tile holds (the multi-label target)."""
        codes = np.arange(1, len(self.classes) + 1)
        return (self.masks.reshape(len(self), -1)[:, :, None] == codes).any(axis=1)

    def split(self, name: str) -> np.ndarray:
        """Row positions of ``name`` (train, val, test, or unlabelled: the real pool)."""
        return np.flatnonzero(self.index["split"].to_numpy() == name)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """WGS84 bounds (west, south, east, north) of every tile (None for a set without
        footprints)."""
        if "footprint" not in self.index:
            return None
        footprints = shapely.from_wkt(self.index["footprint"].to_numpy())
        west, south, east, north = shapely.total_bounds(footprints)
        return float(west), float(south), float(east), float(north)

    def reflectance(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """The tiles ``rows`` as float32 reflectance."""
        return self.images[rows].astype(np.float32) * np.float32(self.dn_scale)


def _block_mode(classes: np.ndarray, factor: int, count: int) -> np.ndarray:
    """The most common value of each ``factor`` x ``factor`` block of a class raster."""
    h, w = classes.shape[0] // factor, classes.shape[1] // factor
    blocks = classes[: h * factor, : w * factor].reshape(h, factor, w, factor)
    votes = np.stack([(blocks == c).sum(axis=(1, 3)) for c in range(count)])
    return votes.argmax(axis=0)


def _read_tile(image: Path, label: Path, size: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    with rasterio.open(image) as src:
        dn = src.read()
    with rasterio.open(label) as src:
        classes = src.read(1)
    factor = dn.shape[1] // size
    if factor < 1 or dn.shape[1] != size * factor or dn.shape[2] != size * factor:
        raise ValueError(f"{image} is {dn.shape[1]}x{dn.shape[2]} px: not a multiple of {size}")
    mean = dn.reshape(dn.shape[0], size, factor, size, factor).mean(axis=(2, 4))
    return np.round(mean).astype(np.uint16), _block_mode(classes, factor, count).astype(np.uint8)


def tile_files(world: World) -> pd.DataFrame:
    """The world's 1 m tiles: ``id``, ``zone``, ``region``, ``split``, ``image``, ``label``,
    ``datetime``, ``footprint`` (WKT, EPSG:4326)."""
    index = pd.read_parquet(world.earthview_index, columns=["id", "json_path", "zone", "region"])
    rows = []
    for row in index.itertuples():
        item = json.loads((world.earthview_index.parent / row.json_path).read_text())
        rows.append(
            {
                "id": row.id,
                "zone": row.zone,
                "region": row.region,
                "image": item["assets"]["analytic"]["href"],
                "label": item["assets"]["landcover"]["href"],
                "datetime": item["properties"]["datetime"],
                "footprint": shapely.geometry.shape(item["geometry"]).wkt,
            }
        )
    frame = pd.DataFrame(rows)
    frame.insert(3, "split", [split_of(key) for key in place_keys(frame)])
    return frame


def tile_mask(label: str | os.PathLike[str]) -> np.ndarray:
    """A 1 m land-cover raster at full size in SCANEO's convention (0 = no label, ``i + 1``)."""
    with rasterio.open(label) as src:
        return src.read(1).astype(np.uint8) + 1


def build_landcover_set(
    world: World, size: int, classes: tuple[str, ...], progress: bool = True
) -> LandCoverSet:
    """Read every 1 m tile of ``world`` and its land-cover raster at ``size`` pixels."""
    files = tile_files(world)
    if files.empty:
        raise ValueError(f"the world in {world.root} has no 1 m tiles")
    images, masks = [], []
    for row in tqdm(files.itertuples(), total=len(files), desc="tiles", disable=not progress):
        dn, codes = _read_tile(Path(row.image), Path(row.label), size, len(classes))
        images.append(dn)
        masks.append(codes + 1)  # SCANEO: 0 = no label, legend class i -> i + 1
    bands = HR_BAND_NAMES
    return LandCoverSet(np.stack(images), np.stack(masks), files, classes, bands, HR_SCALE)


def landcover_set_dir(profile: str) -> Path:
    """``data_dir()/datasets/landcover-{profile}``: where :func:`ensure_landcover_set` keeps it."""
    return data_dir() / "datasets" / f"landcover-{check_profile(profile)}"


def save_landcover_set(dataset: LandCoverSet, folder: str | os.PathLike[str]) -> Path:
    """Write ``arrays.npz``, ``index.parquet``, the EOTDL ``README.md`` and STAC catalog
    (:func:`publish_landcover_set`) and, last, ``meta.json`` into ``folder``."""
    folder = Path(folder)
    (folder / "meta.json").unlink(missing_ok=True)  # the set is incomplete until meta.json
    with atomic_path(folder / "arrays.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, images=dataset.images, masks=dataset.masks)
    with atomic_path(folder / "index.parquet") as tmp:
        dataset.index.to_parquet(tmp, index=False)
    meta = {
        "format": SET_FORMAT,
        "classes": list(dataset.classes),
        "bands": list(dataset.bands),
        "dn_scale": dataset.dn_scale,
        "count": len(dataset),
        "mask_convention": "0 = no label, class i of 'classes' (0-based) = i + 1",
    }
    publish_landcover_set(folder, dataset)
    write_json(folder / "meta.json", meta)
    return folder


def publish_landcover_set(folder: str | os.PathLike[str], dataset: LandCoverSet) -> Path:
    """Write the set's ``README.md`` and STAC catalog: ``{name}-tiles``, one Item per tile
    (footprint, date, split, the label extension's fields for its mask), and ``{name}-arrays``,
    one Item whose assets are ``arrays.npz``, ``index.parquet`` and ``meta.json``. Returns the
    catalog's path."""
    missing = [c for c in PLACE_COLUMNS if c not in dataset.index]
    if missing:
        raise ValueError(
            f"the land-cover set's index has no {', '.join(missing)} column: rebuild it "
            "(delete its folder and call ensure_landcover_set)"
        )
    size = dataset.images.shape[-1]
    labels = label_properties(
        dataset.classes,
        f"Land-cover mask of the tile at {size} px: 0 = no label, class i of "
        "label:classes (0-based) = i + 1 (row 'eotdl_tutorials:row' of masks in arrays.npz)",
    )
    items = [
        footprint_item(
            row.id,
            shapely.from_wkt(row.footprint),
            row.datetime,
            {
                "eotdl_tutorials:row": position,
                "eotdl_tutorials:split": row.split,
                "eotdl_tutorials:region": row.region,
            }
            | labels,
            extensions=[LABEL_EXTENSION],
        )
        for position, row in enumerate(dataset.index.itertuples(index=False))
    ]
    bands = ", ".join(dataset.bands)
    arrays = {
        "arrays": file_asset(
            "arrays.npz",
            NPZ,
            f"images (N, {len(dataset.bands)}, {size}, {size}) uint16 ({bands}; reflectance = "
            f"DN * {dataset.dn_scale:g}) and masks (N, {size}, {size}) uint8",
        ),
        "index": file_asset("index.parquet", PARQUET, "one row per tile", "metadata"),
        "meta": file_asset("meta.json", JSON, "classes, bands and scale", "metadata"),
    }
    return publish_dataset(
        folder,
        f"The land-cover set of the eotdl-tutorials course (use case C): {len(dataset)} 1 m "
        f"tiles seen at {size} px ({bands}) with their per-pixel land cover "
        f"({', '.join(dataset.classes)}), split by place. `arrays.npz` holds the images and "
        "masks (0 = no label, class i = i + 1), `index.parquet` one row per tile (split, place, "
        "footprint), `meta.json` the classes, bands and scale.",
        items,
        "tiles",
        arrays,
        summaries={"label:classes": [{"name": None, "classes": list(dataset.classes)}]},
    )


def open_landcover_set(folder: str | os.PathLike[str]) -> LandCoverSet:
    """Read a set written by :func:`save_landcover_set`."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"{folder} holds no land-cover set (meta.json is missing)")
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != SET_FORMAT:
        raise ValueError(f"{folder / 'meta.json'} is not a land-cover set")
    arrays = np.load(folder / "arrays.npz")
    return LandCoverSet(
        arrays["images"],
        arrays["masks"],
        pd.read_parquet(folder / "index.parquet"),
        tuple(meta["classes"]),
        tuple(meta["bands"]),
        float(meta["dn_scale"]),
    )


def ensure_landcover_set(profile: str = "ci", progress: bool = True) -> LandCoverSet:
    """The land-cover set of ``profile``'s sample world, built (world first) when missing or
    written by an older version of the course (no EOTDL ``README.md``, no footprints). In the
    ``full`` profile, the set notebook C1 built from real labels, or a FileNotFoundError saying
    how to build it (never a sample world)."""
    from eotdl_tutorials.facts.classes import CLASSES

    folder = landcover_set_dir(profile)
    if WORLD_PROFILE[profile] is None:
        if not (folder / "meta.json").is_file():
            raise FileNotFoundError(
                f"the {profile} profile trains on real labels and there is no land-cover set in "
                f"{folder}: run C1 first with -p profile {profile} -p scaneo_dir FOLDER (a SCANEO "
                "export: spai.json and one GeoJSON per image); see book/real-data.md"
            )
        return open_landcover_set(folder)
    if (folder / "meta.json").is_file() and not is_published(folder):
        dataset = open_landcover_set(folder)
        if all(c in dataset.index for c in PLACE_COLUMNS):
            publish_landcover_set(folder, dataset)
        else:
            (folder / "meta.json").unlink()  # rebuilt below, with the tiles' footprints
    if not (folder / "meta.json").is_file():
        world = ensure_world(WORLD_PROFILE[profile], progress=progress)
        dataset = build_landcover_set(world, SET_SIZES[profile], tuple(CLASSES), progress)
        save_landcover_set(dataset, folder)
    return open_landcover_set(folder)


@dataclass(frozen=True)
class Split:
    """Row positions: the labelled training tiles, the pool (training tiles whose labels are
    held back: what active learning may ask for), validation, test, and the tiles that have no
    label at all (real data's unlabelled pool; none in a sample world's set)."""

    labelled: np.ndarray
    pool: np.ndarray
    val: np.ndarray
    test: np.ndarray
    unlabelled: np.ndarray = field(default_factory=lambda: np.array([], dtype=int))


def labelled_and_pool(dataset: LandCoverSet, labelled: int | None, seed: int = 0) -> Split:
    """``labelled`` random tiles of the training split as the labelled set, the rest as the pool
    (the training split must hold more than ``labelled`` tiles); ``None``: every training tile
    labelled, the pool empty."""
    train = dataset.split("train")
    unlabelled = dataset.split(UNLABELLED)
    if labelled is None:
        if not len(train):
            raise ValueError("the training split holds no tile: label more places")
        empty = np.array([], dtype=int)
        return Split(train, empty, dataset.split("val"), dataset.split("test"), unlabelled)
    if not 0 < labelled < len(train):
        raise ValueError(
            f"asked for {labelled} labelled tiles but the training split has {len(train)}: "
            "ask for fewer (at least one tile must stay in the pool)"
        )
    chosen = np.random.default_rng(seed).permutation(train)
    return Split(
        np.sort(chosen[:labelled]),
        np.sort(chosen[labelled:]),
        dataset.split("val"),
        dataset.split("test"),
        unlabelled,
    )
