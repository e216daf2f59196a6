"""The road dataset of use case D: 1 m road labels matched with Sentinel-2 and moved to 10 m.

The starting point is an aerial road dataset in the Massachusetts Roads layout (:mod:`.aerial`:
1 m images and road masks in train/val/test folders, and, from the sample world only, the road
centre lines with their widths). :func:`build_road_dataset`

1. reads each image's footprint from its file (rasterio) and matches it with a cloud-free
   Sentinel-2 scene of the sample world's catalogue or of a real STAC API (the use case A
   matcher, :func:`eotdl_tutorials.matching.match`; EOTDL's date window by default);
2. cuts the Sentinel-2 chip on the footprint (windowed reads, one open file per band and scene,
   the DN offset each item declares);
3. transfers the folder's labels to the 10 m grid (:mod:`.transfer`; ``vector_width`` only
   where the folder has road vectors);
4. keeps the folder's split (by place: whole regions held out) and caches everything in one
   EOTDL-ready folder (``README.md`` and a STAC catalog: one label Item per chip,
   :func:`publish_road_dataset`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from tqdm.auto import tqdm

from eotdl_tutorials.facts.grids import utm_epsg
from eotdl_tutorials.facts.sensors import S2_BANDS, S2_L2A_SCALE
from eotdl_tutorials.files import atomic_path, check_writable, write_json
from eotdl_tutorials.matching import MatchResult, match
from eotdl_tutorials.matching.rasters import ChipGrid, read_chip, source_pixels
from eotdl_tutorials.matching.scenes import ScenesSource
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
from eotdl_tutorials.roads.aerial import (
    TEST_REGIONS,
    AerialRoads,
    ensure_aerial_roads,
    read_aerial_roads,
)
from eotdl_tutorials.roads.transfer import (
    DEFAULT_FRACTION_THRESHOLD,
    fraction_labels,
    nearest_labels,
    road_fraction,
    vector_labels,
)
from eotdl_tutorials.stac import href_signer, needs_signing
from eotdl_tutorials.tiling import SPLIT_BLOCK_M
from eotdl_tutorials.world import World, ensure_world
from eotdl_tutorials.world.catalog import EXTENSIONS

S2_COLLECTION = "sentinel-2-l2a"
PROJECTION_EXTENSION = EXTENSIONS["proj"]
#: The classes of a road mask, in the order of their values (0 = background, 1 = road).
ROAD_CLASSES = ("background", "road")
#: Bands a road model can read: the three visible bands, or every 10 m and 20 m band.
RGB_BANDS = ("red", "green", "blue")
S2_10_20M_BANDS = tuple(b.common_name for b in S2_BANDS if b.gsd in (10, 20))
BAND_SETS = {"rgb": RGB_BANDS, "10m+20m": S2_10_20M_BANDS}
#: EOTDL searches a Sentinel-2 scene 30 days either side of one summer day for every image (it
#: uses 2020-08-01; the sample world's summer is 2022): the matcher's window is the total width.
ROAD_DATE = "2022-08-01"
ROAD_TIME_BUFFER_DAYS = 60.0
#: Largest share of cloud pixels (SCL) allowed inside a chip.
ROAD_MAX_CLOUD_PERCENT = 1.0
#: Why a transfer may be missing from a dataset: what it needs that the folder lacks.
VECTORS_MISSING = (
    "the aerial folder has no road vectors (roads.gpkg), as the Massachusetts Roads release "
    "has none"
)
DATASET_VERSION = 3
META_NAME, INDEX_NAME, ARRAYS_NAME = "meta.json", "index.parquet", "arrays.npz"


@dataclass(frozen=True)
class SceneFiles:
    """The files of one Sentinel-2 scene: ``hrefs`` (band common name -> COG) and the offset of
    its digital numbers (reflectance = DN x 1e-4 + ``reflectance_offset``)."""

    hrefs: dict[str, str]
    reflectance_offset: float


@dataclass
class RoadDataset:
    """Sentinel-2 chips of road images and their 10 m labels, in memory.

    ``images``: (N, bands, H, W) float32 reflectance (NaN where the scene has no data);
    ``fraction``: (N, H, W) road share of each 10 m pixel; ``labels``: transfer name ->
    (N, H, W) uint8; ``index``: one row per chip (``id``, ``region``, ``split``, ``item``,
    ``item_datetime``, ``dt_days``, ``epsg``, ``minx``..``maxy``, ``image``, ``mask``).
    """

    images: np.ndarray
    fraction: np.ndarray
    labels: dict[str, np.ndarray]
    index: pd.DataFrame
    bands: tuple[str, ...]
    meta: dict

    def scene(self, item: str) -> SceneFiles:
        """The band files of matched scene ``item`` (hrefs signed again where they were)."""
        scenes = self.meta.get("scenes", {})
        if item not in scenes:
            raise ValueError(f"{item} is not a scene of the road dataset")
        hrefs = scenes[item]["hrefs"]
        if self.meta.get("signed"):
            sign = href_signer()
            hrefs = {band: sign(href) for band, href in hrefs.items()}
        return SceneFiles(hrefs, float(scenes[item]["reflectance_offset"]))

    def usable_transfers(self, wanted: Sequence[str]) -> tuple[list[str], str]:
        """The transfers of ``wanted`` this dataset has, and a sentence on those it lacks (empty
        when none is missing); ValueError when it has none of them."""
        missing = self.meta.get("missing_transfers", {})
        usable = [t for t in wanted if t in self.labels]
        dropped = [t for t in wanted if t not in self.labels]
        if not usable:
            raise ValueError(
                f"the road dataset has none of the label transfers {list(wanted)} (it has "
                f"{', '.join(self.labels)}): pass transfers={list(self.labels)[:2]}"
            )
        note = "; ".join(f"{t} left out: {missing.get(t, 'not in the dataset')}" for t in dropped)
        return usable, note

    def split(self, name: str) -> np.ndarray:
        """Row numbers of split ``name`` (``train``, ``valid`` or ``test``)."""
        rows = np.flatnonzero(self.index["split"].to_numpy() == name)
        if rows.size == 0:
            raise ValueError(
                f"the road dataset has no {name!r} chips (splits: "
                f"{', '.join(sorted(set(self.index['split'])))})"
            )
        return rows

    def band_positions(self, bands: Sequence[str]) -> list[int]:
        """Positions of ``bands`` in :attr:`images`, with a clear error for unknown ones."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise ValueError(
                f"the road dataset has no bands {', '.join(missing)} (it has "
                f"{', '.join(self.bands)})"
            )
        return [self.bands.index(b) for b in bands]

    def bounds(self) -> tuple[float, float, float, float]:
        """WGS84 bounds (west, south, east, north) of every chip."""
        west, south, east, north = shapely.GeometryCollection(
            chip_footprints(self.index.reset_index(drop=True))
        ).bounds
        return float(west), float(south), float(east), float(north)

    def places(self, rows: np.ndarray) -> np.ndarray:
        """The place of each chip of ``rows``, as the course's splits define places
        (:func:`~eotdl_tutorials.tiling.place_keys`): the ``SPLIT_BLOCK_M`` block of its UTM
        zone that its centre lies in (``epsg/column_row``; a block is twice the distance over
        which land cover is correlated). Intervals over places draw a block's chips together,
        also within one held-out region."""
        chips = self.index.iloc[rows].reset_index(drop=True)
        centres = shapely.centroid(np.asarray(chip_footprints(chips), dtype=object))
        lon, lat = shapely.get_x(centres), shapely.get_y(centres)
        keys = np.empty(len(chips), dtype=object)
        zones = utm_epsg(lon, lat)
        for zone in np.unique(zones):
            at = zones == zone
            x, y = Transformer.from_crs(4326, int(zone), always_xy=True).transform(lon[at], lat[at])
            blocks = np.floor(np.stack([x, y]) / SPLIT_BLOCK_M).astype(int)
            keys[at] = [f"{zone}/{column}_{row}" for column, row in blocks.T]
        return keys.astype(str)

    def interval_places(self, rows: np.ndarray) -> tuple[np.ndarray | None, str]:
        """What intervals over chips ``rows`` draw: their :meth:`places`, or None when all lie
        in one place (its images are drawn then: one place alone gives no spread), and that
        in words."""
        places = self.places(rows)
        if len(set(places)) > 1:
            return places, f"{len(set(places))} places"
        return None, f"{len(places)} images of 1 place"

    def grid(self, row: int) -> ChipGrid:
        """The 10 m grid of chip ``row``."""
        r = self.index.iloc[row]
        size = self.images.shape[-1], self.images.shape[-2]
        return ChipGrid(int(r["epsg"]), (r["minx"], r["miny"], r["maxx"], r["maxy"]), *size)


