"""Build a sample world on disk: vectors, COGs, STAC items and indexes.

Every product is written under a temporary name and renamed, and each scene's ``item.json`` is
written last, so an interrupted build resumes where it stopped; rebuilding a complete world is a
no-op. Same profile and seed give the same bytes.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm.auto import tqdm

from eotdl_tutorials.facts.classes import CLASSES
from eotdl_tutorials.files import atomic_path, check_writable, write_json
from eotdl_tutorials.profiles import data_dir
from eotdl_tutorials.world.folder import MANIFEST, WORLD_FORMAT, World, WorldError, check_manifest
from eotdl_tutorials.world.indexes import (
    write_catalogue,
    write_earthview_index,
    write_labels_index,
    write_roads_index,
)
from eotdl_tutorials.world.landscape import (
    RegionLayout,
    generate_landscape,
    landscape_frames,
    region_layout,
)
from eotdl_tutorials.world.plan import plan_tasks
from eotdl_tutorials.world.spec import FORMAT_VERSION, Region, WorldProfile, world_profile
from eotdl_tutorials.world.tasks import run_task, s2_item_only


def ensure_world(profile: str = "ci", seed: int = 0, progress: bool = True) -> World:
    """The world of ``profile`` in the course's data folder, built first if missing."""
    return build_world(
        data_dir() / f"world-{profile}", profile=profile, seed=seed, progress=progress
    )


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
        check_manifest(root, manifest)
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

    tasks = list(plan_tasks(root, spec, seed, layouts))
    results: dict[str, list[dict]] = {"s2": [], "s1": [], "hr": [], "road": []}
    if not spec.write_imagery:
        results["s2"] = [s2_item_only(t) for kind, t in tasks if kind == "s2"]
        tasks = [(kind, t) for kind, t in tasks if kind != "s2"]
    jobs = [(kind, str(root), t) for kind, t in tasks]
    workers = workers or min(2, os.cpu_count() or 1)
    bar = tqdm(total=len(jobs), desc="rendering", unit="product", disable=not progress)
    if workers > 1 and spec.write_imagery:
        with ProcessPoolExecutor(workers) as pool:
            for kind, value in pool.map(run_task, jobs, chunksize=1):
                results[kind].append(value)
                bar.update()
    else:
        for job in jobs:
            kind, value = run_task(job)
            results[kind].append(value)
            bar.update()
    bar.close()

    write_catalogue(root, results)
    write_earthview_index(root, results["hr"], spec, seed, layouts)
    write_labels_index(root, results["hr"])
    write_roads_index(root, results["road"], layouts)
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
