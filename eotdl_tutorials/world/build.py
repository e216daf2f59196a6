"""Build a sample world on disk: vectors, COGs, STAC items and indexes.

Every product is written under a temporary name and renamed, and each scene's ``item.json`` is
written last, so an interrupted build resumes where it stopped; rebuilding a complete world is a
no-op. Same profile and seed give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.transform import Affine
from tqdm.auto import tqdm

from eotdl_tutorials.facts.classes import CLASSES, SCENE_CLASSES, scene_label
from eotdl_tutorials.facts.sensors import HR_BANDS, HR_TILE_PX, S2_BANDS
from eotdl_tutorials.files import atomic_path, check_writable, write_json
from eotdl_tutorials.profiles import data_dir
from eotdl_tutorials.world import catalog
from eotdl_tutorials.world.landscape import (
    Landscape,
    RegionLayout,
    _seed,
    generate_landscape,
    landscape_frames,
    read_landscape,
    region_layout,
)
from eotdl_tutorials.world.noise import _hash01
from eotdl_tutorials.world.render import (
    cloud_fields,
    render_hr_tile,
    render_s1_scene,
    render_s2_scene,
    road_mask,
)
from eotdl_tutorials.world.spec import (
    FORMAT_VERSION,
    Region,
    TileGrid,
    WorldProfile,
    world_profile,
)

WORLD_FORMAT = "eotdl-tutorials-world"
MANIFEST = "world.json"
EARTHVIEW_INDEX = "satellogic-earthview-items.parquet"
ROAD_IMAGE_PX = 1500


class WorldError(ValueError):
    """A world folder that cannot be used as asked (another version, profile or seed)."""


@dataclass(frozen=True)
class World:
    """A built sample world and where its parts lie."""

    root: Path
    manifest: dict

    @property
    def profile(self) -> str:
        return self.manifest["profile"]

    @property
    def regions(self) -> list[dict]:
        return self.manifest["regions"]

    @property
    def stac_dir(self) -> Path:
        return self.root / "stac"

    @property
    def items_parquet(self) -> Path:
        return self.stac_dir / "items.parquet"

    @property
    def earthview_index(self) -> Path:
        return self.root / "earthview" / EARTHVIEW_INDEX

    def items(self, collection: str) -> list[dict]:
        """The STAC items of one collection, as dicts."""
        path = self.stac_dir / "items" / f"{collection}.json"
        return json.loads(path.read_text())["features"]

    def render_footprint(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Render the 1 m tile of one EarthView index row on demand: (DN, land-cover classes).

        The ``large`` profile describes a million footprints without writing their imagery; this
        generates the vectors of the tile's neighbourhood only and renders it, so any footprint
        can be looked at (a tile written by ``ci`` or ``default`` comes out the same).
        """
        info = next((r for r in self.regions if r["zone"] == row["zone"]), None)
        if info is None:
            raise ValueError(
                f"footprint {row.get('id')!r} is in zone {row['zone']}, not in this world"
            )
        region = next(r for r in world_profile(self.profile).regions if r.name == info["name"])
        easting, northing = (float(v) for v in str(row["region"]).split("_"))
        grid = TileGrid(region.epsg, easting, northing + HR_TILE_PX, 1.0, HR_TILE_PX, HR_TILE_PX)
        land = generate_landscape(region, grid.bounds, self.manifest["seed"])
        day = pd.Timestamp(row["datetime"]).date()
        seed = _seed(self.manifest["seed"], region.name)
        return render_hr_tile(land, grid, day, seed, region.biome == "semiarid")

    def landscape(self, region: str) -> Landscape:
        """The vector ground of one region."""
        info = next((r for r in self.regions if r["name"] == region), None)
        if info is None:
            names = ", ".join(r["name"] for r in self.regions)
            raise ValueError(f"no region {region!r} in this world: use one of {names}")
        return read_landscape(self.root / "vectors" / region, info["epsg"])