def road_footprints(aerial: AerialRoads, around: str = ROAD_DATE) -> gpd.GeoDataFrame:
    """The images of an aerial road dataset as footprints for the matcher: EPSG:4326 geometry
    from each file's bounds and CRS (read with rasterio), ``epsg`` of its grid, ``datetime`` =
    ``around`` (the images carry no date, as in EOTDL), ``split``, ``region`` and the files."""
    index = aerial.index
    geometry = np.empty(len(index), dtype=object)
    for epsg, rows in index.groupby("epsg").groups.items():
        frame = index.loc[rows]
        boxes = shapely.box(frame["minx"], frame["miny"], frame["maxx"], frame["maxy"])
        geometry[index.index.get_indexer(rows)] = gpd.GeoSeries(boxes, crs=int(epsg)).to_crs(4326)
    return gpd.GeoDataFrame(
        {
            "id": index["id"],
            "datetime": pd.Timestamp(around, tz="UTC"),
            "epsg": index["epsg"].astype("int64"),
            "region": index["region"],
            "split": index["split"],
            "hr_href": index["image"],
            "mask": index["label"],
        },
        geometry=list(geometry),
        crs=4326,
    )


def _chip_grid(best: pd.Series, gsd: float = 10.0) -> ChipGrid:
    w, h = int(best["window_width_px"]), int(best["window_height_px"])
    cx, cy = float(best["window_cx"]), float(best["window_cy"])
    bounds = (cx - w * gsd / 2, cy - h * gsd / 2, cx + w * gsd / 2, cy + h * gsd / 2)
    return ChipGrid(int(best["grid_epsg"]), bounds, w, h)


