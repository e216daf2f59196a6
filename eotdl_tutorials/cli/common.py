"""What every stage's commands share: the ``bench`` group, the bad-input error, --json's help."""

from __future__ import annotations

import argparse


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


#: The --json option of every benchmark.
JSON_HELP = "write the figures here (default: $EOTDL_TUTORIALS_DATA/results/bench-NAME.json)"


class BenchCommands:
    """The ``bench`` group's subcommands, added where a stage first adds a benchmark (so
    ``--help`` lists ``bench`` after the stages that have none)."""

    def __init__(self, commands: argparse._SubParsersAction) -> None:
        self._commands = commands
        self._group: argparse._SubParsersAction | None = None

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        if self._group is None:
            bench = self._commands.add_parser(
                "bench", help="benchmarks with a baseline measured in the same run"
            )
            self._group = bench.add_subparsers(
                dest="bench_command", metavar="BENCHMARK", required=True
            )
        return self._group.add_parser(name, **kwargs)
