"""The notebooks' graph (each notebook's ``eotdl_tutorials.upstream`` metadata): it runs, and it
is what the notebooks' code reads.

What the notebooks share goes through the data folder, each thing made by the first notebook of
a course run that calls one of its functions and read by the later ones that call them:
:data:`SHARED` names them. A notebook's upstream must be exactly the makers of what it reads
(or, for what it makes itself, what that is made from), so a new read without its declaration
fails here, and so does a declaration that no read needs.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_notebook

from eotdl_tutorials.course.graph import METADATA_KEY, WORLD, GraphError, read_notebooks
from eotdl_tutorials.course.stamps import NOT_READ_BY_NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = ROOT / "eotdl_tutorials"


@dataclass(frozen=True)
class Shared:
    """Something the notebooks share: the calls that read (or build) it in a notebook's code
    (regular expressions), the step that makes it in a course run, what it is made from."""

    calls: tuple[str, ...]
    maker: str
    made_from: tuple[str, ...]


A1, A2 = "A1_multisensor_dataset", "A2_barlow_twins_pretraining"
B1, C1, C2, D1 = "B1_superres_pairs", "C1_scaneo_labels", "C2_multitask_models", "D1_road_dataset"
B3, D2 = "B3_superres_regimes", "D2_road_segmentation"
SHARED = {
    # pair_scene: B2's scene, the sample world's (full: the scene A1's matches recorded)
    "the sample world": Shared((r"\bensure_world\(", r"\bpair_scene\("), WORLD, ()),
    "the multi-sensor chip store": Shared(
        (r"\bensure_chip_store\(", r"\bchip_store_dir\("), A1, (WORLD,)
    ),
    "the Sentinel-2 encoder": Shared((r"\bmodel_dir_for\(sensor\b",), A2, (A1,)),
    # full: the pairs are those of A1's chip store
    "the super-resolution pair store": Shared((r"\bensure_pair_store\(",), B1, (WORLD, A1)),
    "the land-cover set": Shared((r"\bensure_landcover_set\(",), C1, (WORLD,)),
    "the 1 m encoder": Shared((r'\bmodel_dir_for\("hr"', r"\blandcover_encoder\("), C2, (A1,)),
    "the exported land-cover models": Shared((r"\bensure_exported_models\(",), C2, (C1,)),
    "the exported super-resolution model": Shared((r"\bbest_superres_dir\(",), B3, (B1,)),
    "the exported road model": Shared((r"\broad_model_dir\(",), D2, (D1,)),
    "the road datasets": Shared(
        (r"\bensure_aerial_roads\(", r"\bbuild_road_dataset\(", r"\bensure_road_dataset\("),
        D1,
        (WORLD,),
    ),
}


def code(path: Path) -> str:
    """The code cells of a notebook, joined."""
    notebook = nbformat.read(path, as_version=4)
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def reads(name: str, source: str) -> set[str]:
    """The steps whose outputs notebook ``name`` reads, from the calls in its ``source``."""
    found = set()
    for shared in SHARED.values():
        if any(re.search(call, source) for call in shared.calls):
            found |= {shared.maker} if shared.maker != name else set(shared.made_from)
    return found


def test_the_course_graph_runs_each_notebook_after_what_it_reads() -> None:
    graph = read_notebooks(NOTEBOOKS)
    assert sorted(nb.name for nb in graph) == sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    done = {WORLD}
    for notebook in graph:
        assert set(notebook.upstream) <= done, notebook.name
        done.add(notebook.name)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_each_notebook_declares_what_it_reads(path: Path) -> None:
    metadata = json.loads(path.read_text())["metadata"]
    assert "upstream" in metadata.get(METADATA_KEY, {}), (
        f"{path.name} declares no upstream: add metadata {METADATA_KEY}.upstream (a list)"
    )
    declared = set(metadata[METADATA_KEY]["upstream"])
    found = reads(path.stem, code(path))
    assert declared == found, (
        f"{path.name} declares upstream {sorted(declared)} but its code reads what "
        f"{sorted(found)} make (tests/test_course_graph.py SHARED): fix its metadata"
    )


def test_each_maker_makes_what_it_is_said_to() -> None:
    for what, shared in SHARED.items():
        if shared.maker != WORLD:
            source = code(NOTEBOOKS / f"{shared.maker}.ipynb")
            assert any(re.search(call, source) for call in shared.calls), what


def test_a_read_without_its_declaration_is_found() -> None:
    assert reads("X9", "store = ensure_chip_store(profile)") == {A1}
    assert reads(A1, "out = chip_store_dir(profile)\nensure_world()") == {WORLD}
    assert reads("X9", "load_or_pretrain(store, model_dir_for(sensor, profile))") == {A2}


def tiny(folder: Path, upstream: dict[str, list[str]]) -> Path:
    """Notebooks named after ``upstream``'s keys, each declaring its list."""
    folder.mkdir(exist_ok=True)
    for name, names in upstream.items():
        notebook = new_notebook()
        notebook.metadata[METADATA_KEY] = {"upstream": names}
        nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder


def test_the_run_order_puts_upstream_first(tmp_path: Path) -> None:
    folder = tiny(tmp_path, {"a": ["c"], "b": [], "c": [WORLD]})
    assert [nb.name for nb in read_notebooks(folder)] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("upstream", "error"),
    [
        ({"a": ["b"], "b": ["a"], "c": []}, "of a, b form a cycle"),
        ({"a": ["a"]}, "of a form a cycle"),
        ({"a": ["A2"]}, r"upstream \['A2'\] names no notebook"),
        ({"a": "b"}, "must be a list of notebook names"),
    ],
    ids=["cycle", "itself", "unknown", "not-a-list"],
)
def test_a_graph_that_cannot_run_is_refused(tmp_path: Path, upstream, error: str) -> None:
    with pytest.raises(GraphError, match=error):
        read_notebooks(tiny(tmp_path, upstream))


def top_level_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it is loaded (not inside functions)."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_what_no_notebook_loads_is_loaded_by_no_notebook() -> None:
    """Changing the modules of NOT_READ_BY_NOTEBOOKS runs no notebook again: no notebook
    imports them, and no other module loads them when it is imported."""
    skipped = [f"eotdl_tutorials.{name.removesuffix('.py')}" for name in NOT_READ_BY_NOTEBOOKS]
    for path in NOTEBOOKS.glob("*.ipynb"):
        for module in skipped:
            pattern = rf"\b{re.escape(module)}\b|from eotdl_tutorials import[^\n]*\b{module[16:]}\b"
            assert not re.search(pattern, code(path)), f"{path.name} imports {module}"
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if any(relative == s or relative.startswith(f"{s}/") for s in NOT_READ_BY_NOTEBOOKS):
            continue
        loaded = top_level_imports(path)
        assert not [m for m in loaded for s in skipped if m == s or m.startswith(f"{s}.")], relative