def read_s2_chips(
    matches: MatchResult, bands: Sequence[str], progress: bool = True
) -> tuple[np.ndarray, list[ChipGrid]]:
    """Reflectance chips (N, bands, H, W) of every matched footprint, NaN where no data; the
    band files of one scene are opened once for all the footprints that use it."""
    best = matches.best.reset_index(drop=True)
    scenes = matches.scenes.set_index("id")
    grids = [_chip_grid(row) for _, row in best.iterrows()]
    sizes = {(g.height, g.width) for g in grids}
    if len(sizes) != 1:
        raise ValueError(f"road images of different sizes on the 10 m grid: {sorted(sizes)}")
    chips = np.full((len(best), len(bands), *sizes.pop()), np.nan, np.float32)
    bar = tqdm(total=len(best), desc="Sentinel-2 chips", unit="chip", disable=not progress)
    for item, rows in best.groupby("s2_item", observed=True).groups.items():
        scene = scenes.loc[item]
        offset = float(scene.get("reflectance_offset", 0.0) or 0.0)
        for b, band in enumerate(bands):
            with rasterio.open(scene["assets"][band]) as src:
                for row in rows:
                    grid = grids[row]
                    dn = read_chip(src, grid, [1], pixels=source_pixels(src, grid))[0]
                    values = dn.astype(np.float32) * S2_L2A_SCALE + offset
                    chips[row, b] = np.where(dn == (src.nodata or 0), np.nan, values)
        bar.update(len(rows))
    bar.close()
    return chips, grids


def _source_key(source: World | ScenesSource) -> dict:
    """What identifies the scenes searched (a rebuilt world is another one)."""
    if isinstance(source, World):
        return {"world": str(source.root), "world_counts": source.manifest.get("counts")}
    return {"source": str(source)}


