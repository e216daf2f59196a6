"""The course notebooks, end to end: each one executed by papermill in the ci profile, the same
notebooks under ``pytest --nbval-lax``, and the Jupyter Book built from the executed copies with
warnings as errors (the way ``make course`` builds it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BIN = Path(sys.executable).parent


def execute(notebook: Path, output: Path) -> None:
    """Run ``notebook`` in the ci profile from notebooks/ (as ``make course`` does)."""
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters={"profile": "ci"},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=600,
    )


class ExecutedNotebooks:
    """Each notebook executed at most once per module, its outcome kept for the book."""

    def __init__(self, folder: Path, seconds: dict[str, float]) -> None:
        self.folder = folder
        self.seconds = seconds
        self.errors: dict[Path, Exception] = {}

    def run(self, notebook: Path) -> Path:
        """The executed copy of ``notebook``; raises its error again if it failed before."""
        output = self.folder / notebook.name
        if notebook in self.errors:
            raise self.errors[notebook]
        if not output.exists():
            start = time.perf_counter()
            try:
                execute(notebook, output)
            except Exception as err:  # a cell error, a timeout or a dead kernel
                self.errors[notebook] = err
                raise
            finally:
                self.seconds[notebook.stem] = time.perf_counter() - start
        return output


@pytest.fixture(scope="module")
def executed(
    tmp_path_factory: pytest.TempPathFactory, ci_world: Path, notebook_seconds: dict[str, float]
) -> ExecutedNotebooks:
    """The notebooks' executed copies; the ci world is built first, so it is not timed."""
    return ExecutedNotebooks(tmp_path_factory.mktemp("executed"), notebook_seconds)


def test_kernel_runs_in_this_environment(tmp_path: Path) -> None:
    notebook = new_notebook(cells=[new_code_cell("import sys\nprint(sys.prefix)")])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, tmp_path / "prefix.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "prefix.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        progress_bar=False,
    )
    output = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]
    assert output.text.strip() == sys.prefix


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_in_ci_profile(notebook: Path, executed: ExecutedNotebooks) -> None:
    output = executed.run(notebook)
    parameters = [
        cell
        for cell in nbformat.read(output, as_version=4).cells
        if "injected-parameters" in cell.metadata.get("tags", [])
    ]
    assert len(parameters) == 1 and 'profile = "ci"' in parameters[0].source


def test_nbval_lax(ci_world: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-cell-timeout=600",
            "-p",
            "no:cacheprovider",
            "-q",
            *[str(path) for path in NOTEBOOKS],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_book_builds_without_warnings(executed: ExecutedNotebooks, tmp_path: Path) -> None:
    for notebook in NOTEBOOKS:
        try:
            executed.run(notebook)
        except Exception:  # reported by the notebook's own test
            continue
    if executed.errors:
        failed = ", ".join(path.name for path in executed.errors)
        pytest.skip(f"the book needs every notebook; failing: {failed} (see their tests)")

    shutil.copy(ROOT / "_config.yml", tmp_path)
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "notebooks"))
    (book / "notebooks").mkdir()
    for notebook in NOTEBOOKS:
        shutil.copy(executed.run(notebook), book / "notebooks")
    result = subprocess.run(
        [BIN / "jupyter-book", "build", "book", "--config", "_config.yml", "--path-output", "book"]
        + ["-W", "-n", "--keep-going"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    problems = [line for line in result.stdout.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "\n".join(problems) or result.stdout[-5000:] + result.stderr
    html = book / "_build" / "html"
    assert (html / "index.html").is_file()
    missing = [
        nb.stem for nb in NOTEBOOKS if not (html / "notebooks" / f"{nb.stem}.html").is_file()
    ]
    assert not missing, f"no HTML page for {missing}"
