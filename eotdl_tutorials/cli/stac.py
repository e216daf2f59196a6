"""The stac stage's commands: ``stac serve``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import BenchCommands, add_group


def _stac_serve(args: argparse.Namespace) -> None:
    from eotdl_tutorials.stac import serve_forever

    serve_forever(args.world_dir, port=args.port, backend=args.backend)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``stac serve``."""
    stac_commands = add_group(commands, "stac", "STAC tools")
    serve = stac_commands.add_parser(
        "serve",
        help="serve a world's STAC items as a local STAC API (rustac or pgstac, 127.0.0.1)",
        description="Serve the STAC collections and items of a built world on 127.0.0.1 until "
        "interrupted (Ctrl-C): with `rustac serve` (in memory), or with stac-fastapi-pgstac over "
        "a private PostgreSQL cluster in DATA/pgstac (started and stopped with the command).",
    )
    serve.add_argument(
        "world_dir",
        help="a folder made by `eotdl-tutorials world build` or `eotdl-tutorials world stand-in`",
    )
    serve.add_argument("--port", type=int, default=7822, help="TCP port (default: 7822)")
    serve.add_argument(
        "--backend",
        choices=["rustac", "pgstac"],
        default="rustac",
        help="rustac (in memory, zero set-up) or pgstac (a private PostgreSQL cluster under the "
        "data folder, loaded once, served by stac-fastapi-pgstac; needs PostGIS) "
        "(default: rustac)",
    )
    serve.set_defaults(run=_stac_serve)