def _scene_files(matches: MatchResult, signed: bool) -> dict[str, dict]:
    """The band files and offset of every chosen scene (hrefs without their SAS token)."""
    scenes = matches.scenes.set_index("id")
    files = {}
    for item in matches.best["s2_item"].dropna().unique():
        scene = scenes.loc[str(item)]
        hrefs = {b.common_name: scene["assets"][b.common_name] for b in S2_BANDS}
        if signed:
            hrefs = {band: href.split("?", 1)[0] for band, href in hrefs.items()}
        offset = float(scene.get("reflectance_offset", 0.0) or 0.0)
        files[str(item)] = {"hrefs": hrefs, "reflectance_offset": offset}
    return files


def build_road_dataset(
    aerial: AerialRoads | str | os.PathLike[str],
    source: World | ScenesSource,
    out_dir: str | os.PathLike[str],
    around: str = ROAD_DATE,
    time_buffer_days: float = ROAD_TIME_BUFFER_DAYS,
    fraction_threshold: float = DEFAULT_FRACTION_THRESHOLD,
    sign: bool | None = None,
    progress: bool = True,
) -> RoadDataset:
    """Match the images of the ``aerial`` road dataset (a folder in the Massachusetts Roads
    layout, :mod:`.aerial`) with the Sentinel-2 scenes of ``source`` (a sample world's catalogue,
    or a STAC API URL or items file, as :func:`~eotdl_tutorials.matching.match` takes, ``sign``
    as it does), cut the chips and transfer the labels (see the module docstring); the splits are
    the folder's. Without road vectors there are no ``vector_width`` labels (the dataset's
    ``missing_transfers`` says so). Reuse the copy in ``out_dir`` when it was built from the same
    folder with the same parameters."""
    if not isinstance(aerial, AerialRoads):
        aerial = read_aerial_roads(aerial)
    out_dir = Path(out_dir)
    params = {
        "aerial": str(aerial.root),
        "aerial_meta": aerial.meta,
        "images": aerial.index["id"].tolist(),
        **_source_key(source),
        "around": around,
        "time_buffer_days": time_buffer_days,
        "fraction_threshold": fraction_threshold,
        "version": DATASET_VERSION,
    }
    if (out_dir / META_NAME).is_file():
        cached = read_road_dataset(out_dir)
        if cached.meta.get("params") == params:
            if not is_published(out_dir):  # written by an older version of the course
                publish_road_dataset(cached, out_dir)
            return cached
    check_writable(out_dir)
    footprints = road_footprints(aerial, around)
    if not (footprints["split"] == "train").any() or not (footprints["split"] == "test").any():
        raise ValueError(f"{aerial.root} needs images both in tiff/train and in tiff/test")
    scenes = source.items_parquet if isinstance(source, World) else source
    matches = match(
        footprints,
        scenes,
        collections=[S2_COLLECTION],
        time_buffer_days=time_buffer_days,
        scl_max_cloud=ROAD_MAX_CLOUD_PERCENT,
        sign=sign,
    )
    found = matches.best["s2_item"].notna().to_numpy()
    if not found.any():
        raise ValueError(
            f"no cloud-free Sentinel-2 scene within {time_buffer_days / 2:g} days of {around} "
            "for any road image: widen time_buffer_days or move the date"
        )
    keep = np.flatnonzero(found)
    matches.best = matches.best.iloc[keep].reset_index(drop=True)
    footprints = footprints.iloc[keep].reset_index(drop=True)
    images, grids = read_s2_chips(matches, S2_10_20M_BANDS, progress)
    pairs = list(zip(footprints["mask"], grids, strict=True))
    fraction = np.stack([road_fraction(mask, grid) for mask, grid in pairs])
    labels = {"area_fraction": fraction_labels(fraction, fraction_threshold)}
    missing = {}
    if aerial.roads is not None:
        roads = aerial.read_roads()
        labels["vector_width"] = np.stack([vector_labels(roads, grid) for grid in grids])
    else:
        missing["vector_width"] = VECTORS_MISSING
    labels["nearest"] = np.stack([nearest_labels(mask, grid) for mask, grid in pairs])
    best = matches.best
    index = pd.DataFrame(
        {
            "id": footprints["id"],
            "region": footprints["region"],
            "split": footprints["split"],
            "item": best["s2_item"].astype(str),
            "item_datetime": best["s2_datetime"],
            "dt_days": best["s2_dt_days"],
            "epsg": [g.epsg for g in grids],
            "minx": [g.bounds[0] for g in grids],
            "miny": [g.bounds[1] for g in grids],
            "maxx": [g.bounds[2] for g in grids],
            "maxy": [g.bounds[3] for g in grids],
            "image": footprints["hr_href"],
            "mask": footprints["mask"],
        }
    )
    signed = not isinstance(source, World | gpd.GeoDataFrame) and needs_signing(source, sign)
    meta = {
        "bands": list(S2_10_20M_BANDS),
        "transfers": list(labels),
        "missing_transfers": missing,
        "params": params,
        "unmatched": sorted(set(aerial.index["id"]) - set(index["id"])),
        "scenes": _scene_files(matches, signed),
        "signed": signed,
    }
    dataset = RoadDataset(images, fraction, labels, index, S2_10_20M_BANDS, meta)
    write_road_dataset(dataset, out_dir)
    return dataset


