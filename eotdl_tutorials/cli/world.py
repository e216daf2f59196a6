"""The world stage's commands: ``world build`` and ``world stand-in``."""

from __future__ import annotations

import argparse
import json
import shlex

from eotdl_tutorials.cli.common import BenchCommands, add_group


def _world_build(args: argparse.Namespace) -> None:
    from eotdl_tutorials.world import build_world

    build_world(args.out, profile=args.profile, seed=args.seed, progress=not args.quiet)


def _world_stand_in(args: argparse.Namespace) -> None:
    from eotdl_tutorials.stand_in import ensure_stand_in
    from eotdl_tutorials.world import open_world

    world = open_world(args.world) if args.world else None
    stand_in = ensure_stand_in(args.out, world, progress=not args.quiet)
    url = "http://127.0.0.1:7822"
    print(f"stand-in for the real services in {stand_in.root}")
    print(f"serve its STAC API at {url}: eotdl-tutorials stac serve {stand_in.root}")
    print("then run the notebooks with -p profile full and:")
    for notebook, parameters in stand_in.notebook_parameters(url).items():
        options = [
            f"-p {k} {shlex.quote(v)}"
            if isinstance(v, str)
            else f"-y {shlex.quote(json.dumps({k: v}))}"
            for k, v in parameters.items()
        ]
        print(f"  {notebook}: {' '.join(options)}")


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``world build`` and ``world stand-in``."""
    world_commands = add_group(commands, "world", "the procedural sample world")
    build = world_commands.add_parser(
        "build",
        help="render the sample world (COGs, STAC items, indexes)",
        description="Render the sample world into a folder. Same seed, same bytes; rebuilding a "
        "complete world is a no-op and an interrupted build resumes.",
    )
    build.add_argument(
        "--profile",
        choices=["ci", "default", "large"],
        default="ci",
        help="size: ci (seconds, <500 MB), default (minutes, <5 GB), large (1M footprints "
        "described in geoparquet, imagery rendered on demand); default: ci",
    )
    build.add_argument("--out", required=True, help="folder to write the world into")
    build.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(run=_world_build)
    stand_in = world_commands.add_parser(
        "stand-in",
        help="write a stand-in for the real services (STAC API items, EarthView index, "
        "WorldCover tiles, Massachusetts Roads) from the ci world, for the full profile offline",
        description="Write, from the ci sample world, what the real sources give: Sentinel-2 "
        "L2A items in Earth Search v1's conventions and Sentinel-1 RTC items in the Planetary "
        "Computer's (serve them with `eotdl-tutorials stac serve OUT`), the EarthView index, "
        "ESA WorldCover tiles and a Massachusetts Roads folder. Keep OUT outside the data "
        "folder of the runs that use it.",
    )
    stand_in.add_argument("--out", required=True, help="folder to write the stand-in into")
    stand_in.add_argument(
        "--world",
        help="a built sample world to write it from (default: the ci world, built into "
        "OUT/.sample-world-ci); it must stay where it is",
    )
    stand_in.add_argument("--quiet", action="store_true", help="no progress bar")
    stand_in.set_defaults(run=_world_stand_in)