def open_world(path: str | os.PathLike[str]) -> World:
    """Open a complete world folder, with a clear error if it is not one."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(
            f"{root} is not a sample world (no {MANIFEST}): "
            f"run `eotdl-tutorials world build --out {root}` first"
        )
    manifest = json.loads(manifest_path.read_text())
    _check_manifest(root, manifest)
    if not manifest.get("complete"):
        raise WorldError(f"the world in {root} is incomplete: run the same build again to resume")
    return World(root, manifest)


def _check_manifest(root: Path, manifest: dict) -> None:
    if manifest.get("format") != WORLD_FORMAT:
        raise WorldError(f"{root} holds something else than a sample world: choose another folder")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WorldError(
            f"{root} was built by another version of eotdl-tutorials (world format "
            f"{manifest.get('format_version')}, this version reads {FORMAT_VERSION}): "
            "delete the folder or build into another one"
        )


def ensure_world(profile: str = "ci", seed: int = 0, progress: bool = True) -> World:
    """The world of ``profile`` in the course's data folder, built first if missing."""
    return build_world(
        data_dir() / f"world-{profile}", profile=profile, seed=seed, progress=progress
    )


def _day_moment(day: date, seed: int, *key: str | int) -> datetime:
    """Acquisition time on ``day``: Sentinel-2 passes about 10:30 local solar time."""
    minutes = int(_hash01(np.array(day.toordinal()), np.array(len(key)), _seed(seed, *key)) * 20)
    return datetime(day.year, day.month, day.day, 10, 20 + minutes, 0)


def _coverage(day: date, seed: int, region: str) -> float:
    """Cloud coverage wanted on ``day``: clear on about 40% of days, else 3% to 75%."""
    u = _hash01(np.array(day.toordinal()), np.array(7), _seed(seed, "clouds", region))
    return 0.0 if u < 0.4 else float(0.03 + (u - 0.4) / 0.6 * 0.72)


def _write_cog(
    path: Path,
    data: np.ndarray,
    grid: TileGrid,
    nodata: float | None,
    descriptions: tuple[str, ...] | None = None,
) -> None:
    """Write a Cloud-Optimized GeoTIFF atomically (deflate, tiled, overviews)."""
    data = data[None] if data.ndim == 2 else data
    profile = {
        "driver": "COG",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "crs": f"EPSG:{grid.epsg}",
        "transform": Affine(*grid.transform),
        "nodata": nodata,
        "compress": "deflate",
        "predictor": 3 if data.dtype.kind == "f" else 2,
        "blocksize": 256,
    }
    with atomic_path(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data)
            for i, text in enumerate(descriptions or (), start=1):
                dst.set_band_description(i, text)


@cache
def _landscape(root: str, region: str, epsg: int) -> Landscape:
    return read_landscape(Path(root) / "vectors" / region, epsg)


# ---- products: each task renders one thing and returns what the catalogue needs --------------


def _s2_task(root: str, task: dict) -> dict:
    folder = Path(root) / catalog.S2_COLLECTION / task["id"]
    done = folder / "item.json"
    if done.exists():
        return json.loads(done.read_text())
    grid = TileGrid(**task["grid"])
    day = date.fromisoformat(task["date"])
    land = _landscape(root, task["region"], grid.epsg)
    scene = render_s2_scene(
        land,
        grid,
        day,
        task["seed"],
        task["semiarid"],
        task["cloud_seed"],
        task["coverage"],
        task["fine_gsd"],
    )
    hrefs = {}
    for band in S2_BANDS:
        path = folder / f"{band.name}.tif"
        _write_cog(path, scene.bands[band.common_name], grid.with_gsd(band.gsd), 0, (band.name,))
        hrefs[band.common_name] = str(path)
    _write_cog(folder / "SCL.tif", scene.scl, grid.with_gsd(20), 0, ("SCL",))
    hrefs["scl"] = str(folder / "SCL.tif")
    item = catalog.s2_item(
        task["id"],
        task["tile"],
        grid,
        datetime.fromisoformat(task["moment"]),
        scene.cloud_cover,
        task["platform"],
        hrefs,
    )
    write_json(done, item)
    return item


