"""Validate the STAC the course writes with the community validator, offline.

Every object is checked by ``stac-validator`` (core schema and each extension it declares), with
schema look-ups answered by the packaged copies
(:func:`~eotdl_tutorials.stac.schemas.local_schema_map`): no network. ``stac-validator`` is a
``dev`` dependency (``pip install 'eotdl-tutorials[dev]'``).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eotdl_tutorials.stac.schemas import local_schema_map

#: The link relations followed from a catalog or collection to what it holds.
CHILD_RELS = ("child", "item")


@dataclass
class ValidationReport:
    """What :func:`validate_stac_tree` checked: ``checked`` objects (``"path#id"``) and the
    ``errors`` of the invalid ones (``{"path#id": message}``)."""

    checked: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when at least one object was checked and none failed."""
        return bool(self.checked) and not self.errors

    def raise_for_errors(self) -> ValidationReport:
        """ValueError listing the invalid objects (the first ten), else ``self``."""
        if not self.checked:
            raise ValueError("no STAC objects found to validate")
        if self.errors:
            lines = [f"  {where}: {message}" for where, message in list(self.errors.items())[:10]]
            raise ValueError(
                f"{len(self.errors)} of {len(self.checked)} STAC objects are invalid:\n"
                + "\n".join(lines)
            )
        return self


def _stac_validate_class() -> Any:
    try:
        with warnings.catch_warnings():  # the 4.1 package name warns it moved to stac_valid
            warnings.simplefilter("ignore", DeprecationWarning)
            from stac_validator.validate import StacValidate
    except ImportError:
        raise ImportError(
            "STAC validation needs stac-validator: pip install 'eotdl-tutorials[dev]' "
            "(or pip install stac-validator)"
        ) from None
    return StacValidate


def validate_stac_object(stac: Mapping[str, Any]) -> str | None:
    """Validate one STAC Item, Collection or Catalog dict; None when valid, else the message."""
    validator = _stac_validate_class()(schema_map=local_schema_map())
    document = json.loads(json.dumps(stac))  # the validator may edit what it is given
    if validator.validate_dict(document):
        return None
    message = validator.message[-1] if validator.message else {}
    return str(message.get("error_message") or message or "invalid")


def _documents(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Each STAC object under ``path``: a JSON file (an object or a FeatureCollection of items),
    a catalog/collection with the children and items its links name, or a folder of those."""
    if path.is_dir():
        roots = [path / n for n in ("catalog.json", "collection.json") if (path / n).is_file()]
        files = roots or sorted(p for p in path.rglob("*.json") if not p.name.startswith("."))
        seen: set[Path] = set()
        for file in files:
            yield from _walk(file, seen)
        return
    yield from _walk(path, set())


def _walk(path: Path, seen: set[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    path = path.resolve()
    if path in seen:
        return
    seen.add(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not readable JSON: {err}") from None
    if document.get("type") == "FeatureCollection":
        for feature in document.get("features", []):
            yield path, feature
        return
    if "stac_version" not in document:
        return  # not STAC (a model's config, a chip store's meta.json)
    yield path, document
    for link in document.get("links", []):
        href = link.get("href", "")
        if link.get("rel") in CHILD_RELS and "://" not in href:
            yield from _walk(path.parent / href, seen)


def validate_stac_tree(path: str | os.PathLike[str]) -> ValidationReport:
    """Validate every STAC object at ``path`` with ``stac-validator``, offline.

    ``path``: a ``catalog.json``/``collection.json`` (followed through its child and item links),
    a JSON file of one object or a FeatureCollection of items, or a folder (its catalog.json or
    collection.json, else every JSON file in it). Call ``.raise_for_errors()`` on the report to
    stop on the first invalid tree.
    """
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist: pass a STAC catalog, file or folder")
    report = ValidationReport()
    for file, document in _documents(root):
        where = f"{file}#{document.get('id', '?')}"
        report.checked.append(where)
        error = validate_stac_object(document)
        if error is not None:
            report.errors[where] = error
    return report
