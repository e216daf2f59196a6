"""The aerial road dataset of use case D, laid out as the Massachusetts Roads release is.

The real starting point (Mnih's Massachusetts Roads, as Kaggle and EOTDL distribute it) is one
folder of 1 m aerial images and road masks, already split::

    tiff/train/<id>.tiff        tiff/train_labels/<id>.tif
    tiff/val/<id>.tiff          tiff/val_labels/<id>.tif
    tiff/test/<id>.tiff         tiff/test_labels/<id>.tif
    metadata.csv                label_class_dict.csv

(images ``.tiff``, RGB; labels ``.tif``, one band, 0 = background, 255 = road; copies that were
resampled or saved lossy hold values in between: a pixel above :data:`ROAD_ABOVE` is road, and
:func:`read_aerial_roads` warns how many masks it read that way). The sample world
writes the same layout with :func:`write_aerial_roads`: its 1 m road images as they are, a mask
rasterised from the world's road centre lines buffered to their width, every file a georeferenced
GeoTIFF, the split by place (whole regions held out, :func:`place_splits`), and, which the real
release lacks, the road vectors themselves (``roads.gpkg``: centre lines with ``kind`` and
``width`` in metres). :func:`read_aerial_roads` reads any folder in this layout (the real one
included) and says what is missing when it is incomplete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.features import rasterize
from tqdm.auto import tqdm

from eotdl_tutorials.facts.datasets import ROADS_CLASSES_NAME as CLASSES_NAME
from eotdl_tutorials.facts.datasets import ROADS_IMAGE_SUFFIX as IMAGE_SUFFIX
from eotdl_tutorials.facts.datasets import ROADS_LABEL_SUFFIX as LABEL_SUFFIX
from eotdl_tutorials.facts.datasets import ROADS_METADATA_NAME as METADATA_NAME
from eotdl_tutorials.facts.datasets import ROADS_SPLIT_FOLDERS as SPLIT_FOLDERS
from eotdl_tutorials.facts.datasets import ROADS_VALUE as ROAD_VALUE
from eotdl_tutorials.files import check_writable, write_json
from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir
from eotdl_tutorials.world import World, ensure_world
from eotdl_tutorials.world.spec import ROAD_TEST_REGIONS as TEST_REGIONS

#: A mask pixel above this is road (the release's masks are 0 and 255).
ROAD_ABOVE = 127
#: The course's road vectors, which the real release lacks.
ROADS_NAME = "roads.gpkg"
#: Written last by :func:`write_aerial_roads`: the folder is complete when it exists.
MARKER_NAME = "dataset.json"
AERIAL_FORMAT = "eotdl-tutorials-aerial-roads"


class AerialRoadsError(ValueError):
    """An aerial road folder that is not in the Massachusetts Roads layout, or incomplete."""


@dataclass(frozen=True)
class AerialRoads:
    """An aerial road dataset read from its folder.

    ``index``: one row per image (``id``, ``split``, ``region``, ``image``, ``label``, ``epsg``,
    ``minx``..``maxy`` in the image's CRS, ``width``, ``height``, ``gsd``); ``roads``: the road
    vectors file, or ``None`` (the real release has none); ``meta``: ``dataset.json`` when the
    course wrote the folder.
    """

    root: Path
    index: pd.DataFrame
    roads: Path | None
    meta: dict

    def read_roads(self) -> gpd.GeoDataFrame:
        """The road centre lines with their ``width`` (metres), in EPSG:4326."""
        if self.roads is None:
            raise AerialRoadsError(
                f"{self.root} has no road vectors ({ROADS_NAME}): the vector-width transfer needs "
                "centre lines with a 'width' column"
            )
        return gpd.read_file(self.roads)


def aerial_roads_dir(profile: str) -> Path:
    """``data_dir()/datasets/roads-aerial-<profile>``: where :func:`ensure_aerial_roads` writes."""
    return data_dir() / "datasets" / f"roads-aerial-{check_profile(profile)}"


def place_splits(
    regions: Sequence[str], test_regions: Sequence[str], valid_regions: Sequence[str] = ()
) -> np.ndarray:
    """``train``/``valid``/``test`` of each image by its region: test places are never seen."""
    regions = np.asarray(regions, dtype=object)
    known = set(regions)
    unknown = [r for r in (*test_regions, *valid_regions) if r not in known]
    if unknown:
        raise ValueError(
            f"no road images in regions {', '.join(unknown)} (regions: {', '.join(sorted(known))})"
        )
    split = np.full(len(regions), "train", dtype=object)
    split[np.isin(regions, list(valid_regions))] = "valid"
    split[np.isin(regions, list(test_regions))] = "test"
    if not (split == "train").any() or not (split == "test").any():
        raise ValueError("the split needs road images both to train on and to test on")
    return split


def road_mask(roads: gpd.GeoDataFrame, profile: dict) -> np.ndarray:
    """Road centre lines (``width`` in metres) buffered to half their width and burnt onto the
    grid of a raster ``profile`` (crs, transform, width, height): uint8, 0 or 255."""
    shape = (profile["height"], profile["width"])
    bounds = rasterio.transform.array_bounds(*shape, profile["transform"])
    local = roads.to_crs(profile["crs"])
    local = local[local.intersects(shapely.box(*bounds).buffer(float(local["width"].max())))]
    if local.empty:
        return np.zeros(shape, np.uint8)
    surfaces = shapely.buffer(local.geometry.values, local["width"].to_numpy() / 2)
    return rasterize(
        ((g, ROAD_VALUE) for g in surfaces if not g.is_empty),
        out_shape=shape,
        transform=profile["transform"],
        dtype="uint8",
    )


def _world_key(world: World) -> dict:
    """What identifies the world a folder was written from (a rebuilt world is another one)."""
    keys = ("format_version", "profile", "seed", "counts")
    return {"root": str(world.root), **{k: world.manifest.get(k) for k in keys}}


def write_aerial_roads(
    world: World,
    out_dir: str | os.PathLike[str],
    test_regions: Sequence[str] = TEST_REGIONS,
    valid_regions: Sequence[str] = (),
    progress: bool = True,
) -> Path:
    """Write the road images of ``world`` in the Massachusetts Roads layout (module docstring).

    The folder is written under a temporary name and renamed when complete, replacing an older
    copy: an interrupted run leaves nothing half-written under ``out_dir``.
    """
    out_dir = Path(out_dir)
    pairs = pd.read_parquet(world.root / "roads" / "images.parquet")
    if pairs.empty:
        raise ValueError(f"the world in {world.root} has no road images")
    splits = place_splits(pairs["region"], test_regions, valid_regions)
    roads = gpd.read_parquet(world.root / "roads" / "roads.parquet")
    check_writable(out_dir.parent)
    tmp = out_dir.with_name(f".{out_dir.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        for split in SPLIT_FOLDERS.values():
            (tmp / "tiff" / split).mkdir(parents=True)
            (tmp / "tiff" / f"{split}_labels").mkdir()
        rows = []
        bar = tqdm(pairs.itertuples(), total=len(pairs), desc="aerial images", disable=not progress)
        for pair, split in zip(bar, splits, strict=True):
            folder = SPLIT_FOLDERS[split]
            image = Path("tiff") / folder / f"{pair.id}{IMAGE_SUFFIX}"
            label = Path("tiff") / f"{folder}_labels" / f"{pair.id}{LABEL_SUFFIX}"
            shutil.copyfile(pair.image, tmp / image)
            with rasterio.open(pair.image) as src:
                profile = src.profile
            mask_profile = {
                "driver": "GTiff",
                "dtype": "uint8",
                "count": 1,
                "nodata": None,
                "compress": "deflate",
                "tiled": True,
                **{k: profile[k] for k in ("crs", "transform", "width", "height")},
            }
            with rasterio.open(tmp / label, "w", **mask_profile) as dst:
                dst.write(road_mask(roads, profile), 1)
            rows.append(
                {
                    "image_id": pair.id,
                    "split": folder,
                    "tiff_image_path": image.as_posix(),
                    "tif_label_path": label.as_posix(),
                    "region": pair.region,
                }
            )
        pd.DataFrame(rows).to_csv(tmp / METADATA_NAME, index=False)
        classes = pd.DataFrame(
            {"name": ["background", "road"], "r": [0, 255], "g": [0, 255], "b": [0, 255]}
        )
        classes.to_csv(tmp / CLASSES_NAME, index=False)
        regions = set(pairs["region"])
        roads[roads["region"].isin(regions)].to_file(tmp / ROADS_NAME, driver="GPKG")
        meta = {
            "format": AERIAL_FORMAT,
            "world": _world_key(world),
            "test_regions": list(test_regions),
            "valid_regions": list(valid_regions),
            "images": len(rows),
        }
        write_json(tmp / MARKER_NAME, meta)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out_dir


def ensure_aerial_roads(
    profile: str,
    test_regions: Sequence[str] = TEST_REGIONS,
    valid_regions: Sequence[str] = (),
    progress: bool = True,
) -> AerialRoads:
    """The aerial road dataset of ``profile``'s sample world in :func:`aerial_roads_dir`,
    written first if missing, incomplete, from another world or split differently."""
    world_profile = WORLD_PROFILE[check_profile(profile)]
    if world_profile is None:
        raise ValueError(
            f"the {profile} profile reads the real Massachusetts Roads release: download it and "
            "pass its folder to read_aerial_roads"
        )
    folder = aerial_roads_dir(profile)
    world = ensure_world(world_profile, progress=progress)
    wanted = {
        "world": _world_key(world),
        "test_regions": list(test_regions),
        "valid_regions": list(valid_regions),
    }
    if (folder / MARKER_NAME).is_file():
        try:
            aerial = read_aerial_roads(folder)
        except AerialRoadsError:
            aerial = None
        if aerial is not None and all(aerial.meta.get(k) == v for k, v in wanted.items()):
            return aerial
    write_aerial_roads(world, folder, test_regions, valid_regions, progress)
    return read_aerial_roads(folder)


class GradedMasks(UserWarning):
    """Road masks hold values other than 0 and 255: read as road above :data:`ROAD_ABOVE`."""


def is_road(mask: np.ndarray) -> np.ndarray:
    """Road pixels of a Massachusetts mask: above :data:`ROAD_ABOVE` (0/255 masks, and masks
    with values in between, as resampled or lossy copies have)."""
    return mask > ROAD_ABOVE


def _grid(path: Path) -> dict:
    try:
        with rasterio.open(path) as src:
            crs, transform, width, height = src.crs, src.transform, src.width, src.height
            count, values = src.count, None
            if path.suffix == LABEL_SUFFIX:
                values = src.read(1, out_shape=(min(height, 256), min(width, 256)))
    except rasterio.errors.RasterioIOError as err:
        raise AerialRoadsError(f"{path} cannot be read as a GeoTIFF: {err}") from None
    if crs is None or transform.is_identity:
        raise AerialRoadsError(
            f"{path} is not georeferenced (no CRS or geotransform): the Sentinel-2 search needs "
            "each image's footprint; use a georeferenced copy of the dataset"
        )
    graded = values is not None and not np.isin(values, (0, ROAD_VALUE)).all()
    left, bottom, right, top = rasterio.transform.array_bounds(height, width, transform)
    return {
        "epsg": crs.to_epsg(),
        "minx": left,
        "miny": bottom,
        "maxx": right,
        "maxy": top,
        "width": width,
        "height": height,
        "gsd": abs(transform.a),
        "count": count,
        "graded": graded,
    }


def read_aerial_roads(folder: str | os.PathLike[str]) -> AerialRoads:
    """Read a folder in the Massachusetts Roads layout (module docstring): every image with its
    label, footprint and split; a clear :class:`AerialRoadsError` if a part is missing."""
    root = Path(folder)
    if not (root / "tiff").is_dir():
        raise AerialRoadsError(
            f"{root} is not a Massachusetts Roads folder: it has no tiff/ folder (expected "
            "tiff/train, tiff/train_labels, tiff/val, ..., tiff/test_labels)"
        )
    meta_path = root / MARKER_NAME
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    regions = {}
    if (root / METADATA_NAME).is_file():
        metadata = pd.read_csv(root / METADATA_NAME)
        if "region" in metadata:
            regions = dict(zip(metadata["image_id"].astype(str), metadata["region"], strict=True))
    folders = [f"tiff/{n}{suffix}" for n in SPLIT_FOLDERS.values() for suffix in ("", "_labels")]
    missing = [folder for folder in folders if not (root / folder).is_dir()]
    if missing:
        raise AerialRoadsError(f"{root} is incomplete: no {', '.join(missing)} folder")
    rows, graded = [], 0
    for split, name in SPLIT_FOLDERS.items():
        images_dir, labels_dir = root / "tiff" / name, root / "tiff" / f"{name}_labels"
        images = {p.stem: p for p in images_dir.glob(f"*{IMAGE_SUFFIX}")}
        labels = {p.stem: p for p in labels_dir.glob(f"*{LABEL_SUFFIX}")}
        unpaired = sorted(set(images) ^ set(labels))
        if unpaired:
            raise AerialRoadsError(
                f"{root} is incomplete: in {name}, {len(unpaired)} images or labels have no "
                f"partner (e.g. {unpaired[0]}); every tiff/{name}/<id>{IMAGE_SUFFIX} needs "
                f"tiff/{name}_labels/<id>{LABEL_SUFFIX}"
            )
        for stem in sorted(images):
            image, label = _grid(images[stem]), _grid(labels[stem])
            if image["count"] != 3:
                raise AerialRoadsError(f"{images[stem]} has {image['count']} bands, not RGB")
            same = ("epsg", "minx", "miny", "maxx", "maxy", "width", "height")
            if any(image[k] != label[k] for k in same):
                raise AerialRoadsError(f"{labels[stem]} is not on the grid of {images[stem]}")
            image.pop("count"), image.pop("graded")
            graded += label["graded"]
            rows.append(
                {
                    "id": stem,
                    "split": split,
                    "region": regions.get(stem, "unknown"),
                    "image": str(images[stem]),
                    "label": str(labels[stem]),
                    **image,
                }
            )
    if not rows:
        raise AerialRoadsError(f"{root} holds no images in tiff/train, tiff/val or tiff/test")
    if graded:
        warnings.warn(
            GradedMasks(
                f"{graded} of the {len(rows)} road masks in {root} hold values other than 0 and "
                f"{ROAD_VALUE} (a resampled or lossy copy): a pixel above {ROAD_ABOVE} is read "
                "as road"
            ),
            stacklevel=2,
        )
    roads = root / ROADS_NAME
    return AerialRoads(root, pd.DataFrame(rows), roads if roads.is_file() else None, meta)
