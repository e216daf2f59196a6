"""Checks of the repository itself: lint and format, dependencies declared as imported (deptry),
committed notebooks, environment.yml against pyproject.toml, the book's table of contents, and no
absolute path of a developer's machine."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from eotdl_tutorials.book import RESULTS_PAGE

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
LINTED = ("eotdl_tutorials", "tests", "notebooks")

#: pip name -> conda-forge name, where the two differ.
CONDA_NAMES = {"torch": "pytorch"}
#: Runtime dependencies that conda-forge lacks, so that environment.yml gets them through its pip
#: line: stac-fastapi-pgstac, and psycopg's binary wheel (conda-forge's psycopg is compiled).
PIP_ONLY: frozenset[str] = frozenset({"stac-fastapi-pgstac", "psycopg-binary"})
#: environment.yml's pip section: the package itself with its dev extras.
PIP_SECTION = ["-e .[dev]"]
#: Entries of environment.yml that are not dependencies of the package.
CONDA_ONLY = frozenset({"python", "pip"})
CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*$")


def conda_name(pip_name: str) -> str:
    """The conda-forge name of a pip distribution."""
    name = canonicalize_name(pip_name)
    return CONDA_NAMES.get(name, name)


def dependency_mismatches(
    pyproject: dict[str, Any], environment: dict[str, Any], pip_only: frozenset[str] = PIP_ONLY
) -> list[str]:
    """Where environment.yml and pyproject.toml disagree on a dependency, one line each.

    Every runtime dependency must be a conda package with the same version range (unless it is
    pip-only); every conda package must be a dependency or dev extra with the same range; the pip
    section must install the package with its dev extras.
    """
    project = pyproject["project"]
    runtime = [Requirement(line) for line in project["dependencies"]]
    extras = [
        Requirement(line)
        for lines in project.get("optional-dependencies", {}).values()
        for line in lines
    ]
    wanted = {conda_name(req.name): req for req in extras + runtime}

    conda_specs: list[tuple[str, str]] = []
    pip_section: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_section += entry.get("pip", [])
        else:
            name, spec = CONDA_SPEC.match(entry).groups()
            conda_specs.append((canonicalize_name(name), spec))
    conda = dict(conda_specs)

    problems = [
        f"environment.yml lists {name} {count} times"
        for name, count in Counter(name for name, _ in conda_specs).items()
        if count > 1
    ]
    for req in runtime:
        name = conda_name(req.name)
        if req.extras or req.marker:
            problems.append(f"{req}: conda cannot express extras or markers; make it pip-only")
        if canonicalize_name(req.name) in pip_only:
            if name in conda:
                problems.append(f"{req.name} is pip-only but environment.yml has it from conda")
        elif name not in conda:
            problems.append(f"{req} is in pyproject.toml but not in environment.yml (as {name})")
    for name, spec in conda.items():
        if name in CONDA_ONLY:
            continue
        if name not in wanted:
            problems.append(f"environment.yml lists {name}, which pyproject.toml does not have")
            continue
        try:
            same = SpecifierSet(spec.replace(" ", "")) == wanted[name].specifier
        except InvalidSpecifier:
            problems.append(f"environment.yml: write {name} {spec!r} like pip, e.g. >=1.2,<2")
            continue
        if not same:
            problems.append(
                f"{name}: environment.yml says {spec or 'any version'!r}, "
                f"pyproject.toml says {str(wanted[name].specifier) or 'any version'!r}"
            )
    if pip_section != PIP_SECTION:
        problems.append(f"environment.yml pip section is {pip_section}, expected {PIP_SECTION}")
    return problems


def read_environment() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def test_environment_matches_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert dependency_mismatches(pyproject, read_environment()) == []


def test_environment_channels_and_python() -> None:
    environment = read_environment()
    assert environment["channels"] == ["conda-forge", "nodefaults"]
    assert "python=3.11" in environment["dependencies"]


SMALL_PYPROJECT = {
    "project": {
        "dependencies": ["numpy>=2.0,<3", "torch>=2.4,<3", "fancy-stac>=1,<2"],
        "optional-dependencies": {"dev": ["pytest>=8,<10"]},
    }
}
SMALL_ENVIRONMENT = {
    "dependencies": [
        "python=3.11",
        "pip",
        "numpy >=2.0.0,<3.0",
        "pytorch<3,>=2.4",
        "pytest>=8,<10",
        {"pip": ["-e .[dev]"]},
    ]
}


def with_dependencies(environment: dict[str, Any], *replace: tuple[str, str | None]) -> dict:
    """A copy of ``environment`` with entries replaced (or removed, for None)."""
    changes = dict(replace)
    entries = [
        changes.get(entry, entry) if isinstance(entry, str) else entry
        for entry in environment["dependencies"]
    ]
    return {"dependencies": [entry for entry in entries if entry is not None]}


def test_mismatch_check_accepts_equivalent_ranges_and_pip_only() -> None:
    pip_only = frozenset({"fancy-stac"})
    assert dependency_mismatches(SMALL_PYPROJECT, SMALL_ENVIRONMENT, pip_only) == []


@pytest.mark.parametrize(
    ("pip_only", "replace", "expected"),
    [
        ((), (), "fancy-stac<2,>=1 is in pyproject.toml but not in environment.yml"),
        (("fancy-stac",), ("numpy >=2.0.0,<3.0", None), "numpy<3,>=2.0 is in pyproject.toml"),
        (("fancy-stac",), ("pytorch<3,>=2.4", "pytorch>=2.5,<3"), "pytorch: environment.yml says"),
        (("fancy-stac",), ("pip", "scipy>=1,<2"), "lists scipy, which pyproject.toml does not"),
        (("fancy-stac",), ("pytest>=8,<10", "pytest>=8"), "pytest: environment.yml says '>=8'"),
        (("fancy-stac",), ("pip", "fancy-stac>=1,<2"), "fancy-stac is pip-only but"),
        (("fancy-stac",), ("pytorch<3,>=2.4", "pytorch=2.4"), "write pytorch '=2.4' like pip"),
        (("fancy-stac",), ("pip", "numpy>=2.0,<3"), "lists numpy 2 times"),
    ],
    ids=[
        "only-in-pyproject",
        "removed-from-environment",
        "bound-changed",
        "only-in-environment",
        "dev-bound-changed",
        "pip-only-from-conda",
        "conda-syntax",
        "listed-twice",
    ],
)
def test_mismatch_check_finds_each_disagreement(
    pip_only: tuple[str, ...], replace: tuple[str, str | None], expected: str
) -> None:
    environment = with_dependencies(SMALL_ENVIRONMENT, *([replace] if replace else []))
    problems = dependency_mismatches(SMALL_PYPROJECT, environment, frozenset(pip_only))
    assert len(problems) == 1 and expected in problems[0], problems


def test_mismatch_check_wants_the_pip_line() -> None:
    environment = {"dependencies": SMALL_ENVIRONMENT["dependencies"][:-1]}
    problems = dependency_mismatches(SMALL_PYPROJECT, environment, frozenset({"fancy-stac"}))
    assert problems == ["environment.yml pip section is [], expected ['-e .[dev]']"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, *LINTED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: deptry's runs: the package's and the notebooks' imports against [project.dependencies] (the
#: dev extra counts as dev-only: pyproject.toml's [tool.deptry]); the tests' imports against the
#: dependencies and the dev extra (``--exclude`` replaces deptry's default, which skips tests/;
#: a dev package imported is right there, and whether each is used is the first run's business).
DEPTRY_RUNS = {
    "runtime": ["eotdl_tutorials", "notebooks"],
    "tests": ["tests", "--exclude", "tests/json_schemas", "--ignore", "DEP002,DEP004"],
}


@pytest.mark.parametrize("arguments", DEPTRY_RUNS.values(), ids=DEPTRY_RUNS)
def test_dependencies_are_declared_as_imported(arguments: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "deptry", "--no-ansi", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "no notebooks in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_is_committed_clean(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]  # as committed: nbformat adds missing ids
    missing = [i for i, cell in enumerate(cells) if "id" not in cell]
    assert not missing, f"cells {missing} have no id (nbformat 4.5): run nbformat's normalize"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code_cells) if cell.outputs or cell.execution_count]
    assert not dirty, f"code cells {dirty} have outputs or execution counts: clear them"
    parameters = [cell for cell in code_cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, f"{len(parameters)} cells tagged 'parameters', expected 1"
    assigned = {
        target.id: node.value
        for node in ast.parse(parameters[0].source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert "profile" in assigned, "the parameters cell does not assign profile"
    assert ast.literal_eval(assigned["profile"]) == "ci", "the committed profile must be 'ci'"


def toc_files(entries: list[dict[str, Any]]) -> list[str]:
    """Every ``file`` under ``entries`` of a jb-book table of contents, depth first."""
    files = []
    for entry in entries:
        if "file" in entry:
            files.append(entry["file"])
        for key in ("parts", "chapters", "sections"):
            files += toc_files(entry.get(key, []))
    return files


def test_toc_lists_exactly_the_notebooks_and_pages() -> None:
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [toc["root"], *toc_files([toc])]
    assert len(files) == len(set(files)), f"listed twice: {files}"
    notebooks = {file.removeprefix("notebooks/") for file in files if file.startswith("notebooks/")}
    assert notebooks == {path.stem for path in NOTEBOOKS}
    pages = {file for file in files if not file.startswith("notebooks/")}
    written = {path.stem for path in (ROOT / "book").glob("*.md")} - {Path(RESULTS_PAGE).stem}
    assert pages == written | {Path(RESULTS_PAGE).stem}  # the Results page is generated


#: An absolute path of a developer's machine, not a URL's path.
MACHINE_PATH = re.compile(r"(?<![\w.\-])/(?:work|root|home)/")


def test_no_absolute_paths_of_this_machine() -> None:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: cannot tell which files are part of the project")
    found = []
    for name in listed:
        path = ROOT / name
        try:
            text = path.read_text()
        except (FileNotFoundError, UnicodeDecodeError):
            continue
        found += [
            f"{name}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if MACHINE_PATH.search(line)
        ]
    assert not found, "absolute paths of this machine:\n" + "\n".join(found)
