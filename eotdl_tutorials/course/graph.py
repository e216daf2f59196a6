"""The notebooks' graph: which notebook reads what another one (or the world build) wrote.

Each notebook declares its upstream in its metadata, ``{"eotdl_tutorials": {"upstream": [...]}}``:
the names (file names without ``.ipynb``) of the notebooks whose outputs it reads, and
:data:`WORLD` when it reads the sample world. This is the one place the graph is written;
``tests/test_course_graph.py`` checks it against the calls in the notebooks' code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: The metadata key that holds a notebook's course settings.
METADATA_KEY = "eotdl_tutorials"
#: The world build as an upstream name: the step before every notebook that reads the world.
WORLD = "world"


class GraphError(ValueError):
    """The notebooks' declared graph cannot be run: an unknown name or a cycle."""


@dataclass(frozen=True)
class Notebook:
    """A course notebook: its name, its file and the steps it reads from."""

    name: str
    path: Path
    upstream: tuple[str, ...]


def read_notebook(path: Path) -> Notebook:
    """The notebook at ``path`` with the upstream its metadata declares (none if it declares
    none)."""
    try:
        metadata = json.loads(path.read_text()).get("metadata", {})
    except (OSError, ValueError) as err:
        raise GraphError(f"cannot read notebook {path} ({err})") from None
    upstream = metadata.get(METADATA_KEY, {}).get("upstream", [])
    if not isinstance(upstream, list) or not all(isinstance(n, str) for n in upstream):
        raise GraphError(
            f"{path}: metadata {METADATA_KEY}.upstream must be a list of notebook names"
        )
    return Notebook(path.stem, path, tuple(upstream))


def read_notebooks(folder: Path) -> list[Notebook]:
    """The notebooks in ``folder`` in run order: each after its upstream, else by name.

    Raises :class:`GraphError` naming the notebook when an upstream is not a notebook of the
    folder (nor :data:`WORLD`), or when the upstream declarations form a cycle.
    """
    notebooks = [read_notebook(path) for path in sorted(folder.glob("*.ipynb"))]
    if not notebooks:
        raise GraphError(f"no notebooks in {folder}")
    names = {notebook.name for notebook in notebooks}
    for notebook in notebooks:
        unknown = sorted(set(notebook.upstream) - names - {WORLD})
        if unknown:
            raise GraphError(
                f"{notebook.path}: upstream {unknown} names no notebook in {folder}: use "
                f"notebook names without .ipynb, or {WORLD!r}"
            )
    ordered: list[Notebook] = []
    done: set[str] = set()
    waiting = list(notebooks)
    while waiting:
        ready = [nb for nb in waiting if set(nb.upstream) - {WORLD} <= done]
        if not ready:
            cycle = ", ".join(nb.name for nb in waiting)
            raise GraphError(
                f"the upstream declarations of {cycle} form a cycle: a notebook cannot read "
                "what a notebook after it writes"
            )
        ordered.append(ready[0])
        done.add(ready[0].name)
        waiting.remove(ready[0])
    return ordered
