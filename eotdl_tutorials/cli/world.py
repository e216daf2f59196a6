"""The world stage's commands: ``world build``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import BenchCommands, add_group


def _world_build(args: argparse.Namespace) -> None:
    from eotdl_tutorials.world import build_world

    build_world(args.out, profile=args.profile, seed=args.seed, progress=not args.quiet)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``world build``."""
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