def _s2_item_only(task: dict) -> dict:
    """Catalogue entry of a scene whose imagery is rendered on demand (``large`` profile).

    Its cloud cover is the cloud field's fraction sampled every 60 m: the same clouds that a
    rendered scene would show, counted on a coarser grid than its SCL.
    """
    grid = TileGrid(**task["grid"])
    coarse = grid.with_gsd(60)
    cloud, _ = cloud_fields(coarse, task["cloud_seed"], task["coverage"])
    folder = Path(task["root"]) / catalog.S2_COLLECTION / task["id"]
    hrefs = {b.common_name: str(folder / f"{b.name}.tif") for b in S2_BANDS}
    hrefs["scl"] = str(folder / "SCL.tif")
    cover = round(float((cloud > 0.05).mean() * 100), 4)
    moment = datetime.fromisoformat(task["moment"])
    return catalog.s2_item(task["id"], task["tile"], grid, moment, cover, task["platform"], hrefs)


def _s1_task(root: str, task: dict) -> dict:
    folder = Path(root) / catalog.S1_COLLECTION / task["id"]
    done = folder / "item.json"
    if done.exists():
        return json.loads(done.read_text())
    grid = TileGrid(**task["grid"])
    ascending = task["orbit_state"] == "ascending"
    hrefs = {pol: str(folder / f"{pol}.tif") for pol in ("vv", "vh")}
    if task["write"]:
        land = _landscape(root, task["region"], grid.epsg)
        day = date.fromisoformat(task["date"])
        bands = render_s1_scene(
            land, grid, day, task["seed"], task["semiarid"], ascending, task["fine_gsd"]
        )
        for pol, values in bands.items():
            _write_cog(folder / f"{pol}.tif", values, grid, 0, (pol.upper(),))
    moment = datetime.fromisoformat(task["moment"])
    item = catalog.s1_item(task["id"], grid, moment, task["platform"], task["orbit_state"], hrefs)
    if task["write"]:
        write_json(done, item)
    return item


def _hr_task(root: str, task: dict) -> dict:
    folder = Path(root) / "earthview" / task["json_dir"]
    meta_path = folder / f"{task['id']}_metadata.json"
    if meta_path.exists():
        return json.loads(meta_path.read_text())
    grid = TileGrid(**task["grid"])
    land = _landscape(root, task["region"], grid.epsg)
    day = date.fromisoformat(task["date"])
    dn, classes = render_hr_tile(land, grid, day, task["seed"], task["semiarid"])
    tif = folder / f"{task['id']}_TOA.tif"
    _write_cog(tif, dn, grid, 0, tuple(b.name for b in HR_BANDS))
    label = Path(root) / "labels" / "landcover" / f"{task['id']}.tif"
    _write_cog(label, classes, grid, None, ("landcover",))
    item = catalog.hr_item(
        task["id"], grid, datetime.fromisoformat(task["moment"]), task["zone"], str(tif)
    )
    item["properties"]["landcover:presence"] = [CLASSES[c] for c in np.unique(classes).tolist()]
    counts = np.bincount(classes.ravel(), minlength=len(CLASSES))
    item["properties"]["landcover:scene"] = SCENE_CLASSES[scene_label(counts)]
    item["assets"]["landcover"] = {
        "href": str(label),
        "type": catalog.COG,
        "title": "Land-cover mask (class codes of eotdl_tutorials.facts.CLASSES)",
        "roles": ["labels"],
    }
    write_json(meta_path, item)
    return item


