"""The sample world: a deterministic, procedurally generated Earth seen by three sensors.

``build_world`` renders it to disk (COGs, STAC items, indexes), ``open_world`` opens a built one,
and ``ensure_world`` gives the world of a run profile in the course's data folder.
"""

from eotdl_tutorials.facts.classes import CLASSES
from eotdl_tutorials.world.build import build_world, ensure_world
from eotdl_tutorials.world.folder import World, WorldError, open_world
from eotdl_tutorials.world.landscape import Landscape, generate_landscape, region_layout
from eotdl_tutorials.world.render import (
    render_hr_tile,
    render_s1_scene,
    render_s2_scene,
    render_surface,
)
from eotdl_tutorials.world.spec import REGIONS, TileGrid, world_profile

__all__ = [
    "CLASSES",
    "REGIONS",
    "Landscape",
    "TileGrid",
    "World",
    "WorldError",
    "build_world",
    "ensure_world",
    "generate_landscape",
    "open_world",
    "region_layout",
    "render_hr_tile",
    "render_s1_scene",
    "render_s2_scene",
    "render_surface",
    "world_profile",
]
