"""Atomic file writing: a file appears complete under its final name, or not at all.

Every stage writes through these helpers, so an interrupted run can be resumed and never leaves
a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike[str], value: Any, indent: int | None = 1) -> Path:
    """Write ``value`` as indented JSON, atomically; ``indent=None``: on one line (written by
    the C encoder, several times faster: for the many small files of a catalog)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=indent, default=str) + "\n")
    return Path(path)


def check_writable(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` if needed and check that it can be written, with a clear error if not."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise PermissionError(
            f"cannot write to {folder} ({err.strerror}): choose another folder with --out"
        ) from None
    return folder