def road_dataset_dir(profile: str) -> Path:
    """``data_dir()/roads-<profile>``: where notebook D1 writes the road dataset."""
    return data_dir() / f"roads-{check_profile(profile)}"


def road_inputs(
    profile: str,
    aerial_dir: str | os.PathLike[str] | None = None,
    stac_url: str | None = None,
    test_regions: Sequence[str] = TEST_REGIONS,
    progress: bool = True,
) -> tuple[AerialRoads, World | str]:
    """The aerial road folder and the Sentinel-2 source notebook D1 starts from: the folder
    ``aerial_dir`` (read and checked at once) or the sample world's (split by
    ``test_regions``), and the STAC API ``stac_url`` or the sample world's catalogue. The
    ``full`` profile never opens a sample world: both are required there (a ValueError naming
    those missing)."""
    world_profile = WORLD_PROFILE[check_profile(profile)]
    if world_profile is None:
        missing = [n for n, v in (("aerial_dir", aerial_dir), ("stac_url", stac_url)) if not v]
        if missing:
            raise ValueError(
                f"the {profile} profile reads real data: set {' and '.join(missing)} "
                "(-p aerial_dir FOLDER: a Massachusetts Roads folder; -p stac_url URL: Earth "
                "Search v1 or the Planetary Computer); see book/real-data.md"
            )
    if aerial_dir:
        aerial = read_aerial_roads(aerial_dir)
    else:
        aerial = ensure_aerial_roads(profile, test_regions=test_regions, progress=progress)
    if stac_url:
        return aerial, stac_url
    return aerial, ensure_world(world_profile, progress=progress)


def ensure_road_dataset(profile: str, progress: bool = True) -> RoadDataset:
    """The road dataset of ``profile`` in :func:`road_dataset_dir`: the sample world's, built
    first if missing (as notebook D1 builds it with its default parameters); ``full``: the one
    D1 built from real data, or FileNotFoundError naming D1's parameters."""
    folder = road_dataset_dir(profile)
    if WORLD_PROFILE[profile] is None:
        if not (folder / META_NAME).is_file():
            raise FileNotFoundError(
                f"the {profile} profile trains on the road dataset notebook D1 builds from real "
                f"data, and there is none in {folder}: run D1 first with -p profile {profile} "
                "-p aerial_dir FOLDER -p stac_url URL (see book/real-data.md)"
            )
        return read_road_dataset(folder)
    aerial, source = road_inputs(profile, progress=progress)
    return build_road_dataset(aerial, source, folder, progress=progress)


def write_road_dataset(dataset: RoadDataset, out_dir: str | os.PathLike[str]) -> Path:
    """Write the arrays, the index and ``meta.json`` (last: it marks the copy complete)."""
    out_dir = check_writable(out_dir)
    (out_dir / META_NAME).unlink(missing_ok=True)
    with atomic_path(out_dir / ARRAYS_NAME) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                images=dataset.images,
                fraction=dataset.fraction,
                **{f"label_{k}": v for k, v in dataset.labels.items()},
            )
    with atomic_path(out_dir / INDEX_NAME) as tmp:
        dataset.index.to_parquet(tmp, index=False)
    publish_road_dataset(dataset, out_dir)
    write_json(out_dir / META_NAME, dataset.meta)
    return out_dir


