"""The course's commands (``make course`` and ``make test`` call them): ``course run``,
``course book``, ``course measure`` and ``course plan-ahead``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eotdl_tutorials.cli.common import BenchCommands, UserError, add_group


def parameter_value(text: str) -> Any:
    """A ``-p NAME VALUE`` value as papermill's command line reads it: ``True``, ``False``,
    ``None``, an int, a float, else the text."""
    constants = {"True": True, "False": False, "None": None}
    if text in constants:
        return constants[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _command(args: argparse.Namespace) -> list[str]:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UserError("give the command to run after --, e.g. -- jupyter-book build book")
    return command


def _run(args: argparse.Namespace) -> None:
    from eotdl_tutorials.course.runner import StepFailed, run_course

    parameters = {name: parameter_value(value) for name, value in args.parameter or []}
    try:
        run_course(args.profile, parameters, Path(args.notebooks), Path(args.out), force=args.force)
    except StepFailed as err:
        raise UserError(str(err)) from None


def _book(args: argparse.Namespace) -> None:
    from eotdl_tutorials.course.runner import StepFailed, build_book

    try:
        build_book(
            args.profile, _command(args), Path(args.book), Path(args.config), force=args.force
        )
    except StepFailed as err:
        raise UserError(str(err)) from None


def _measure(args: argparse.Namespace) -> None:
    from eotdl_tutorials.course.memory import run_measured
    from eotdl_tutorials.course.progress import duration_text, memory_text
    from eotdl_tutorials.course.record import write_measured

    command = _command(args)
    measured = run_measured(command)
    figures = measured.figures() | {"returncode": measured.returncode}
    path = write_measured(Path(args.json), args.name, command, figures)
    print(
        f"{args.name}: {duration_text(measured.seconds)}, peak memory "
        f"{memory_text(measured.peak_memory_mib)}, exit status {measured.returncode} "
        f"(written to {path})"
    )
    if measured.returncode:
        raise SystemExit(measured.returncode)


def _plan_ahead(args: argparse.Namespace) -> None:
    from eotdl_tutorials.course.plan import PAGE, write_plan

    for note in write_plan(Path(args.out), Path(args.test_record)):
        print(note)
    print("written:", Path(args.out) / PAGE)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``course run``, ``course book``, ``course measure``, ``course plan-ahead``."""
    course = add_group(commands, "course", "make course's steps, each run only when needed")
    run = course.add_parser(
        "run",
        help="build the world and execute the notebooks whose inputs changed",
        description="Build the sample world when missing, then execute each notebook whose "
        "source, package, installed packages, data folder, parameters or upstream notebooks "
        "changed since its last run (the graph: each notebook's metadata); print what it keeps "
        "and runs and why, and the progress. Each step's time and peak memory go to "
        "$EOTDL_TUTORIALS_DATA/results/course-PROFILE.json.",
    )
    run.add_argument("--profile", choices=["ci", "default", "full"], default="default")
    run.add_argument("--force", action="store_true", help="run every notebook again")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a papermill parameter for every notebook (as papermill's -p)",
    )
    run.add_argument("--notebooks", default="notebooks", help="default: notebooks")
    run.add_argument("--out", default="book/notebooks", help="default: book/notebooks")
    run.set_defaults(run=_run)

    book = course.add_parser(
        "book",
        help="build the book with COMMAND unless nothing it reads changed",
        description="Run COMMAND (the book build) unless the book's pages, configuration, "
        "executed notebooks, results files, the package and the installed packages are those "
        "of its last build; its time and peak memory go to the course's results file.",
    )
    book.add_argument("--profile", choices=["ci", "default", "full"], default="default")
    book.add_argument("--force", action="store_true", help="build even if nothing changed")
    book.add_argument("--book", default="book", help="the book's folder (default: book)")
    book.add_argument("--config", default="_config.yml", help="default: _config.yml")
    book.add_argument("command", nargs=argparse.REMAINDER, help="-- the build command")
    book.set_defaults(run=_book)

    measure = course.add_parser(
        "measure",
        help="run COMMAND and write its time and peak memory to a JSON file",
        description="Run COMMAND, measure its wall time and the peak memory of its process "
        "tree, write them to --json and exit with COMMAND's exit status.",
    )
    measure.add_argument("--json", required=True, help="where to write the figures")
    measure.add_argument("--name", required=True, help="what was run, e.g. 'make test'")
    measure.add_argument("command", nargs=argparse.REMAINDER, help="-- the command")
    measure.set_defaults(run=_measure)

    plan = course.add_parser(
        "plan-ahead",
        help="write the plan-ahead page from the last runs' results files",
        description="Write plan-ahead.json and plan-ahead.md (time, peak memory and disk of "
        "make course in ci and default and of make test) from the course results files in "
        "$EOTDL_TUTORIALS_DATA/results and make test's record.",
    )
    plan.add_argument(
        "--test-record",
        default="test-output/make-test.json",
        help="make test's record (default: test-output/make-test.json)",
    )
    plan.add_argument("--out", default="book/measured", help="default: book/measured")
    plan.set_defaults(run=_plan_ahead)
