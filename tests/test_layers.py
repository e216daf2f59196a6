"""The package reads like the pipeline: no module imports a stage that comes after its own.

Every import of every module of ``eotdl_tutorials/`` (lazy ones inside functions included) is read
with ``ast`` and checked against :data:`STAGES`, the pipeline's order, and :data:`BASE`, the
helpers below every stage. A stage's ``figures`` modules follow their stage's rule;
``display`` (the display helpers the figures share) comes right after ``facts``; the command
line and the course runner (:data:`TOP`) may import anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eotdl_tutorials"

#: Each stage of the pipeline with the stages it comes right after: a stage's modules may import
#: the stages before it (this table's transitive closure), never one after it.
STAGES: dict[str, tuple[str, ...]] = {
    "facts": (),
    "display": ("facts",),
    "world": ("display",),
    "stac": ("world",),
    "matching": ("stac",),
    "tiling": ("matching",),
    "data": ("tiling",),
    "models": ("data",),
    "training": ("models",),
    "superres": ("training",),
    "labels": ("training",),
    "multitask": ("labels",),
    "roads": ("training",),
    "downstream": ("superres", "roads"),
    "serving": ("superres", "multitask", "roads"),
}
#: Below every stage: the package root (``""``: its ``data_dir`` and ``__version__``), files,
#: subprocesses, run profiles, EOTDL's folder format, results, the intervals comparisons are
#: reported with, the book's pages built from them and papermill's engine. They import none of
#: the stages, and every module may import them.
BASE = frozenset(
    {
        "",
        "files",
        "processes",
        "profiles",
        "publish",
        "results",
        "intervals",
        "book",
        "batch",
        "notebook_parameters",
    }
)
#: Above every stage: the command line, one subcommand per stage, and ``make course``'s runner.
TOP = frozenset({"cli", "course", "stand_in"})


def before(stage: str) -> set[str]:
    """The stages that come before ``stage``."""
    found: set[str] = set()
    todo = list(STAGES[stage])
    while todo:
        earlier = todo.pop()
        if earlier not in found:
            found.add(earlier)
            todo += STAGES[earlier]
    return found


def imported_names(path: Path, package: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level name under the package) of each import of the package in ``path``:
    ``"world"`` for ``eotdl_tutorials.world.build``, ``""`` for a name of the package root."""
    module = path.relative_to(package.parent).with_suffix("").parts
    if module[-1] == "__init__":
        module = module[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            anchor = module if path.name == "__init__.py" else module[:-1]
            base = list(anchor[: len(anchor) - node.level + 1]) if node.level else []
            base += node.module.split(".") if node.module else []
            if base != [package.name]:
                targets = [base]
            else:  # from eotdl_tutorials import NAME: a module, or a name of the package root
                targets = [
                    base + [alias.name]
                    if (package / alias.name).is_dir() or (package / f"{alias.name}.py").is_file()
                    else base
                    for alias in node.names
                ]
        else:
            continue
        for target in targets:
            if target[0] == package.name:
                yield node.lineno, target[1] if len(target) > 1 else ""


def may_import(importer: str, imported: str) -> bool:
    """Whether top-level module ``importer`` may import top-level module ``imported``."""
    if importer in TOP or imported in BASE or imported == importer:
        return True
    return importer in STAGES and imported in before(importer)


def layer_violations(package: Path) -> list[str]:
    """Every import of ``package`` that runs against the layers, and every module the tables do
    not place, one line each."""
    problems = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).with_suffix("").parts
        own = "" if parts == ("__init__",) else parts[0]
        where = path.relative_to(package.parent)
        if own not in STAGES and own not in BASE | TOP:
            problems.append(f"{where}: {own} has no place in the layers")
            continue
        problems += [
            f"{where}:{line}: {own or 'the package root'} imports {name}"
            for line, name in imported_names(path, package)
            if not may_import(own, name)
        ]
    return problems


def test_no_module_imports_a_later_stage() -> None:
    assert layer_violations(PACKAGE) == []


def test_every_module_the_tables_name_exists() -> None:
    placed = set(STAGES) | (BASE - {""}) | TOP
    missing = [
        n for n in placed if not (PACKAGE / n).is_dir() and not (PACKAGE / f"{n}.py").exists()
    ]
    assert not missing, f"the layer tables name modules the package no longer has: {missing}"


def fake_package(root: Path, files: dict[str, str]) -> Path:
    """A package ``eotdl_tutorials`` under ``root`` holding ``files`` (path: source)."""
    package = root / "eotdl_tutorials"
    for name, source in files.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(source)
    return package


def test_the_fake_tree_is_clean(tmp_path: Path) -> None:
    package = fake_package(
        tmp_path,
        {
            "__init__.py": "from eotdl_tutorials.profiles import PROFILES\n",
            "profiles.py": "PROFILES = {}\n",
            "world/__init__.py": "from eotdl_tutorials import facts\n",
            "world/figures.py": "from eotdl_tutorials.display import stretch\n",
            "display.py": "from eotdl_tutorials.facts import spectra\n",
            "facts/__init__.py": "from . import spectra\n",
            "facts/spectra.py": "from eotdl_tutorials import data_dir\n",
            "serving/app.py": "def f():\n    from eotdl_tutorials.multitask.figures import x\n",
            "cli.py": "from eotdl_tutorials.serving import app\n",
        },
    )
    assert layer_violations(package) == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"world/build.py": "import eotdl_tutorials.serving.app\n"}, "world imports serving"),
        (
            {"facts/x.py": "from eotdl_tutorials import world\n", "world/__init__.py": ""},
            "facts imports world",
        ),
        ({"data/x.py": "def f():\n    from eotdl_tutorials.models import y\n"}, "data imports"),
        ({"display.py": "from eotdl_tutorials.world import World\n"}, "display imports world"),
        ({"world/figures.py": "from eotdl_tutorials.stac import s\n"}, "world imports stac"),
        ({"roads/x.py": "from eotdl_tutorials.multitask import m\n"}, "roads imports multitask"),
        ({"publish.py": "from eotdl_tutorials.stac import s\n"}, "publish imports stac"),
        ({"training/x.py": "from ..labels import y\n"}, "training imports labels"),
        ({"newstage/x.py": "x = 1\n"}, "newstage has no place in the layers"),
    ],
    ids=["import", "from-root", "lazy", "display", "figures", "sibling", "base", "relative", "new"],
)
def test_a_planted_backwards_import_is_found(tmp_path: Path, files, expected: str) -> None:
    problems = layer_violations(fake_package(tmp_path, files))
    assert len(problems) == 1 and expected in problems[0], problems
