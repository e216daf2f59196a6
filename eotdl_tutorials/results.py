"""Headline figures of every run, one JSON file per notebook and profile.

Each notebook ends by calling :func:`write_results`; the book's Results page reads the files
back with :func:`read_results`, so no figure is ever typed by hand. A file is
``$EOTDL_TUTORIALS_DATA/results/<notebook>-<profile>.json``: the notebook's figures, plus the
profile, the package version, the date and the machine it ran on. ``make course`` keeps the time
and peak memory of each of its steps in ``course-<profile>.json`` (:func:`course_path`,
written by :mod:`eotdl_tutorials.course.record`).
"""

from __future__ import annotations

import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eotdl_tutorials import __version__
from eotdl_tutorials.files import write_json
from eotdl_tutorials.profiles import check_profile, data_dir

#: The key that marks ``make course``'s results file (:func:`course_path`); its value is the
#: profile.
COURSE_KEY = "course"
#: Keys that every results file carries beside the notebook's own figures.
RUN_KEYS = ("notebook", "profile", "version", "date", "machine")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def results_dir() -> Path:
    """Where results files live: ``data_dir()/results``."""
    return data_dir() / "results"


def results_path(notebook: str, profile: str) -> Path:
    """The results file of ``notebook`` (its file name without ``.ipynb``) in ``profile``."""
    name = notebook.removesuffix(".ipynb")
    if not _NAME.match(name):
        raise ValueError(f"not a notebook name: {notebook!r} (letters, digits, '_', '-', '.')")
    return results_dir() / f"{name}-{check_profile(profile)}.json"


def course_path(profile: str) -> Path:
    """The file where ``make course`` in ``profile`` keeps each step's time and peak memory."""
    return results_dir() / f"course-{check_profile(profile)}.json"


def machine() -> dict[str, Any]:
    """The machine a figure was measured on: CPU model, cores, and the GPU if torch sees one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "system": platform.system()}


def write_results(notebook: str, profile: str, figures: dict[str, Any]) -> Path:
    """Write ``figures`` (JSON-serialisable) as the results of ``notebook`` in ``profile``.

    The file is written atomically and returned. ``figures`` must not use the run keys
    (:data:`RUN_KEYS`), which this function fills in.
    """
    clash = sorted(set(figures) & set(RUN_KEYS))
    if clash:
        raise ValueError(f"figures must not use the reserved keys {clash}")
    record = {
        "notebook": notebook.removesuffix(".ipynb"),
        "profile": profile,
        "version": __version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    path = results_path(notebook, profile)
    # Round-trip through JSON first: a figure that cannot be written fails before the file does.
    json.dumps(record, default=_plain)
    return write_json(path, json.loads(json.dumps(record, default=_plain)))


def bench_path(benchmark: str) -> Path:
    """Where ``eotdl-tutorials bench BENCHMARK`` writes its figures by default:
    ``results_dir()/bench-<benchmark>.json``."""
    if not _NAME.match(benchmark):
        raise ValueError(f"not a benchmark name: {benchmark!r} (letters, digits, '_', '-', '.')")
    return results_dir() / f"bench-{benchmark}.json"


def write_bench(
    benchmark: str, figures: dict[str, Any], path: str | os.PathLike[str] | None
) -> Path:
    """Write a benchmark's ``figures`` with the version, date and machine, to ``path`` (default
    :func:`bench_path`), atomically; the book's Results page reads it from there."""
    clash = sorted(set(figures) & {"benchmark", "version", "date", "machine"})
    if clash:
        raise ValueError(f"figures must not use the reserved keys {clash}")
    record = {
        "benchmark": benchmark,
        "version": __version__,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **figures,
    }
    target = Path(path) if path is not None else bench_path(benchmark)
    return write_json(target, json.loads(json.dumps(record, default=_plain)))


def read_results(folder: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every results file in ``folder`` (default :func:`results_dir`), sorted by file name."""
    folder = Path(folder) if folder is not None else results_dir()
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, paths and dates as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a results file")
