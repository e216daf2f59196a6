"""What the stages' commands share: command groups (``bench`` too), benchmark output, errors."""

from __future__ import annotations

import argparse


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


#: The --json option of every benchmark.
JSON_HELP = "write the figures here (default: $EOTDL_TUTORIALS_DATA/results/bench-NAME.json)"


def add_group(
    commands: argparse._SubParsersAction, name: str, help: str, metavar: str = "ACTION"
) -> argparse._SubParsersAction:
    """A command ``name`` made of subcommands (one is required): add them to what it returns."""
    group = commands.add_parser(name, help=help)
    return group.add_subparsers(dest=f"{name}_command", metavar=metavar, required=True)


def print_bench(name: str, report: str, result: dict, json_path: str | None) -> None:
    """Print a benchmark's report, then write its figures (``bench-NAME.json``) and say where."""
    from eotdl_tutorials.results import write_bench

    print(report)
    print("figures written to", write_bench(name, result, json_path))


class BenchCommands:
    """The ``bench`` group's subcommands, added where a stage first adds a benchmark (so
    ``--help`` lists ``bench`` after the stages that have none)."""

    def __init__(self, commands: argparse._SubParsersAction) -> None:
        self._commands = commands
        self._group: argparse._SubParsersAction | None = None

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        if self._group is None:
            self._group = add_group(
                self._commands,
                "bench",
                "benchmarks with a baseline measured in the same run",
                metavar="BENCHMARK",
            )
        return self._group.add_parser(name, **kwargs)
