"""The course notebooks, end to end: each one executed once by papermill in the ci profile, its
printed outputs compared with its reference outputs (``tests/nbreference.py``, nbval's way,
without running it again), and the Jupyter Book built from the executed copies with warnings as
errors (the way ``make course`` builds it), then opened in Debian's chromium.

The executed notebooks, the built book and the browser's screenshots are kept in the test output
folder (``$EOTDL_TEST_OUTPUT``, default ``test-output/``), which the run prints at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from invariants import violations
from nbformat.v4 import new_code_cell, new_notebook
from nbreference import IGNORE_TAG, cell_texts, compare, reference_path, sanitizers

from eotdl_tutorials.course.graph import read_notebooks
from eotdl_tutorials.results import read_results, results_dir, results_path

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
#: In the order make course runs them: each after the notebooks whose outputs it reads.
NOTEBOOKS = [notebook.path for notebook in read_notebooks(ROOT / "notebooks")]
BIN = Path(sys.executable).parent
#: Set for every batch run (papermill here and in `make course`): long steps print one line
#: instead of a progress bar (see ``eotdl_tutorials.profiles.progress_bars``).
BATCH = {"EOTDL_TUTORIALS_BATCH": "1"}


def execute(notebook: Path, output: Path) -> None:
    """Run ``notebook`` in the ci profile from notebooks/ (as ``make course`` does)."""
    os.environ.update(BATCH)
    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters={"profile": "ci"},
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        engine_name="eotdl",  # eotdl_tutorials.batch: no wait until the timeout on a reply
        progress_bar=False,
        execution_timeout=600,
    )


class ExecutedNotebooks:
    """Each notebook executed at most once per session, its outcome kept for the book."""

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
            running = output.with_name(f".{output.stem}.running.ipynb")
            try:
                execute(notebook, running)
                running.rename(output)
            except Exception as err:  # a cell error, a timeout or a dead kernel
                self.errors[notebook] = err
                raise
            finally:
                self.seconds[notebook.stem] = time.perf_counter() - start
        return output

    def all(self) -> list[Path]:
        """Every notebook's executed copy; skips the caller when one of them failed."""
        for notebook in NOTEBOOKS:
            try:
                self.run(notebook)
            except Exception:  # reported by the notebook's own test
                continue
        if self.errors:
            failed = ", ".join(path.name for path in self.errors)
            pytest.skip(f"needs every notebook; failing: {failed} (see their tests)")
        return [self.run(notebook) for notebook in NOTEBOOKS]


@pytest.fixture(scope="session")
def executed(
    test_output: Path, ci_world: Path, notebook_seconds: dict[str, float]
) -> ExecutedNotebooks:
    """The notebooks' executed copies; the ci world is built first, so it is not timed."""
    folder = test_output / "notebooks"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return ExecutedNotebooks(folder, notebook_seconds)


