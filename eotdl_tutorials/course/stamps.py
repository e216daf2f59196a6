"""What a step's run depends on, hashed, and why it runs again or is kept.

A step (a notebook, the book) that finished leaves a stamp: its inputs (the hash of each thing
it depends on) and a run id, new at every run. The next run compares the inputs it would run
with against the stamp's: equal, the step is kept; otherwise the differences are the reasons it
runs. A notebook's inputs hold its upstream's run ids, so a step that ran again runs its
downstream again. Stamps are written atomically, each as its step finishes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eotdl_tutorials.files import atomic_path, write_json

#: What in the package no notebook loads: changing it runs no notebook again (the book, which
#: loads every module, hashes the whole package).
NOT_READ_BY_NOTEBOOKS = ("course", "book.py")
#: The data folder's identity, a file in it: a new data folder (deleted, another DATA) has
#: another id, and every notebook runs again to fill it.
DATA_ID = ".course-id"
#: Why a notebook runs again, by the input that changed (parameters and upstream say more).
NOTEBOOK_REASONS = {
    "source": "its source changed",
    "package": "the package changed",
    "environment": "the installed packages changed",
    "data": "the data folder changed",
}


def digest_bytes(parts: Iterable[bytes]) -> str:
    """The SHA-256 of ``parts``, each length-prefixed (so no two lists hash alike)."""
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "little"))
        sha.update(part)
    return sha.hexdigest()


def files_digest(root: Path, paths: Iterable[Path]) -> str:
    """The hash of ``paths`` (files under ``root``): their names relative to ``root`` and their
    bytes, in name order."""
    parts: list[bytes] = []
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        parts += [path.relative_to(root).as_posix().encode(), path.read_bytes()]
    return digest_bytes(parts)


def package_digest(package: Path, skip: Iterable[str] = NOT_READ_BY_NOTEBOOKS) -> str:
    """The hash of the package's Python files (``package/**/*.py``), without the modules and
    folders named in ``skip`` (relative to ``package``)."""
    skipped = tuple(skip)
    files = [
        path
        for path in package.rglob("*.py")
        if not any(
            path.relative_to(package).as_posix() == s
            or path.relative_to(package).as_posix().startswith(f"{s}/")
            for s in skipped
        )
    ]
    return files_digest(package, files)


def environment_digest() -> str:
    """The hash of the installed distributions' names and versions."""
    found = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    return digest_bytes(line.encode() for line in found)


def data_id(folder: Path) -> str:
    """The identity of the data ``folder``, written into it (:data:`DATA_ID`) when missing."""
    path = folder / DATA_ID
    if not path.is_file():
        with atomic_path(path) as tmp:
            tmp.write_text(uuid.uuid4().hex + "\n")
    return path.read_text().strip()


def read_stamp(path: Path) -> dict[str, Any] | None:
    """The stamp at ``path``; None when there is none (or it cannot be read: the step runs)."""
    try:
        stamp = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and "inputs" in stamp and "run" in stamp else None


def write_stamp(path: Path, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Write a new run's stamp for ``inputs`` at ``path`` (atomically) and return it."""
    stamp = {
        "run": uuid.uuid4().hex,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": dict(inputs),
    }
    write_json(path, stamp)
    return stamp


def changed(old: Mapping[str, Any], new: Mapping[str, Any], texts: Mapping[str, str]) -> list[str]:
    """The texts of the inputs in ``texts`` whose values differ between ``old`` and ``new``."""
    return [text for key, text in texts.items() if old.get(key) != new.get(key)]


def notebook_reasons(
    stamp: dict[str, Any] | None,
    inputs: Mapping[str, Any],
    upstream: Mapping[str, str | None],
    executed: bool,
) -> list[str]:
    """Why a notebook runs, given its ``stamp`` (None: none), the ``inputs`` it would run with
    (``source``, ``package``, ``environment``, ``data``, ``parameters``), the run id of each
    upstream step (None: it runs again now) and whether its executed copy exists; empty when
    it is kept."""
    if stamp is None:
        return ["no earlier run"]
    old = stamp["inputs"]
    reasons = [] if executed else ["its executed copy is missing"]
    reasons += changed(old, inputs, NOTEBOOK_REASONS)
    before, now = old.get("parameters", {}), inputs["parameters"]
    names = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    if names:
        reasons.append(f"parameters changed ({', '.join(names)})")
    recorded = old.get("upstream", {})
    for name, run in upstream.items():
        if run is None:
            reasons.append(f"upstream {name} runs again")
        elif recorded.get(name) != run:
            reasons.append(f"upstream {name} ran since its last run")
    return reasons
