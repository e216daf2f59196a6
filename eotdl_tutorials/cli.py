"""The ``eotdl-tutorials`` command line: one subcommand per pipeline stage.

Each stage module is imported only when its subcommand runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from eotdl_tutorials import __version__


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


def _world_build(args: argparse.Namespace) -> None:
    from eotdl_tutorials.world import build_world

    build_world(args.out, profile=args.profile, seed=args.seed, progress=not args.quiet)


def _stac_serve(args: argparse.Namespace) -> None:
    from eotdl_tutorials.stac import serve_forever

    serve_forever(args.world_dir, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="eotdl-tutorials",
        description="Deep learning on Earth-observation data, offline: the course's tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    world = commands.add_parser("world", help="the procedural sample world")
    world_commands = world.add_subparsers(dest="world_command", metavar="ACTION", required=True)
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

    stac = commands.add_parser("stac", help="STAC tools")
    stac_commands = stac.add_subparsers(dest="stac_command", metavar="ACTION", required=True)
    serve = stac_commands.add_parser(
        "serve",
        help="serve a world's STAC items as a local STAC API (rustac, 127.0.0.1)",
        description="Serve the STAC collections and items of a built world with `rustac serve` "
        "on 127.0.0.1 until interrupted (Ctrl-C).",
    )
    serve.add_argument("world_dir", help="a folder made by `eotdl-tutorials world build`")
    serve.add_argument("--port", type=int, default=7822, help="TCP port (default: 7822)")
    serve.set_defaults(run=_stac_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], None] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    try:
        run(args)
    except (UserError, ValueError, FileNotFoundError, PermissionError, FileExistsError) as err:
        print(f"eotdl-tutorials: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eotdl-tutorials: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
