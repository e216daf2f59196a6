"""A stand-in for the real services, written from a sample world: what the ``full`` profile reads.

:func:`write_stand_in` writes, from a built world, exactly what a user gets from the real sources
and nothing of the world besides, so that the notebooks' ``full`` profile runs offline:

- ``stac/``: collections and item collections for a STAC API (serve them with
  :class:`~eotdl_tutorials.stac.LocalStacApi` or ``eotdl-tutorials stac serve DIR``):
  ``sentinel-2-l2a`` in Earth Search v1's conventions (assets by common name, ``scl``; processing
  baseline 05.00 with the +1000 offset removed from the COGs in ``sentinel-cogs/``,
  ``earthsearch:boa_offset_applied`` true and the ``raster:bands`` offset left at -0.1, as Earth
  Search serves it) and ``sentinel-1-rtc`` in the Planetary Computer's (``vv``/``vh``, linear);
- ``earthview/``: the EarthView index (only its public columns) and a metadata JSON per tile;
- ``worldcover/``: land cover in ESA WorldCover's codes, one COG per 3 x 3 degree tile touched;
- ``massachusetts-roads/``: the road images in the Massachusetts Roads layout, without road
  vectors (the release has none) and without the course's region column;
- ``scaneo/``: use case C's labels as SCANEO exports them, two campaigns of 1 m tiles labelled
  with their land cover (segmentation and classification features, only the classes present,
  in the legend's order): ``rgbn/``, SCANEO's current layout (``spai.json`` and one
  ``<image>.geojson`` per labelled image) over 4-band uint16 images (red, green, blue, nir, as
  Satellogic's EarthView), and ``rgb/``, SCANEO's older layout (``labels.json`` and
  ``<image>_labels.geojson``, ``labels``/``tasks`` lists) over 3-band 8-bit RGB images without
  band descriptions (what SCANEO's S2RGB step makes of a tile). Each holds a few unlabelled images
  too (no GeoJSON beside them): the pool.

Every part is written under a temporary name and renamed when complete; asset hrefs are
absolute paths of the final folder. Where the stand-in reads the world's own files (Sentinel-1,
1 m tiles), the world must stay where it is.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from eotdl_tutorials.facts.classes import CLASSES
from eotdl_tutorials.facts.datasets import (
    EARTHVIEW_INDEX_COLUMNS,
    ROADS_CLASSES_NAME,
    ROADS_IMAGE_SUFFIX,
    ROADS_LABEL_SUFFIX,
    ROADS_METADATA_NAME,
    ROADS_SPLIT_FOLDERS,
    WORLDCOVER_PIXEL_DEG,
    worldcover_tile_name,
)
from eotdl_tutorials.facts.sensors import S2_L2A_DN_OFFSET
from eotdl_tutorials.files import check_writable, write_json
from eotdl_tutorials.models.bands import SCANEO_DN_DIVISOR
from eotdl_tutorials.stac import LocalStacApi
from eotdl_tutorials.world import catalog
from eotdl_tutorials.world.build import build_world
from eotdl_tutorials.world.folder import EARTHVIEW_INDEX, World
from eotdl_tutorials.world.landscape import _seed
from eotdl_tutorials.world.render import render_surface
from eotdl_tutorials.world.spec import ROAD_TEST_REGIONS, TileGrid, world_profile

S1_RTC_COLLECTION = "sentinel-1-rtc"
#: Where :func:`ensure_stand_in` builds the ci world it writes from, inside the stand-in.
PRIVATE_WORLD = ".sample-world-ci"
#: The parts of a stand-in, by folder.
PARTS = ("stac", "sentinel-cogs", "earthview", "worldcover", "massachusetts-roads", "scaneo")
#: The SCANEO campaigns of ``scaneo/``: folder -> (layout, labelled images, unlabelled images).
SCANEO_CAMPAIGNS = {"rgbn": ("spai.json", 10, 3), "rgb": ("labels.json", 8, 3)}
#: The course's land-cover classes in ESA WorldCover's codes.
WORLDCOVER_CODE_OF_CLASS = {
    "water": 80,
    "forest": 10,
    "cropland": 40,
    "grassland": 30,
    "built-up": 50,
    "bare soil": 60,
    "road": 50,
    "building": 50,
    "river": 80,
    "permanent crop": 40,
    "herbaceous vegetation": 20,
    "industrial": 50,
    "highway": 50,
}
#: The day the land-cover map is drawn on (WorldCover is one map for the year).
LAND_COVER_DAY = date(2022, 7, 1)
COLLECTION_TEXT = {
    catalog.S2_COLLECTION: "Sentinel-2 L2A as Earth Search v1 serves it (stand-in).",
    S1_RTC_COLLECTION: "Sentinel-1 RTC as the Planetary Computer serves it (stand-in).",
}


@dataclass(frozen=True)
class StandIn:
    """A stand-in written by :func:`write_stand_in` and where its parts lie."""

    root: Path

    @property
    def stac_files(self) -> list[Path]:
        """The collection and item-collection files a STAC API serves."""
        stac = self.root / "stac"
        return sorted((stac / "collections").glob("*.json")) + sorted(
            (stac / "items").glob("*.json")
        )

    @property
    def earthview_index(self) -> Path:
        return self.root / "earthview" / EARTHVIEW_INDEX

    @property
    def worldcover(self) -> list[Path]:
        """The WorldCover tiles, one per 3 x 3 degrees."""
        return sorted((self.root / "worldcover").glob("*.tif"))

    @property
    def roads_dir(self) -> Path:
        return self.root / "massachusetts-roads"

    def scaneo_dir(self, campaign: str = "rgbn") -> Path:
        """A SCANEO export: ``rgbn`` (4 bands, current layout) or ``rgb`` (3 bands, older)."""
        if campaign not in SCANEO_CAMPAIGNS:
            raise ValueError(f"no SCANEO campaign {campaign!r}: {', '.join(SCANEO_CAMPAIGNS)}")
        return self.root / "scaneo" / campaign

    def notebook_parameters(self, stac_url: str) -> dict[str, dict]:
        """The real-data parameters of each notebook that takes some, with the stand-in's STAC
        API at ``stac_url`` (A2, A3, B and D2 read what A1 and D1 wrote)."""
        return {
            "00_sample_world": {
                "stac_url": stac_url,
                "earthview_index": str(self.earthview_index),
            },
            "A1_multisensor_dataset": {
                "stac_url": stac_url,
                "earthview_index": str(self.earthview_index),
                "collections": [catalog.S2_COLLECTION, S1_RTC_COLLECTION],
            },
            "A3_few_label_evaluation": {"label_source": [str(p) for p in self.worldcover]},
            "C1_scaneo_labels": {"scaneo_dir": str(self.scaneo_dir())},
            "D1_road_dataset": {"aerial_dir": str(self.roads_dir), "stac_url": stac_url},
        }


def open_stand_in(folder: str | os.PathLike[str]) -> StandIn:
    """A complete stand-in folder, or a FileNotFoundError saying how to write one."""
    root = Path(folder)
    missing = [part for part in PARTS if not (root / part).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"{root} is not a complete stand-in (no {', '.join(missing)}): write it with "
            f"`eotdl-tutorials world stand-in --out {root}`"
        )
    return StandIn(root)


@contextmanager
def _part(root: Path, name: str) -> Iterator[Path]:
    """A temporary folder renamed onto ``root/name`` (replacing it) if the block succeeds."""
    tmp = root / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        yield tmp
        if (root / name).exists():
            shutil.rmtree(root / name)
        os.replace(tmp, root / name)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _write_like(path: Path, src: rasterio.DatasetReader, data: np.ndarray) -> None:
    """Write ``data`` as a COG on ``src``'s grid, with its no-data value."""
    profile = {
        "driver": "COG", "width": src.width, "height": src.height, "count": 1,
        "dtype": data.dtype.name, "crs": src.crs, "transform": src.transform,
        "nodata": src.nodata, "compress": "deflate", "predictor": 2, "blocksize": 256,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _without_offset(src_path: str, out_path: Path) -> None:
    """A band COG with the +1000 DN offset removed (no-data 0 kept, dark pixels at 1)."""
    with rasterio.open(src_path) as src:
        dn = src.read(1).astype(np.int32)
        shifted = np.where(dn == 0, 0, np.maximum(dn - S2_L2A_DN_OFFSET, 1))
        _write_like(out_path, src, shifted.astype(np.uint16))


def _earth_search_s2(item: dict, cogs: Path, final_cogs: Path) -> dict:
    """A world S2 item as Earth Search v1 serves it, its band COGs rewritten under ``cogs``."""
    item = json.loads(json.dumps(item))
    folder = cogs / item["id"]
    folder.mkdir()
    for key, asset in item["assets"].items():
        name = Path(asset["href"]).name
        if key == "scl":
            shutil.copyfile(asset["href"], folder / name)
        else:
            _without_offset(asset["href"], folder / name)
        asset["href"] = str(final_cogs / item["id"] / name)
    properties = item["properties"]
    properties.pop("processing:software", None)
    properties["earthsearch:boa_offset_applied"] = True  # raster:bands keeps offset -0.1
    return item


def _planetary_computer_s1(item: dict) -> dict:
    """A world S1 item as the Planetary Computer's ``sentinel-1-rtc`` serves it."""
    item = json.loads(json.dumps(item))
    item["id"] = f"{item['id']}_rtc"
    item["collection"] = S1_RTC_COLLECTION
    item["links"] = [catalog.collection_link(S1_RTC_COLLECTION)]
    properties = item["properties"]
    properties["platform"] = properties["platform"].upper()
    properties["constellation"] = "Sentinel-1"
    for pol, asset in item["assets"].items():
        asset["title"] = f"{pol.upper()}: terrain-corrected gamma naught (linear)"
        asset["roles"] = ["data"]
        asset.pop("sar:polarizations", None)
        for band in asset["raster:bands"]:
            band.pop("unit", None)
    return item


def _write_stac(world: World, stac: Path, cogs: Path, final_cogs: Path) -> None:
    collections = {
        catalog.S2_COLLECTION: [
            _earth_search_s2(item, cogs, final_cogs) for item in world.items(catalog.S2_COLLECTION)
        ],
        S1_RTC_COLLECTION: [_planetary_computer_s1(i) for i in world.items(catalog.S1_COLLECTION)],
    }
    for collection_id, items in collections.items():
        collection = catalog.collection(collection_id, items, COLLECTION_TEXT[collection_id])
        write_json(stac / "collections" / f"{collection_id}.json", collection)
        write_json(
            stac / "items" / f"{collection_id}.json",
            {"type": "FeatureCollection", "features": items},
        )


def _write_earthview(world: World, out: Path) -> None:
    """The index with its public columns only, and each tile's metadata JSON (its 1 m file
    referenced where the world keeps it; no land-cover labels)."""
    index = gpd.read_parquet(world.earthview_index)
    for json_path in index["json_path"]:
        item = json.loads((world.earthview_index.parent / json_path).read_text())
        item["assets"] = {"analytic": item["assets"]["analytic"]}
        for key in [k for k in item["properties"] if k.startswith("landcover:")]:
            del item["properties"][key]
        write_json(out / json_path, item)
    index[list(EARTHVIEW_INDEX_COLUMNS)].to_parquet(out / EARTHVIEW_INDEX)


def _land_cover(world: World, region: dict) -> tuple[np.ndarray, TileGrid]:
    """WorldCover codes of one region at 10 m on its UTM grid."""
    west, south, east, north = region["extent"]
    grid = TileGrid(
        region["epsg"], west, north, 10.0, round((east - west) / 10), round((north - south) / 10)
    )
    spec = next(r for r in world_profile(world.profile).regions if r.name == region["name"])
    seed = _seed(world.manifest["seed"], region["name"])
    surface = render_surface(
        world.landscape(region["name"]), grid, LAND_COVER_DAY, seed, spec.biome == "semiarid", False
    )
    codes = np.array([WORLDCOVER_CODE_OF_CLASS[name] for name in CLASSES], np.uint8)
    return codes[surface.classes], grid


def _write_worldcover(world: World, out: Path) -> None:
    """One COG per WorldCover tile, on WorldCover's grid, cut to the regions it holds."""
    tiles: dict[str, list[tuple[dict, tuple[float, float, float, float]]]] = {}
    for region in world.regions:
        bounds = transform_bounds(region["epsg"], 4326, *region["extent"])
        centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
        tiles.setdefault(worldcover_tile_name(*centre), []).append((region, bounds))
    step = WORLDCOVER_PIXEL_DEG
    for name, regions in tiles.items():
        west = np.floor(min(b[0] for _, b in regions) / step) * step
        north = np.ceil(max(b[3] for _, b in regions) / step) * step
        width = int(np.ceil((max(b[2] for _, b in regions) - west) / step))
        height = int(np.ceil((north - min(b[1] for _, b in regions)) / step))
        transform = from_origin(west, north, step, step)
        mosaic = np.zeros((height, width), np.uint8)
        for region, _ in regions:
            codes, grid = _land_cover(world, region)
            reproject(
                codes, mosaic, src_transform=rasterio.Affine(*grid.transform),
                src_crs=f"EPSG:{grid.epsg}", dst_transform=transform, dst_crs="EPSG:4326",
                resampling=Resampling.nearest, src_nodata=0, dst_nodata=0, init_dest_nodata=False,
            )  # fmt: skip
        profile = {
            "driver": "COG", "width": width, "height": height, "count": 1, "dtype": "uint8",
            "crs": "EPSG:4326", "transform": transform, "nodata": 0, "compress": "deflate",
            "blocksize": 512,
        }  # fmt: skip
        with rasterio.open(out / name, "w", **profile) as dst:
            dst.write(mosaic, 1)


def _plain_copy(src_path: str, out_path: Path) -> None:
    """A raster as one plain GeoTIFF, without the overviews of the world's COG (the release's
    masks have none, and an averaged overview is not a 0/255 mask)."""
    with rasterio.open(src_path) as src:
        profile = src.profile | {"driver": "GTiff", "compress": "deflate", "tiled": False}
        with rasterio.open(out_path, "w", **profile) as dst:
            dst.write(src.read())


def _write_roads(world: World, out: Path, test_regions: Sequence[str]) -> None:
    """The world's road images and masks in the Massachusetts Roads layout, split by place."""
    pairs = pd.read_parquet(world.root / "roads" / "images.parquet")
    unknown = sorted(set(test_regions) - set(pairs["region"]))
    if unknown:
        raise ValueError(f"no road images in regions {', '.join(unknown)}")
    for folder in ROADS_SPLIT_FOLDERS.values():
        (out / "tiff" / folder).mkdir(parents=True)
        (out / "tiff" / f"{folder}_labels").mkdir()
    rows = []
    for pair in pairs.itertuples():
        folder = ROADS_SPLIT_FOLDERS["test" if pair.region in test_regions else "train"]
        image = f"tiff/{folder}/{pair.id}{ROADS_IMAGE_SUFFIX}"
        label = f"tiff/{folder}_labels/{pair.id}{ROADS_LABEL_SUFFIX}"
        shutil.copyfile(pair.image, out / image)
        _plain_copy(pair.mask, out / label)
        rows.append({"image_id": pair.id, "split": folder, "tiff_image_path": image,
                     "tif_label_path": label})  # fmt: skip
    pd.DataFrame(rows).to_csv(out / ROADS_METADATA_NAME, index=False)
    pd.DataFrame(
        {"name": ["background", "road"], "r": [0, 255], "g": [0, 255], "b": [0, 255]}
    ).to_csv(out / ROADS_CLASSES_NAME, index=False)


def _rgb_copy(src_path: str, out_path: Path) -> None:
    """A 4-band tile as 3-band 8-bit RGB, as SCANEO's S2RGB step makes it (clip(DN / 3000, 0,
    1) * 255), without band descriptions."""
    with rasterio.open(src_path) as src:
        profile = src.profile | {"count": 3, "dtype": "uint8", "driver": "GTiff", "nodata": None}
        dn = src.read([1, 2, 3]).astype(np.float64)
    rgb = (np.clip(dn / SCANEO_DN_DIVISOR, 0, 1) * 255).astype(np.uint8)
    with rasterio.open(out_path, "w", **profile) as dst:
        dst.write(rgb)


def _write_scaneo(world: World, out: Path) -> None:
    """Two SCANEO campaigns of the world's 1 m tiles (see the module docstring): one tile per
    place (its first date), labelled ones then unlabelled ones, taken in turn from each 2 km
    block (so that the images of a campaign split by place into training and test)."""
    from eotdl_tutorials.labels import write_scaneo_export
    from eotdl_tutorials.multitask.dataset import tile_files, tile_mask
    from eotdl_tutorials.tiling import place_keys

    tiles = tile_files(world).drop_duplicates("region")
    blocks = place_keys(tiles)  # one block after another: the campaigns span every place
    tiles = tiles.assign(turn=blocks.groupby(blocks).cumcount(), block=blocks)
    tiles = tiles.sort_values(["turn", "block"], kind="stable").reset_index(drop=True)
    start = 0
    for campaign, (layout, labelled, unlabelled) in SCANEO_CAMPAIGNS.items():
        rows = tiles.iloc[start : start + labelled + unlabelled]
        if len(rows) < labelled + unlabelled:
            raise ValueError(f"the world has {len(tiles)} places: too few for the SCANEO campaigns")
        start += labelled + unlabelled
        codes = {row.id: tile_mask(row.label) for row in rows.iloc[:labelled].itertuples()}
        present = sorted(set(np.unique(np.concatenate([c.ravel() for c in codes.values()]))) - {0})
        remap = np.zeros(len(CLASSES) + 1, np.uint8)
        remap[present] = np.arange(1, len(present) + 1)
        labels = [CLASSES[code - 1] for code in present]
        images = {}
        if campaign == "rgb":
            folder = out / f".{campaign}-images"
            folder.mkdir()
            for row in rows.itertuples():
                images[row.id] = folder / f"{row.id}.tif"
                _rgb_copy(row.image, images[row.id])
        else:
            images = {row.id: row.image for row in rows.itertuples()}
        masks = {name: remap[mask] for name, mask in codes.items()}
        write_scaneo_export(out / campaign, images, masks, labels, layout=layout)
        if campaign == "rgb":
            shutil.rmtree(out / f".{campaign}-images")


def ensure_stand_in(
    out_dir: str | os.PathLike[str], world: World | None = None, progress: bool = True
) -> StandIn:
    """Write the stand-in of ``world`` into ``out_dir``; without a world, of the ci world built
    (once) into the private folder ``out_dir/.sample-world-ci``."""
    if world is None:
        world = build_world(Path(out_dir) / PRIVATE_WORLD, profile="ci", progress=progress)
    return write_stand_in(world, out_dir)


def write_stand_in(
    world: World,
    out_dir: str | os.PathLike[str],
    road_test_regions: Sequence[str] = ROAD_TEST_REGIONS,
) -> StandIn:
    """Write the stand-in of ``world`` into ``out_dir`` (see the module docstring), replacing
    the parts a former run wrote."""
    root = check_writable(Path(out_dir).resolve())
    steps: list[tuple[str, Callable[[Path], None]]] = [
        ("earthview", lambda tmp: _write_earthview(world, tmp)),
        ("worldcover", lambda tmp: _write_worldcover(world, tmp)),
        ("massachusetts-roads", lambda tmp: _write_roads(world, tmp, road_test_regions)),
        ("scaneo", lambda tmp: _write_scaneo(world, tmp)),
    ]
    with _part(root, "sentinel-cogs") as cogs, _part(root, "stac") as stac:
        _write_stac(world, stac, cogs, root / "sentinel-cogs")
    for name, write in steps:
        with _part(root, name) as tmp:
            write(tmp)
    return StandIn(root)


def start_stand_in_api(folder: str | os.PathLike[str], port: int | None = None) -> LocalStacApi:
    """Serve the STAC items of a stand-in for the real services (``eotdl-tutorials world
    stand-in``) with ``rustac serve`` on 127.0.0.1 and return the running API: its ``url`` is
    the notebooks' ``stac_url``; ``stop()`` it when done."""
    return LocalStacApi(open_stand_in(folder).stac_files, port=port).start()
