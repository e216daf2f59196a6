"""The ``eotdl-tutorials`` command line: every stage registers its own commands.

Each module here holds one stage's commands (its ``register(commands, bench_commands)`` adds
them, benchmarks under ``bench``); a command imports its stage only when it runs, so ``--help``
stays fast and ``serve`` loads nothing but serving.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from eotdl_tutorials import __version__
from eotdl_tutorials.cli import (
    course,
    matching,
    roads,
    serving,
    stac,
    superres,
    tiling,
    training,
    world,
)
from eotdl_tutorials.cli.common import BenchCommands, UserError

#: The stages whose commands the command line has, in the order ``--help`` lists them.
STAGES = (world, stac, training, matching, tiling, superres, serving, roads, course)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="eotdl-tutorials",
        description="Deep learning on Earth-observation data, offline: the course's tools.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench_commands = BenchCommands(commands)
    for stage in STAGES:
        stage.register(commands, bench_commands)
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
    except (UserError, ValueError, OSError) as err:
        print(f"eotdl-tutorials: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eotdl-tutorials: interrupted", file=sys.stderr)
        return 130
    return 0
