"""A built sample world on disk: its manifest, the :class:`World` accessor and opening one."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eotdl_tutorials.facts.sensors import HR_TILE_PX
from eotdl_tutorials.world.landscape import Landscape, _seed, generate_landscape, read_landscape
from eotdl_tutorials.world.render import render_hr_tile
from eotdl_tutorials.world.spec import FORMAT_VERSION, TileGrid, world_profile

WORLD_FORMAT = "eotdl-tutorials-world"
MANIFEST = "world.json"
EARTHVIEW_INDEX = "satellogic-earthview-items.parquet"


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
    check_manifest(root, manifest)
    if not manifest.get("complete"):
        raise WorldError(f"the world in {root} is incomplete: run the same build again to resume")
    return World(root, manifest)


def check_manifest(root: Path, manifest: dict) -> None:
    if manifest.get("format") != WORLD_FORMAT:
        raise WorldError(f"{root} holds something else than a sample world: choose another folder")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise WorldError(
            f"{root} was built by another version of eotdl-tutorials (world format "
            f"{manifest.get('format_version')}, this version reads {FORMAT_VERSION}): "
            "delete the folder or build into another one"
        )
