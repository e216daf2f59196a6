"""``make course``, incremental: the world, the notebooks and the book, each run only when
something it depends on changed.

A notebook runs again when its source, the package (:func:`~eotdl_tutorials.course.stamps.
package_digest`), the installed packages, the data folder, its parameters or profile changed, or
when an upstream step (:mod:`~eotdl_tutorials.course.graph`) ran again; otherwise it is kept.
Each notebook runs with papermill's Python API and the course's engine ``eotdl`` from its folder,
into a temporary name renamed when done, and leaves its stamp as it finishes: a failed run keeps
the notebooks before it, and the next run resumes at the failed one. The time and peak memory of
every step go to the course's results file (:mod:`~eotdl_tutorials.course.record`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from eotdl_tutorials.course.graph import WORLD, Notebook, read_notebooks
from eotdl_tutorials.course.memory import Measured, TreeSampler, run_measured
from eotdl_tutorials.course.progress import done_line, progress_line
from eotdl_tutorials.course.record import (
    disk_use,
    last_seconds,
    read_record,
    record_run,
    record_step,
)
from eotdl_tutorials.course.stamps import (
    changed,
    data_id,
    digest_bytes,
    environment_digest,
    files_digest,
    notebook_reasons,
    package_digest,
    read_stamp,
    write_stamp,
)
from eotdl_tutorials.notebook_parameters import course_parameters, missing_in_full, missing_message
from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir
from eotdl_tutorials.results import results_dir

#: The package whose code the notebooks run.
PACKAGE = Path(__file__).resolve().parents[1]
#: Where the stamps of the executed notebooks are kept, in their folder.
STAMPS = ".stamps"
#: The reason every step runs under ``--force`` (``make course FORCE=1``).
FORCED = "--force (FORCE=1) runs every step"
#: The book build's stamp, in its build folder.
BOOK_STAMP = ".course-stamp.json"
#: Why the book is built again, by the input that changed.
BOOK_REASONS = {
    "pages": "its pages changed",
    "config": "its configuration changed",
    "notebooks": "the executed notebooks changed",
    "results": "the results files changed",
    "package": "the package changed",
    "environment": "the installed packages changed",
    "command": "its command changed",
}

Say = Callable[[str], None]
#: Print a line now (make's output is a pipe when logged).
say_now: Say = partial(print, flush=True)


class StepFailed(RuntimeError):
    """A step of the course failed; the message says which and what is kept."""


def world_reasons(root: Path, profile: str, seed: int = 0) -> list[str]:
    """Why the sample world of ``profile`` in ``root`` must be built (empty: it is complete)."""
    from eotdl_tutorials.world.folder import MANIFEST
    from eotdl_tutorials.world.spec import FORMAT_VERSION

    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return [f"no world in {root}"]
    if manifest.get("format_version") != FORMAT_VERSION:
        return [f"{root} was built by another version"]  # the build says what to do
    if (manifest.get("profile"), manifest.get("seed")) != (profile, seed):
        return [f"{root} holds another world"]
    if not manifest.get("complete"):
        return ["its build did not finish"]
    return []


def world_run(root: Path) -> str:
    """The world's run id: the hash of its manifest (the same seed renders the same bytes)."""
    from eotdl_tutorials.world.folder import MANIFEST

    return digest_bytes([(root / MANIFEST).read_bytes()])


def execute(notebook: Notebook, out: Path, parameters: Mapping[str, Any]) -> Measured:
    """Run ``notebook`` with ``parameters`` from its folder into ``out/<name>.ipynb`` (through a
    temporary name, renamed when done), measuring its kernel's process tree."""
    import papermill

    running = out / f".{notebook.name}.running.ipynb"
    os.environ["EOTDL_TUTORIALS_BATCH"] = "1"  # one line per long step, not a progress bar
    start = time.monotonic()
    with TreeSampler(os.getpid(), include_root=False) as sampler:  # the kernel and its children
        try:
            papermill.execute_notebook(
                str(notebook.path),
                str(running),
                parameters=dict(parameters),
                cwd=str(notebook.path.parent),
                kernel_name="python3",
                engine_name="eotdl",  # eotdl_tutorials.batch
                progress_bar=sys.stderr.isatty(),
            )
        except Exception as err:  # a cell's error, a dead kernel
            raise StepFailed(
                f"{notebook.name} failed; what it ran is in {running}. The notebooks before it "
                f"are kept: fix it and run again to resume there.\n{err}"
            ) from err
    seconds = time.monotonic() - start
    os.replace(running, out / f"{notebook.name}.ipynb")
    figures = sampler.figures()
    return Measured(0, seconds, figures["peak_memory_mib"], figures["largest_process_mib"])