def _road_task(root: str, task: dict) -> dict:
    mask_path = Path(root) / "roads" / "masks" / f"{task['id']}.tif"
    image_path = Path(root) / "roads" / "images" / f"{task['id']}.tif"
    if not mask_path.exists():
        grid = TileGrid(**task["grid"])
        land = _landscape(root, task["region"], grid.epsg)
        dn, classes = render_hr_tile(
            land, grid, date.fromisoformat(task["date"]), task["seed"], task["semiarid"]
        )
        rgb = np.clip(dn[:3].astype(np.float32) / 2500 * 255, 0, 255).astype(np.uint8)
        _write_cog(image_path, rgb, grid, None, ("red", "green", "blue"))
        mask = np.where(road_mask(land, grid), 255, 0).astype(np.uint8)
        _write_cog(mask_path, mask, grid, None, ("road",))
    return {
        "id": task["id"],
        "region": task["region"],
        "image": str(image_path),
        "mask": str(mask_path),
        "bounds": TileGrid(**task["grid"]).bounds,
        "epsg": task["grid"]["epsg"],
    }


def _run(task: tuple[str, str, dict]) -> tuple[str, dict]:
    kind, root, spec = task
    fn = {"s2": _s2_task, "s1": _s1_task, "hr": _hr_task, "road": _road_task}[kind]
    return kind, fn(root, spec)


# ---- planning ------------------------------------------------------------------------------


def _grid_dict(grid: TileGrid) -> dict:
    return {
        "epsg": grid.epsg,
        "x0": grid.x0,
        "y0": grid.y0,
        "gsd": grid.gsd,
        "width": grid.width,
        "height": grid.height,
    }


def _plan(root: Path, profile: WorldProfile, seed: int, layouts: list[RegionLayout]) -> Iterator:
    """Every rendering task of the world, in a stable order."""
    for layout in layouts:
        region = layout.region
        semiarid = region.biome == "semiarid"
        base = {
            "region": region.name,
            "seed": _seed(seed, region.name),
            "semiarid": semiarid,
            "fine_gsd": profile.fine_gsd,
        }
        for d, day in enumerate(profile.s2_dates):
            platform = "sentinel-2a" if d % 2 == 0 else "sentinel-2b"
            moment = _day_moment(day, seed, region.name, "s2")
            cloud_seed = _seed(seed, region.name, "cloud", day.isoformat())
            for code, grid in layout.s2_tiles:
                item_id = f"S2{platform[-1].upper()}_{code}_{day:%Y%m%d}_0_L2A"
                yield (
                    "s2",
                    {
                        **base,
                        "id": item_id,
                        "tile": code,
                        "grid": _grid_dict(grid),
                        "date": day.isoformat(),
                        "moment": moment.isoformat(),
                        "platform": platform,
                        "cloud_seed": cloud_seed,
                        "coverage": _coverage(day, seed, region.name),
                        "root": str(root),
                    },
                )
        x0, ymin, x1, y1 = layout.extent
        s1_grid = TileGrid(
            region.epsg, x0, y1, 10.0, round((x1 - x0) / 10), round((y1 - ymin) / 10)
        )
        for d, day in enumerate(profile.s1_dates):
            orbit = "ascending" if d % 2 == 0 else "descending"
            moment = _day_moment(day, seed, region.name, "s1")
            moment = moment.replace(hour=17 if orbit == "ascending" else 5)
            stop = moment + timedelta(seconds=25)
            absolute_orbit = 40000 + (day - date(2022, 1, 1)).days * 15 + d
            item_id = (
                f"S1A_IW_GRDH_1SDV_{moment:%Y%m%dT%H%M%S}_{stop:%Y%m%dT%H%M%S}_"
                f"{absolute_orbit:06d}_{_seed(seed, region.name, d) % 0xFFFFFF:06X}"
            )
            yield (
                "s1",
                {
                    **base,
                    "id": item_id,
                    "grid": _grid_dict(s1_grid),
                    "date": day.isoformat(),
                    "moment": moment.isoformat(),
                    "platform": "sentinel-1a",
                    "orbit_state": orbit,
                    "write": profile.write_imagery,
                },
            )
        yield from _plan_hr(profile, seed, layout, base)
        yield from _plan_roads(profile, seed, layout, base)


