"""The course's results file: the time and peak memory of every step of ``make course``.

``$EOTDL_TUTORIALS_DATA/results/course-<profile>.json`` (:func:`~eotdl_tutorials.results.
course_path`) holds, per step (the world build, each notebook, the book build), the figures of
its last run, so a kept step keeps its last measured figures; the last run's summary (what it
ran and kept, its wall time); the disk the Python environment and the data folder take; the
machine. The file is rewritten atomically after each step.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from eotdl_tutorials import __version__
from eotdl_tutorials.book import folder_bytes
from eotdl_tutorials.files import write_json
from eotdl_tutorials.profiles import data_dir
from eotdl_tutorials.results import COURSE_KEY, course_path, machine


def now() -> str:
    """The date and time now (UTC), to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@cache
def this_machine() -> dict[str, Any]:
    """:func:`~eotdl_tutorials.results.machine`, read once per process (it imports torch)."""
    return machine()


def read_record(profile: str) -> dict[str, Any]:
    """The course results file of ``profile``; an empty one when there is none."""
    path = course_path(profile)
    if not path.is_file():
        return {COURSE_KEY: profile, "steps": {}}
    try:
        record = json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"course results file {path} cannot be read ({err}): delete it") from None
    record.setdefault("steps", {})
    return record


def update_record(profile: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """Apply ``change`` to the course results file of ``profile`` and write it atomically."""
    record = read_record(profile)
    change(record)
    record["version"] = __version__
    record["date"] = now()
    return write_json(course_path(profile), record)


def last_seconds(record: dict[str, Any]) -> dict[str, float]:
    """Each step's run time in ``record``'s last measurement of it."""
    return {
        name: step["seconds"]
        for name, step in record["steps"].items()
        if isinstance(step.get("seconds"), int | float)
    }


def record_step(profile: str, name: str, figures: dict[str, Any]) -> Path:
    """Keep ``figures`` (``seconds``, ``peak_memory_mib``, ...) as step ``name``'s last run."""

    def change(record: dict[str, Any]) -> None:
        record["machine"] = this_machine()
        record["steps"][name] = {**figures, "date": now(), "version": __version__}

    return update_record(profile, change)


def disk_use(data: Path | None = None) -> dict[str, Any]:
    """What the Python environment (None outside a virtual environment) and the data folder
    take on disk now, in bytes."""
    environment = Path(sys.prefix) if sys.prefix != sys.base_prefix else None
    return {
        "environment": environment.name if environment else None,
        "environment_bytes": folder_bytes(environment) if environment else None,
        "data_bytes": folder_bytes((data or data_dir()).resolve()),
        "date": now(),
    }


def record_run(
    profile: str,
    order: Sequence[str],
    ran: Sequence[str],
    kept: Sequence[str],
    seconds: float,
    force: bool,
    failed: str | None,
    disk: dict[str, Any] | None,
) -> Path:
    """Keep the last run's summary: the steps in run ``order``, those it ``ran`` and ``kept``,
    the step that ``failed`` (None: none), its wall time, and the disk use when it was measured
    (None: unchanged)."""

    def change(record: dict[str, Any]) -> None:
        steps = record["steps"]
        record["steps"] = {n: steps[n] for n in order if n in steps} | {
            n: step for n, step in steps.items() if n not in order
        }
        record["last_run"] = {
            "date": now(),
            "seconds": round(seconds, 1),
            "ran": list(ran),
            "kept": list(kept),
            "failed": failed,
            "force": force,
        }
        if disk is not None:
            record["disk"] = disk

    return update_record(profile, change)


def write_measured(path: Path, name: str, command: Sequence[str], figures: dict[str, Any]) -> Path:
    """Write what a command (e.g. ``make test``'s pytest) took: its ``figures`` (``seconds``,
    ``peak_memory_mib``, ``largest_process_mib``, ``returncode``), the environment's disk use,
    the date, version and machine, atomically to ``path``."""
    environment = Path(sys.prefix) if sys.prefix != sys.base_prefix else None
    return write_json(
        path,
        {
            "name": name,
            "command": [Path(command[0]).name, *command[1:]] if command else [],
            **figures,
            "environment": environment.name if environment else None,
            "environment_bytes": folder_bytes(environment) if environment else None,
            "date": now(),
            "version": __version__,
            "machine": this_machine(),
        },
    )