def build_world(root: Path, profile: str) -> Measured:
    """Build the sample world of ``profile`` into ``root`` with ``eotdl-tutorials world build``,
    measured."""
    command = [sys.executable, "-m", "eotdl_tutorials.cli", "world", "build"]
    measured = run_measured([*command, "--profile", profile, "--out", str(root)])
    if measured.returncode:
        raise StepFailed(f"the world build failed (exit status {measured.returncode}): see above")
    return measured


@dataclass
class Plan:
    """What a course run will do: each step with the reasons it runs (empty: kept), in run
    order; the inputs each notebook runs with; each step's run id (None: it runs now)."""

    profile: str
    steps: list[tuple[str, list[str]]]
    notebooks: dict[str, Notebook]
    inputs: dict[str, dict[str, Any]]
    runs: dict[str, str | None]
    world: Path | None

    @property
    def to_run(self) -> list[str]:
        """The steps that run, in order."""
        return [name for name, reasons in self.steps if reasons]

    def lines(self) -> list[str]:
        """What the run keeps and runs, and why, one line each after a summary."""
        lines = [
            f"make course ({self.profile}): {len(self.to_run)} of {len(self.steps)} steps to run"
        ]
        for name, reasons in self.steps:
            if reasons:
                lines.append(f"  runs {name}: {'; '.join(reasons)}")
            else:
                kept = (
                    f"{self.world} is complete"
                    if name == WORLD
                    else "nothing it depends on changed"
                )
                lines.append(f"  kept {name}: {kept}")
        return lines


def plan_course(
    profile: str,
    parameters: Mapping[str, Any],
    notebooks: Path,
    out: Path,
    force: bool = False,
    package: Path = PACKAGE,
) -> Plan:
    """Decide which steps of the course in ``profile`` run: the sample world when a notebook
    reads it and it is not complete, then each notebook of ``notebooks`` (executed into
    ``out`` with ``parameters``) whose inputs changed since its stamp, or whose upstream runs
    or ran since; every notebook with ``force``. In ``full``, raises :class:`StepFailed` naming
    every parameter the notebooks require there and ``parameters`` lacks, before anything."""
    check_profile(profile)
    graph = read_notebooks(notebooks)
    if profile == "full":
        missing = missing_in_full(course_parameters(nb.path for nb in graph), parameters)
        if missing:
            raise StepFailed(missing_message(missing))
    data = data_dir()
    data.mkdir(parents=True, exist_ok=True)
    common = {
        "package": package_digest(package),
        "environment": environment_digest(),
        "data": data_id(data),
        "parameters": {"profile": profile, **parameters},
    }
    runs: dict[str, str | None] = {}
    steps: list[tuple[str, list[str]]] = []
    world_profile = WORLD_PROFILE[profile]
    world = data / f"world-{world_profile}" if world_profile else None
    if world is not None and any(WORLD in notebook.upstream for notebook in graph):
        reasons = world_reasons(world, world_profile)
        runs[WORLD] = None if reasons else world_run(world)
        steps.append((WORLD, reasons))
    inputs: dict[str, dict[str, Any]] = {}
    for notebook in graph:
        inputs[notebook.name] = {
            "source": files_digest(notebook.path.parent, [notebook.path]),
            **common,
        }
        stamp = read_stamp(out / STAMPS / f"{notebook.name}.json")
        upstream = {name: runs[name] for name in notebook.upstream if name in runs}
        executed = (out / f"{notebook.name}.ipynb").is_file()
        reasons = [FORCED] if force else []
        reasons = reasons or notebook_reasons(stamp, inputs[notebook.name], upstream, executed)
        runs[notebook.name] = None if reasons or stamp is None else stamp["run"]
        steps.append((notebook.name, reasons))
    by_name = {notebook.name: notebook for notebook in graph}
    return Plan(profile, steps, by_name, inputs, runs, world if WORLD in runs else None)