def _hr_positions(layout: RegionLayout, count: int, seed: int) -> np.ndarray:
    """Top-left corners (x0, y0) of ``count`` distinct 384 m cells inside the region."""
    xmin, ymin, xmax, ymax = layout.bounds
    per_row = int((xmax - xmin) // HR_TILE_PX)
    cells = per_row * per_row
    rng = np.random.default_rng(_seed(seed, layout.region.name, "hr"))
    chosen = rng.choice(cells, size=min(count, cells), replace=False)
    x0 = xmin + (chosen % per_row) * HR_TILE_PX
    y0 = ymax - (chosen // per_row) * HR_TILE_PX
    return np.column_stack([x0, y0])


def _plan_hr(profile: WorldProfile, seed: int, layout: RegionLayout, base: dict) -> Iterator:
    region = layout.region
    rng = np.random.default_rng(_seed(seed, region.name, "hr-dates"))
    first, last = profile.hr_date_range
    span = (last - first).days
    for x0, y0 in _hr_positions(layout, profile.hr_tiles_per_region, seed):
        grid = TileGrid(region.epsg, float(x0), float(y0), 1.0, HR_TILE_PX, HR_TILE_PX)
        days = sorted(
            {
                first + timedelta(days=int(d))
                for d in rng.choice(span, size=profile.hr_dates_per_tile, replace=False)
            }
        )
        for day in days:
            moment = datetime(
                day.year,
                day.month,
                day.day,
                9 + int(rng.integers(0, 5)),
                int(rng.integers(0, 60)),
                int(rng.integers(0, 60)),
            )
            satellite = 20 + int(rng.integers(0, 20))
            easting_northing = f"{round(x0)}_{round(y0 - HR_TILE_PX)}"
            item_id = f"{moment:%Y%m%d_%H%M%S}_SN{satellite}_{region.zone}_{easting_northing}"
            json_dir = f"zone={region.zone}/region={easting_northing}/date={day.isoformat()}"
            yield (
                "hr",
                {
                    **base,
                    "id": item_id,
                    "grid": _grid_dict(grid),
                    "date": day.isoformat(),
                    "moment": moment.isoformat(),
                    "zone": region.zone,
                    "json_dir": json_dir,
                    "easting_northing": easting_northing,
                },
            )


def _plan_roads(profile: WorldProfile, seed: int, layout: RegionLayout, base: dict) -> Iterator:
    region = layout.region
    count = profile.road_images // len(profile.regions) + (
        1 if profile.regions.index(region) < profile.road_images % len(profile.regions) else 0
    )
    xmin, ymin, xmax, ymax = layout.bounds
    rng = np.random.default_rng(_seed(seed, region.name, "roads"))
    side = ROAD_IMAGE_PX
    for i in range(count):
        x0 = float(np.floor(rng.uniform(xmin, max(xmin, xmax - side))))
        y0 = float(np.floor(rng.uniform(min(ymax, ymin + side), ymax)))
        grid = TileGrid(region.epsg, x0, y0, 1.0, side, side)
        yield (
            "road",
            {
                **base,
                "id": f"{region.name}-roads-{i:03d}",
                "grid": _grid_dict(grid),
                "date": "2022-08-15",
            },
        )


# ---- the build -----------------------------------------------------------------------------


def build_world(
    out: str | os.PathLike[str],
    profile: str = "ci",
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
) -> World:
    """Build (or resume, or reuse) the sample world of ``profile`` in ``out``."""
    spec = world_profile(profile)
    root = Path(out).resolve()
    manifest_path = root / MANIFEST
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        _check_manifest(root, manifest)
        if (manifest["profile"], manifest["seed"]) != (profile, seed):
            raise WorldError(
                f"{root} holds the world of profile {manifest['profile']!r} and seed "
                f"{manifest['seed']}, not {profile!r} and {seed}: build into another folder"
            )
        if manifest.get("complete"):
            return World(root, manifest)
    elif root.exists() and any(root.iterdir()):
        raise WorldError(f"{root} is not empty and holds no sample world: choose another --out")
    check_writable(root)
    layouts = [region_layout(region, spec) for region in spec.regions]
    manifest = {
        "format": WORLD_FORMAT,
        "format_version": FORMAT_VERSION,
        "profile": profile,
        "seed": seed,
        "regions": [_region_info(layout) for layout in layouts],
        "classes": list(CLASSES),
        "complete": False,
    }
    write_json(manifest_path, manifest)

    steps = tqdm(total=len(layouts), desc="vectors", unit="region", disable=not progress)
    for layout in layouts:
        _write_vectors(root, layout, seed, spec)
        steps.update()
    steps.close()

    tasks = list(_plan(root, spec, seed, layouts))
    results: dict[str, list[dict]] = {"s2": [], "s1": [], "hr": [], "road": []}
    if not spec.write_imagery:
        results["s2"] = [_s2_item_only(t) for kind, t in tasks if kind == "s2"]
        tasks = [(kind, t) for kind, t in tasks if kind != "s2"]
    jobs = [(kind, str(root), t) for kind, t in tasks]
    workers = workers or min(2, os.cpu_count() or 1)
    bar = tqdm(total=len(jobs), desc="rendering", unit="product", disable=not progress)
    if workers > 1 and spec.write_imagery:
        with ProcessPoolExecutor(workers) as pool:
            for kind, value in pool.map(_run, jobs, chunksize=1):
                results[kind].append(value)
                bar.update()
    else:
        for job in jobs:
            kind, value = _run(job)
            results[kind].append(value)
            bar.update()
    bar.close()

    _write_catalogue(root, results)
    _write_earthview_index(root, results["hr"], spec, seed, layouts)
    _write_labels_index(root, results["hr"])
    _write_roads_index(root, results["road"], layouts)
    manifest["complete"] = True
    manifest["counts"] = {kind: len(values) for kind, values in results.items()}
    write_json(manifest_path, manifest)
    return World(root, manifest)


def _region_info(layout: RegionLayout) -> dict:
    region: Region = layout.region
    return {
        "name": region.name,
        "biome": region.biome,
        "lon": region.lon,
        "lat": region.lat,
        "epsg": region.epsg,
        "zone": region.zone,
        "bounds": list(layout.bounds),
        "extent": [float(v) for v in layout.extent],
        "s2_tiles": [code for code, _ in layout.s2_tiles],
    }


def _write_vectors(root: Path, layout: RegionLayout, seed: int, spec: WorldProfile) -> None:
    folder = root / "vectors" / layout.region.name
    if (folder / "buildings.parquet").exists():
        return
    if not spec.write_imagery:
        return  # the large profile generates vectors per window, on demand
    land = generate_landscape(layout.region, layout.extent, seed)
    # buildings last: its file marks the region's vectors complete
    for name, frame in landscape_frames(land).items():
        with atomic_path(folder / f"{name}.parquet") as tmp:
            frame.to_parquet(tmp)


def _write_catalogue(root: Path, results: dict[str, list[dict]]) -> None:
    import rustac

    stac = root / "stac"
    everything = []
    for collection_id, items in (
        (catalog.S2_COLLECTION, results["s2"]),
        (catalog.S1_COLLECTION, results["s1"]),
        (catalog.HR_COLLECTION, results["hr"]),
    ):
        items = sorted(items, key=lambda item: item["id"])
        write_json(
            stac / "collections" / f"{collection_id}.json", catalog.collection(collection_id, items)
        )
        write_json(
            stac / "items" / f"{collection_id}.json",
            {"type": "FeatureCollection", "features": items},
        )
        everything += items
    with atomic_path(stac / "items.parquet") as tmp:
        rustac.write_sync(str(tmp), everything, format="geoparquet")


def _write_earthview_index(
    root: Path, items: list[dict], spec: WorldProfile, seed: int, layouts: list[RegionLayout]
) -> None:
    """The EarthView-like index: json_path, zone, region, date, geometry (+ id, datetime)."""
    rows = []
    for item in sorted(items, key=lambda i: i["id"]):
        props = item["properties"]
        day = props["datetime"][:10]
        json_path = (
            f"zone={props['satellogic:zone']}/region={props['satellogic:region']}/"
            f"date={day}/{item['id']}_metadata.json"
        )
        rows.append(
            {
                "id": item["id"],
                "json_path": json_path,
                "zone": props["satellogic:zone"],
                "region": props["satellogic:region"],
                "date": day,
                "datetime": pd.Timestamp(props["datetime"]),
                "geometry": shapely.geometry.shape(item["geometry"]),
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326) if rows else None
    if spec.described_footprints:
        frame = _described_footprints(spec, seed, layouts)
    with atomic_path(root / "earthview" / EARTHVIEW_INDEX) as tmp:
        frame.to_parquet(tmp)


def _described_footprints(
    spec: WorldProfile, seed: int, layouts: list[RegionLayout]
) -> gpd.GeoDataFrame:
    """``spec.described_footprints`` EarthView-like footprints, spread over the regions."""
    frames = []
    per_region = np.array_split(np.arange(spec.described_footprints), len(layouts))
    first, last = spec.hr_date_range
    for layout, ids in zip(layouts, per_region, strict=True):
        rng = np.random.default_rng(_seed(seed, layout.region.name, "footprints"))
        xmin, ymin, xmax, ymax = layout.bounds
        x0 = np.floor(rng.uniform(xmin, xmax - HR_TILE_PX, len(ids)))
        y0 = np.floor(rng.uniform(ymin, ymax - HR_TILE_PX, len(ids)))
        boxes = shapely.box(x0, y0, x0 + HR_TILE_PX, y0 + HR_TILE_PX)
        seconds = rng.integers(0, (last - first).days * 86400, len(ids))
        times = pd.Timestamp(first, tz="UTC") + pd.to_timedelta(seconds, unit="s")
        zone = layout.region.zone
        region_col = np.char.add(
            np.char.add(x0.astype(int).astype(str), "_"), y0.astype(int).astype(str)
        )
        frame = gpd.GeoDataFrame(
            {
                "id": [f"{zone}-{i:07d}" for i in ids],
                "zone": zone,
                "region": region_col,
                "date": times.strftime("%Y-%m-%d"),
                "datetime": times,
            },
            geometry=boxes,
            crs=layout.region.epsg,
        ).to_crs(4326)
        frame.insert(1, "json_path", [f"zone={zone}/region={r}/described.json" for r in region_col])
        frames.append(frame)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326)


def _write_labels_index(root: Path, items: list[dict]) -> None:
    """Multi-label class presence of every high-resolution tile."""
    rows = []
    for item in sorted(items, key=lambda i: i["id"]):
        present = set(item["properties"]["landcover:presence"])
        rows.append({"id": item["id"], **{name: name in present for name in CLASSES}})
    frame = pd.DataFrame(rows, columns=["id", *CLASSES])
    with atomic_path(root / "labels" / "landcover-presence.parquet") as tmp:
        frame.to_parquet(tmp, index=False)


def _write_roads_index(root: Path, roads: list[dict], layouts: list[RegionLayout]) -> None:
    """Road vectors of every region (WGS84, with kind and width) and the image/mask pairs."""
    frames = []
    for layout in layouts:
        folder = root / "vectors" / layout.region.name
        if (folder / "roads.parquet").exists():
            frame = gpd.read_parquet(folder / "roads.parquet").to_crs(4326)
            frame.insert(0, "region", layout.region.name)
            frames.append(frame)
    if frames:
        with atomic_path(root / "roads" / "roads.parquet") as tmp:
            gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=4326).to_parquet(tmp)
    pairs = pd.DataFrame(sorted(roads, key=lambda r: r["id"]))
    with atomic_path(root / "roads" / "images.parquet") as tmp:
        pairs.to_parquet(tmp, index=False)
