"""The world's workers: each task renders one product (a Sentinel-2 or Sentinel-1 scene, a 1 m
tile, a road image), writes it and returns what the catalogue needs."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path

import numpy as np

from eotdl_tutorials.facts.classes import CLASSES, SCENE_CLASSES, scene_label
from eotdl_tutorials.facts.sensors import HR_BAND_NAMES, RGB, S2_BANDS
from eotdl_tutorials.files import write_json
from eotdl_tutorials.world import catalog
from eotdl_tutorials.world.cog import write_cog
from eotdl_tutorials.world.landscape import Landscape, read_landscape
from eotdl_tutorials.world.render import (
    cloud_fields,
    render_hr_tile,
    render_s1_scene,
    render_s2_scene,
    road_mask,
)
from eotdl_tutorials.world.spec import TileGrid


@cache
def _landscape(root: str, region: str, epsg: int) -> Landscape:
    return read_landscape(Path(root) / "vectors" / region, epsg)


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
        write_cog(path, scene.bands[band.common_name], grid.with_gsd(band.gsd), 0, (band.name,))
        hrefs[band.common_name] = str(path)
    write_cog(folder / "SCL.tif", scene.scl, grid.with_gsd(20), 0, ("SCL",))
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


def s2_item_only(task: dict) -> dict:
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
            write_cog(folder / f"{pol}.tif", values, grid, 0, (pol.upper(),))
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
    write_cog(tif, dn, grid, 0, HR_BAND_NAMES)
    label = Path(root) / "labels" / "landcover" / f"{task['id']}.tif"
    write_cog(label, classes, grid, None, ("landcover",))
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
        write_cog(image_path, rgb, grid, None, RGB)
        mask = np.where(road_mask(land, grid), 255, 0).astype(np.uint8)
        write_cog(mask_path, mask, grid, None, ("road",))
    return {
        "id": task["id"],
        "region": task["region"],
        "image": str(image_path),
        "mask": str(mask_path),
        "bounds": TileGrid(**task["grid"]).bounds,
        "epsg": task["grid"]["epsg"],
    }


def run_task(task: tuple[str, str, dict]) -> tuple[str, dict]:
    """Render one planned product ``(kind, world root, task)``: ``(kind, catalogue entry)``."""
    kind, root, spec = task
    fn = {"s2": _s2_task, "s1": _s1_task, "hr": _hr_task, "road": _road_task}[kind]
    return kind, fn(root, spec)
