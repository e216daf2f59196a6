"""The plan-ahead page: how long the two commands take, their peak memory and their disk use.

``eotdl-tutorials course plan-ahead`` (``make plan-ahead``) reads the results files of the last
runs, ``course-ci.json`` and ``course-default.json`` (:mod:`~eotdl_tutorials.course.record`) and
``make test``'s record (``test-output/make-test.json``), and writes ``plan-ahead.json`` (their
figures) and ``plan-ahead.md`` (the page the README links to and the book includes) into
``book/measured/``. An entry whose run is missing keeps its earlier figures, each with its own
date and machine. The page is generated from the JSON file alone (:func:`plan_page`), so a test
can check that no figure in it was typed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eotdl_tutorials.book import machine_text, size_text
from eotdl_tutorials.course.memory import SAMPLE_SECONDS
from eotdl_tutorials.course.progress import duration_text, memory_text
from eotdl_tutorials.files import atomic_path, write_json
from eotdl_tutorials.results import course_path

#: The commands the page shows, in order: (entry key, the command as typed).
COMMANDS = {
    "course-ci": "make course PROFILE=ci",
    "course-default": "make course",
    "make-test": "make test",
}
#: The page and its figures, in the folder ``plan-ahead`` writes.
PAGE = "plan-ahead.md"
FIGURES = "plan-ahead.json"


def course_entry(record: dict[str, Any]) -> dict[str, Any] | None:
    """The plan-ahead figures of a course results file: the sum of its steps' last run times
    (a run from scratch, the install aside), their largest peak memory, the disk use; None when
    it has no step yet."""
    steps = record.get("steps", {})
    if not steps:
        return None
    peaks = [s.get("peak_memory_mib") for s in steps.values()]
    largest = [s.get("largest_process_mib") for s in steps.values()]
    disk = record.get("disk", {})
    return {
        "seconds": round(sum(s["seconds"] for s in steps.values()), 1),
        "peak_memory_mib": max((p for p in peaks if p is not None), default=None),
        "largest_process_mib": max((p for p in largest if p is not None), default=None),
        "environment_bytes": disk.get("environment_bytes"),
        "data_bytes": disk.get("data_bytes"),
        "steps": {
            name: {"seconds": step["seconds"], "peak_memory_mib": step.get("peak_memory_mib")}
            for name, step in steps.items()
        },
        "date": max(step.get("date", "") for step in steps.values()),
        "version": record.get("version"),
        "machine": record.get("machine"),
    }


def make_test_entry(record: dict[str, Any]) -> dict[str, Any]:
    """The plan-ahead figures of ``make test``'s record; ValueError when that run failed."""
    if record.get("returncode") != 0:
        raise ValueError(
            f"the last `make test` failed (exit status {record.get('returncode')}): its time is "
            "not a full run's; run it again until it passes"
        )
    keys = ("seconds", "peak_memory_mib", "largest_process_mib", "environment_bytes")
    return {key: record.get(key) for key in keys} | {
        "data_bytes": None,  # the tests' data folder is temporary
        "date": record.get("date"),
        "version": record.get("version"),
        "machine": record.get("machine"),
    }


def collect(test_record: Path, earlier: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The plan-ahead figures: ``earlier``'s, replaced by those of the runs found now (the
    course results files of ``ci`` and ``default``, ``make test``'s record at
    ``test_record``); with a note per run not found or not usable."""
    plan, notes = dict(earlier), []
    for key in COMMANDS:
        if key == "make-test":
            path = test_record
        else:
            path = course_path(key.removeprefix("course-"))
        kept = "its figures stay as they were"
        if not path.is_file():
            notes.append(f"{COMMANDS[key]}: no record {path}; {kept}")
            continue
        try:
            record = json.loads(path.read_text())
            entry = make_test_entry(record) if key == "make-test" else course_entry(record)
        except ValueError as err:
            notes.append(f"{COMMANDS[key]}: {err}; {kept}")
            continue
        if entry is None:
            notes.append(f"{COMMANDS[key]}: no step measured in {path}; {kept}")
        else:
            plan[key] = entry
    return plan, notes


def _disk_text(entry: dict[str, Any]) -> str:
    parts = []
    if entry.get("environment_bytes") is not None:
        parts.append(f"environment {size_text(entry['environment_bytes'])}")
    if entry.get("data_bytes") is not None:
        parts.append(f"data {size_text(entry['data_bytes'])}")
    return ", ".join(parts) or "not measured"


def plan_page(plan: dict[str, Any]) -> str:
    """The plan-ahead page (Markdown) of the figures ``plan`` (what :func:`collect` gives)."""
    lines = [
        "## Plan ahead",
        "",
        "What the two commands took when they last ran, written by `make plan-ahead` from the",
        "results files of those runs (`plan-ahead.json` beside this page holds the figures; a",
        "test checks that this page is generated from them, so none was typed).",
        "",
        "| command | time | peak memory | largest process | disk | run | machine |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, command in COMMANDS.items():
        entry = plan.get(key)
        if entry is None:
            lines.append(f"| `{command}` | not measured yet | | | | | |")
            continue
        lines.append(
            f"| `{command}` | {duration_text(entry['seconds'])} "
            f"| {memory_text(entry['peak_memory_mib'])} "
            f"| {memory_text(entry['largest_process_mib'])} | {_disk_text(entry)} "
            f"| {entry['date'][:10]}, version {entry['version']} "
            f"| {machine_text(entry['machine'])} |"
        )
    lines += [
        "",
        "Time: for `make course`, the sum of each step's last run time (the world build, every",
        "notebook, the book build: a run from scratch, the install aside; a run that changes",
        "nothing keeps every step); for `make test`, pytest's whole run. Peak memory: the",
        "largest resident memory of a step's processes at once (a notebook's kernel with its",
        f"workers), sampled every {SAMPLE_SECONDS:g} s; largest process: the highest peak of one",
        "of them. Disk: the Python environment and the data folder after the run.",
        "",
    ]
    for key, command in COMMANDS.items():
        steps = (plan.get(key) or {}).get("steps")
        if steps:
            lines += [f"### `{command}`, step by step", "", "| step | time | peak memory |"]
            lines.append("| --- | --- | --- |")
            lines += [
                f"| `{name}` | {duration_text(step['seconds'])} "
                f"| {memory_text(step['peak_memory_mib'])} |"
                for name, step in steps.items()
            ]
            lines.append("")
    return "\n".join(lines)


def write_plan(out: Path, test_record: Path) -> list[str]:
    """Write ``plan-ahead.json`` and ``plan-ahead.md`` into ``out`` from the last runs' results
    (figures of runs not found kept from the files already there); returns the notes."""
    figures = out / FIGURES
    earlier = json.loads(figures.read_text()) if figures.is_file() else {}
    plan, notes = collect(test_record, earlier)
    write_json(figures, plan)
    with atomic_path(out / PAGE) as tmp:
        tmp.write_text(plan_page(plan))
    return notes