def test_kernel_runs_in_this_environment(tmp_path: Path) -> None:
    notebook = new_notebook(cells=[new_code_cell("import sys\nprint(sys.prefix)")])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, tmp_path / "prefix.ipynb")
    papermill.execute_notebook(
        str(tmp_path / "prefix.ipynb"),
        str(tmp_path / "out.ipynb"),
        kernel_name="python3",
        engine_name="eotdl",
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


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_outputs_match_reference(notebook: Path, executed: ExecutedNotebooks) -> None:
    reference = reference_path(notebook.name)
    assert reference.is_file(), (
        f"no reference outputs for {notebook.name}: write them with "
        "`.venv/bin/python tests/nbreference.py --from test-output/notebooks` after this run"
    )
    output = executed.run(notebook)
    problems = compare(
        nbformat.read(output, as_version=4), nbformat.read(reference, as_version=4), sanitizers()
    )
    assert not problems, (
        f"{notebook.name} printed other outputs than its reference {reference}:\n"
        + "\n".join(problems)
        + "\nIf the change is intended: .venv/bin/python tests/nbreference.py "
        f"--from {output.parent} {notebook.stem}"
    )


def test_a_changed_expected_value_fails(executed: ExecutedNotebooks) -> None:
    """The comparison is not vacuous: change one expected output of a reference, and it fails."""
    notebook = NOTEBOOKS[0]
    ran = nbformat.read(executed.run(notebook), as_version=4)
    reference = nbformat.read(reference_path(notebook.name), as_version=4)
    assert compare(ran, reference, sanitizers()) == []
    pairs = zip(
        [c for c in ran.cells if c.cell_type == "code"],
        [c for c in reference.cells if c.cell_type == "code"],
        strict=True,
    )
    cell = next(
        ref
        for new, ref in pairs
        if cell_texts(ref)
        and IGNORE_TAG not in new.metadata.get("tags", []) + ref.metadata.get("tags", [])
    )
    output = next(o for o in cell.outputs if o.output_type in ("stream", "execute_result"))
    if output.output_type == "stream":
        output.text = output.text.replace("e", "E", 1) + "changed\n"
    else:
        output.data["text/plain"] += " changed"
    assert compare(ran, reference, sanitizers())


def test_a_stream_cut_elsewhere_compares_equal() -> None:
    """C2 once printed its lines as two stdout streams instead of one (the kernel flushed in
    between): the same text is the same output; other text, or a figure between, is not."""
    from nbformat.v4 import new_output

    def cell(*outputs: nbformat.NotebookNode) -> nbformat.NotebookNode:
        code = new_code_cell("print(...)")
        code.outputs = list(outputs)
        return code

    whole = cell(new_output("stream", name="stdout", text="a\nb\n"))
    cut = cell(
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stderr", text="warning\n"),
        new_output("stream", name="stdout", text="b\n"),
    )
    assert cell_texts(cut) == cell_texts(whole) == ["a\nb\n"]
    figure = new_output("display_data", data={"text/plain": "<Figure>", "image/png": ""})
    between = cell(
        new_output("stream", name="stdout", text="a\n"),
        figure,
        new_output("stream", name="stdout", text="b\n"),
    )
    assert cell_texts(between) == ["a\n", "<Figure>", "b\n"]
    other = cell(new_output("stream", name="stdout", text="a\nc\n"))
    assert cell_texts(other) != cell_texts(whole)


def test_sanitizers_hide_only_what_varies() -> None:
    rules = sanitizers()
    from nbreference import sanitize

    varies = [
        ("took 12.5 s at 3.2 it/s", "took 1.25 s at 9 it/s"),
        ("http://127.0.0.1:41233/search", "http://127.0.0.1:5012/search"),
        ("<Figure at 0x7f3a2b1c9d10>", "<Figure at 0x7fffe0a1b2c3>"),
        ("/tmp/eotdl-tutorials-tests-x1/world-ci", "/var/lib/course/data/world-ci"),
        (
            "epoch 1:  40%|████      | 2/5 [00:01<00:02]",
            "epoch 1: 100%|██████████| 5/5 [00:03<00:00]",
        ),
        ("ONNX export: max |difference| 1.5e-07", "ONNX export: max |difference| 6.68e-06"),
    ]
    for first, second in varies:
        assert sanitize(first, rules) == sanitize(second, rules), first
    for first, second in [
        ("accuracy 0.8125", "accuracy 0.8130"),
        ("30 footprints", "31 footprints"),
        ("max |difference|: 1.49e-07", "max |difference|: 2.1e-03"),
    ]:
        assert sanitize(first, rules) != sanitize(second, rules), first


def test_every_notebook_writes_its_results(executed: ExecutedNotebooks) -> None:
    """The Results page needs a results file of every notebook's ci run."""
    executed.all()
    written = {record["notebook"] for record in read_results() if record.get("profile") == "ci"}
    missing = sorted(nb.stem for nb in NOTEBOOKS if nb.stem not in written)
    assert not missing, f"no results file in {results_dir()} for {missing}: call write_results"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_ci_results_file_keeps_its_methods_guarantees(
    notebook: Path, executed: ExecutedNotebooks
) -> None:
    """Whatever the run measured, its results file holds what its methods guarantee (ranges,
    sums, oracles above models, intervals around their estimates, counts; tests/invariants.py),
    checked from the keys the file has."""
    executed.run(notebook)
    path = results_path(notebook.stem, "ci")
    assert path.is_file(), f"{notebook.name} wrote no results file {path}"
    problems = violations(json.loads(path.read_text()))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def build_book(executed: ExecutedNotebooks, folder: Path) -> Path:
    """Build the book from the executed notebooks in ``folder``; return its HTML folder."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", folder)
    book = folder / "book"
    shutil.copytree(
        ROOT / "book",
        book,
        ignore=shutil.ignore_patterns("_build", "notebooks", "_generated", "results.md"),
    )
    (book / "notebooks").mkdir()
    for output in executed.all():
        shutil.copy(output, book / "notebooks")
    result = subprocess.run(
        [BIN / "jupyter-book", "build", "book", "--config", "_config.yml", "--path-output", "book"]
        + ["-W", "-n", "--keep-going"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    problems = [line for line in result.stdout.splitlines() if "WARNING" in line or "ERROR" in line]
    assert result.returncode == 0, "\n".join(problems) or result.stdout[-5000:] + result.stderr
    return book / "_build" / "html"


@pytest.fixture(scope="session")
def book_html(executed: ExecutedNotebooks, test_output: Path) -> Path:
    """The book built once per session from the ci runs, in the test output folder."""
    return build_book(executed, test_output / "book")


def test_book_builds_without_warnings(book_html: Path) -> None:
    assert (book_html / "index.html").is_file()
    missing = [
        nb.stem for nb in NOTEBOOKS if not (book_html / "notebooks" / f"{nb.stem}.html").is_file()
    ]
    assert not missing, f"no HTML page for {missing}"


def test_results_page_shows_every_results_file(book_html: Path) -> None:
    page = (book_html / "results.html").read_text()
    for record in read_results():
        name = record.get("notebook") or record.get("benchmark")
        assert name in page, f"the Results page does not show {name}"


def test_results_page_follows_the_results_files(tmp_path: Path) -> None:
    """The page is generated from the files: change a figure in one and the page changes."""
    from eotdl_tutorials.book import write_pages
    from eotdl_tutorials.results import write_results

    book = tmp_path / "book"
    shutil.copytree(ROOT / "book", book, ignore=shutil.ignore_patterns("_build", "_generated"))
    folder = tmp_path / "results"
    path = write_results("X9_example", "ci", {"accuracy": 0.8125})
    folder.mkdir()
    shutil.move(path, folder / path.name)
    write_pages(book, folder)
    assert "0.8125" in (book / "results.md").read_text()
    record = json.loads((folder / path.name).read_text())
    record["accuracy"] = 0.4375
    (folder / path.name).write_text(json.dumps(record))
    write_pages(book, folder)
    page = (book / "results.md").read_text()
    assert "0.4375" in page and "0.8125" not in page
    assert (book / "_generated" / "results-X9_example.png").is_file()


def test_results_page_shows_each_interval_beside_its_figure(tmp_path: Path) -> None:
    """Every ``<name>_ci95`` of any results file, nested or not, is shown with its figure, not as
    a row of its own."""
    from eotdl_tutorials.book import results_page, with_intervals

    folder, out = tmp_path / "results", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    figures = {
        "gain": 1.2,
        "gain_ci95": [-0.3, 2.5],
        "esrt": {"psnr_gain": 0.125, "psnr_gain_ci95": [0.0625, 0.25], "psnr": 26.5},
        "lonely_ci95": [1.0, 2.0],  # an interval without its figure stays a list
    }
    record = {"notebook": "X9_example", "profile": "ci", **figures}
    (folder / "X9_example-ci.json").write_text(json.dumps(record))
    page = results_page(folder, out)
    assert "| `gain` | +1.2 [-0.3, +2.5] |" in page
    assert "| `esrt.psnr_gain` | +0.125 [+0.0625, +0.25] |" in page
    assert "| `esrt.psnr` | 26.5 |" in page
    assert "`gain_ci95`" not in page and "`esrt.psnr_gain_ci95`" not in page
    assert "| `lonely_ci95` | [1, 2] (2) |" in page
    assert with_intervals({"a": 2.0, "a_ci95": [1.0, 3.0]}) == {"a": "+2 [+1, +3]"}
    assert (out / "results-X9_example.png").is_file()


def toc_pages() -> list[str]:
    """Every page of the book's table of contents (``book/_toc.yml``), as HTML paths."""
    import yaml

    def files(entries: list[dict]) -> list[str]:
        found = []
        for entry in entries:
            found += [entry["file"]] if "file" in entry else []
            for key in ("parts", "chapters", "sections"):
                found += files(entry.get(key, []))
        return found

    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    return [f"{page}.html" for page in files([toc])]


#: Scroll the first element matching a CSS selector into view, a little below the top bar.
SCROLL_TO = """
const element = document.querySelector(arguments[0]);
if (element) { element.scrollIntoView(); window.scrollBy(0, -90); }
"""


def test_book_in_a_browser(book_html: Path, test_output: Path) -> None:
    """Every page in Debian's chromium: no console error, no failed request, every image loaded;
    the navigation reaches every chapter; the search finds a notebook; screenshots saved."""
    from browser import BROKEN_IMAGES_JS, FAILED_REQUESTS_JS, chromium, console_errors, serve
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = test_output / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    pages = ["index.html", *toc_pages(), "search.html", "genindex.html"]
    problems: list[str] = []
    figures: dict[str, int] = {}
    with serve(book_html) as url, chromium() as driver:
        driver.set_script_timeout(20)
        for page in pages:
            driver.get(f"{url}/{page}")
            broken = driver.execute_async_script(BROKEN_IMAGES_JS)
            figures[page] = len(driver.find_elements(By.CSS_SELECTOR, "main img"))
            problems += [f"{page}: image not loaded: {src}" for src in broken]
            problems += [f"{page}: {e}" for e in driver.execute_script(FAILED_REQUESTS_JS)]
            problems += [f"{page}: console: {message}" for message in console_errors(driver)]
        assert not problems, "\n".join(problems)

        driver.get(f"{url}/index.html")
        links = {
            a.get_attribute("href").removeprefix(f"{url}/").split("#")[0]
            for a in driver.find_elements(By.CSS_SELECTOR, "nav.bd-links a.reference.internal")
        }
        unreachable = [page for page in toc_pages() if page not in links]
        assert not unreachable, f"the navigation does not reach {unreachable}"
        driver.execute_script(SCROLL_TO, ".sd-card")  # the use-case cards
        driver.save_screenshot(shots / "book-landing.png")

        notebook = NOTEBOOKS[-1].stem
        heading = nbformat.read(NOTEBOOKS[-1], as_version=4).cells[0].source.splitlines()[0]
        word = max((w.strip("·:,.()") for w in heading.split()), key=len)
        driver.get(f"{url}/search.html?q={word}")
        WebDriverWait(driver, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results ul.search li")
        )
        found = [
            a.get_attribute("href")
            for a in driver.find_elements(By.CSS_SELECTOR, "#search-results a")
        ]
        assert any(f"notebooks/{notebook}.html" in href for href in found), (word, found)

        shown = max((p for p in figures if p.startswith("notebooks/")), key=figures.get)
        driver.get(f"{url}/{shown}")  # the notebook page with the most figures
        driver.execute_async_script(BROKEN_IMAGES_JS)
        driver.execute_script(SCROLL_TO, "main figure, main .cell_output img")
        driver.save_screenshot(shots / f"book-{Path(shown).stem}.png")
        driver.get(f"{url}/results.html")
        driver.save_screenshot(shots / "book-results.png")
    print(f"screenshots in {shots}")