def chip_footprints(index: pd.DataFrame) -> list[shapely.Polygon]:
    """The 10 m chip of each row of a road dataset's ``index`` as a polygon in EPSG:4326."""
    footprints = np.empty(len(index), dtype=object)
    for epsg, rows in index.groupby("epsg").indices.items():
        boxes = shapely.box(*index.iloc[rows][["minx", "miny", "maxx", "maxy"]].to_numpy().T)
        footprints[rows] = gpd.GeoSeries(boxes, crs=int(epsg)).to_crs(4326).to_numpy()
    return list(footprints)


def publish_road_dataset(dataset: RoadDataset, out_dir: str | os.PathLike[str]) -> Path:
    """Write the dataset's ``README.md`` and STAC catalog: ``{name}-chips``, one Item per chip
    (footprint, the Sentinel-2 scene's date and id, split, the label extension's fields for its
    road masks), and ``{name}-arrays``, one Item whose assets are the arrays, the index and
    ``meta.json``. Returns the catalog's path."""
    index = dataset.index.reset_index(drop=True)
    height, width = dataset.images.shape[-2:]
    transfers = ", ".join(dataset.labels)
    labels = label_properties(
        ROAD_CLASSES,
        f"Road masks of the chip on the 10 m grid ({height} x {width} px), one per label "
        f"transfer ({transfers}): 0 = background, 1 = road (row 'eotdl_tutorials:row' of "
        "label_<transfer> in arrays.npz)",
    )
    items = [
        footprint_item(
            row.id,
            footprint,
            row.item_datetime,
            {
                "eotdl_tutorials:row": position,
                "eotdl_tutorials:split": row.split,
                "eotdl_tutorials:region": row.region,
                "eotdl_tutorials:s2_item": row.item,
                "proj:epsg": int(row.epsg),
                "proj:bbox": [row.minx, row.miny, row.maxx, row.maxy],
                "proj:shape": [int(height), int(width)],
            }
            | labels,
            extensions=[LABEL_EXTENSION, PROJECTION_EXTENSION],
        )
        for position, (row, footprint) in enumerate(
            zip(index.itertuples(index=False), chip_footprints(index), strict=True)
        )
    ]
    arrays = {
        "arrays": file_asset(
            ARRAYS_NAME,
            NPZ,
            f"images (N, {len(dataset.bands)}, {height}, {width}) float32 reflectance "
            f"({', '.join(dataset.bands)}; NaN = no data), fraction (road share of each pixel) "
            f"and label_<transfer> (N, {height}, {width}) uint8 for {transfers}",
        ),
        "index": file_asset(INDEX_NAME, PARQUET, "one row per chip", "metadata"),
        "meta": file_asset(META_NAME, JSON, "bands, label transfers, parameters", "metadata"),
    }
    return publish_dataset(
        out_dir,
        f"The road dataset of the eotdl-tutorials course (use case D): {len(index)} Sentinel-2 "
        f"chips at 10 m ({', '.join(dataset.bands)}) cut on 1 m aerial road images, with the "
        f"road labels moved to 10 m by {transfers}, split by place. `{ARRAYS_NAME}` holds the "
        f"arrays, `{INDEX_NAME}` one row per chip (scene, grid, split), `{META_NAME}` the bands "
        "and how the labels were made.",
        items,
        "chips",
        arrays,
        summaries={"label:classes": [{"name": None, "classes": list(ROAD_CLASSES)}]},
    )


def read_road_dataset(folder: str | os.PathLike[str]) -> RoadDataset:
    """Read a dataset written by :func:`write_road_dataset`."""
    folder = Path(folder)
    if not (folder / META_NAME).is_file():
        raise FileNotFoundError(f"{folder} holds no complete road dataset: build it first")
    meta = json.loads((folder / META_NAME).read_text())
    with np.load(folder / ARRAYS_NAME) as arrays:
        labels = {k: arrays[f"label_{k}"] for k in meta["transfers"]}
        images, fraction = arrays["images"], arrays["fraction"]
    index = pd.read_parquet(folder / INDEX_NAME)
    return RoadDataset(images, fraction, labels, index, tuple(meta["bands"]), meta)