def run_course(
    profile: str,
    parameters: Mapping[str, Any],
    notebooks: Path,
    out: Path,
    force: bool = False,
    package: Path = PACKAGE,
    say: Say = say_now,
) -> list[str]:
    """Run the steps of the course in ``profile`` that :func:`plan_course` says must run, in
    order; print what it keeps and runs and why, then the progress. Each notebook's stamp is
    written as it finishes, each step's time and peak memory go to the course's results file.
    Returns the steps it ran; raises :class:`StepFailed` at the first step that fails."""
    start = time.monotonic()
    out = out.resolve()  # papermill saves as it runs, from the notebook's folder
    plan = plan_course(profile, parameters, notebooks.resolve(), out, force, package)
    for line in plan.lines():
        say(line)
    last = last_seconds(read_record(profile))
    to_run = plan.to_run
    out.mkdir(parents=True, exist_ok=True)
    ran: list[str] = []
    failed = None
    try:
        for position, name in enumerate(to_run, 1):
            estimates = [last.get(step) for step in to_run[position - 1 :]]
            say(progress_line(position, len(to_run), name, estimates))
            failed = name
            if name == WORLD:
                world_profile = WORLD_PROFILE[profile]
                measured = build_world(plan.world, world_profile)
                plan.runs[WORLD] = world_run(plan.world)
            else:
                notebook = plan.notebooks[name]
                upstream = {u: plan.runs[u] for u in notebook.upstream if u in plan.runs}
                stamp_path = out / STAMPS / f"{name}.json"
                stamp_path.unlink(missing_ok=True)  # a failed run leaves none
                measured = execute(notebook, out, plan.inputs[name]["parameters"])
                stamp = write_stamp(stamp_path, plan.inputs[name] | {"upstream": upstream})
                plan.runs[name] = stamp["run"]
            failed = None
            ran.append(name)
            record_step(profile, name, measured.figures())
            say(done_line(position, len(to_run), name, measured.seconds, measured.peak_memory_mib))
    finally:
        measure_disk = ran or "disk" not in read_record(profile)
        kept = [name for name, reasons in plan.steps if not reasons]
        order = [name for name, _ in plan.steps]
        seconds = time.monotonic() - start
        disk = disk_use() if measure_disk else None
        record_run(profile, order, ran, kept, seconds, force, failed, disk)
    return ran


def book_inputs(book: Path, config: Path, command: Sequence[str]) -> dict[str, str]:
    """What the book build reads, hashed: its pages (not what the build generates), its
    configuration, the executed notebooks, the results files (not the course's own, which the
    book build itself updates), the whole package, the installed packages and the command."""
    generated = ("_build/", "_generated/", "notebooks/", "results.md")
    pages = [
        path
        for path in book.rglob("*")
        if path.is_file() and not path.relative_to(book).as_posix().startswith(generated)
    ]
    folder = results_dir()
    results = [p for p in folder.glob("*.json") if not p.name.startswith("course-")]
    return {
        "pages": files_digest(book, pages),
        "config": files_digest(config.parent, [config]),
        "notebooks": files_digest(book, (book / "notebooks").glob("*.ipynb")),
        "results": files_digest(folder, results),
        "package": package_digest(PACKAGE, ()),
        "environment": environment_digest(),
        "command": digest_bytes(part.encode() for part in command),
    }


def build_book(
    profile: str,
    command: Sequence[str],
    book: Path,
    config: Path,
    force: bool = False,
    say: Say = say_now,
) -> bool:
    """Build the book with ``command`` unless nothing it reads changed since the last build
    (``force``: build anyway); its time and peak memory go to the course's results file of
    ``profile``. Returns whether it built."""
    inputs = book_inputs(book, config, command)
    stamp_path = book / "_build" / BOOK_STAMP
    stamp = read_stamp(stamp_path)
    if force:
        reasons = [FORCED]
    elif stamp is None:
        reasons = ["no earlier build"]
    else:
        missing = not (book / "_build" / "html" / "index.html").is_file()
        reasons = ["its HTML is missing"] * missing + changed(stamp["inputs"], inputs, BOOK_REASONS)
    if not reasons:
        say("kept book: nothing it reads changed")
        return False
    say(f"runs book: {'; '.join(reasons)}")
    last = last_seconds(read_record(profile)).get("book")
    say(progress_line(1, 1, "book", [last]))
    stamp_path.unlink(missing_ok=True)
    measured = run_measured(command)
    if measured.returncode:
        raise StepFailed(f"the book build failed (exit status {measured.returncode}): see above")
    write_stamp(stamp_path, inputs)
    record_step(profile, "book", measured.figures())
    say(done_line(1, 1, "book", measured.seconds, measured.peak_memory_mib))
    return True
