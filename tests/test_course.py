"""``make course``'s runner: which steps run again and why, on tiny notebooks run by the real
kernel, and what it records.

Three notebooks, each appending its name to ``ran.txt`` in their folder: ``a``, ``b`` (reads what
``a`` wrote) and ``c`` (reads nothing). What ran is read from that file, not from the runner's
own account of it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from eotdl_tutorials.course.graph import WORLD
from eotdl_tutorials.course.runner import (
    FORCED,
    STAMPS,
    StepFailed,
    build_book,
    plan_course,
    run_course,
    world_reasons,
)
from eotdl_tutorials.results import course_path

WRITES = 'with open("ran.txt", "a") as log:\n    log.write("{name}\\n")'


def write_notebook(folder: Path, name: str, upstream: list[str], code: str | None = None) -> None:
    """A tiny course notebook: a parameters cell, then ``code`` (default: log its name)."""
    notebook = new_notebook(
        cells=[
            new_code_cell('profile = "ci"', metadata={"tags": ["parameters"]}),
            new_code_cell(code or WRITES.format(name=name)),
        ]
    )
    notebook.metadata.kernelspec = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["eotdl_tutorials"] = {"upstream": upstream}
    nbformat.write(notebook, folder / f"{name}.ipynb")


class Course:
    """Tiny notebooks, their output folder, a package to hash and what the runs printed."""

    def __init__(self, root: Path) -> None:
        self.notebooks = root / "notebooks"
        self.out = root / "executed"
        self.package = root / "package"
        self.notebooks.mkdir()
        self.package.mkdir()
        (self.package / "code.py").write_text("VALUE = 1\n")
        write_notebook(self.notebooks, "a", [])
        write_notebook(self.notebooks, "b", ["a"])
        write_notebook(self.notebooks, "c", [])
        self.printed: list[str] = []

    def run(self, profile: str = "ci", force: bool = False) -> list[str]:
        """Run the course; return the notebooks that ran, as their log says."""
        log = self.notebooks / "ran.txt"
        log.unlink(missing_ok=True)
        self.printed = []
        run_course(profile, {}, self.notebooks, self.out, force, self.package, self.printed.append)
        return log.read_text().split() if log.exists() else []

    def plan(self, profile: str = "ci", force: bool = False) -> dict[str, list[str]]:
        """What a run would do: each step's reasons to run (empty: kept)."""
        plan = plan_course(profile, {}, self.notebooks, self.out, force, self.package)
        return dict(plan.steps)


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Course:
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    return Course(tmp_path)


def test_a_second_run_keeps_all_and_an_edit_runs_its_downstream(course: Course) -> None:
    assert course.run() == ["a", "b", "c"]
    assert "  runs a: no earlier run" in course.printed
    assert course.printed[-1].startswith("[3/3] c done in")
    first = json.loads(course_path("ci").read_text())
    assert list(first["steps"]) == ["a", "b", "c"]
    for step in first["steps"].values():
        assert step["seconds"] > 0
        assert step["peak_memory_mib"] >= step["largest_process_mib"] > 10  # a kernel's memory
    assert first["machine"]["cores"] >= 1 and first["disk"]["data_bytes"] > 0
    assert first["last_run"]["ran"] == ["a", "b", "c"] and first["last_run"]["kept"] == []
    assert course.run() == []
    assert course.printed == [
        "make course (ci): 0 of 3 steps to run",
        "  kept a: nothing it depends on changed",
        "  kept b: nothing it depends on changed",
        "  kept c: nothing it depends on changed",
    ]
    second = json.loads(course_path("ci").read_text())
    assert second["steps"] == first["steps"]  # kept steps keep their last measured figures
    assert second["last_run"]["ran"] == [] and second["last_run"]["kept"] == ["a", "b", "c"]
    write_notebook(course.notebooks, "a", [], WRITES.format(name="a") + "\n# edited")
    assert course.run() == ["a", "b"]
    assert "  runs a: its source changed" in course.printed
    assert "  runs b: upstream a runs again" in course.printed
    assert "  kept c: nothing it depends on changed" in course.printed
    assert course.printed[4].startswith("[1/2] running a (last run ")  # timed the first time
    assert course.run() == []


def test_the_package_the_profile_and_force_run_everything(course: Course) -> None:
    course.run()
    assert course.plan() == {"a": [], "b": [], "c": []}
    assert course.plan(force=True) == {name: [FORCED] for name in "abc"}
    assert course.plan("default")["c"] == ["parameters changed (profile)"]
    assert course.plan("default")["b"] == ["parameters changed (profile)", "upstream a runs again"]
    (course.package / "code.py").write_text("VALUE = 2\n")
    assert course.plan()["c"] == ["the package changed"]
    (course.package / "code.py").write_text("VALUE = 1\n")  # the hash, not the time
    assert course.plan() == {"a": [], "b": [], "c": []}
    (course.out / "c.ipynb").unlink()
    assert course.plan()["c"] == ["its executed copy is missing"]


def test_a_failure_keeps_the_notebooks_before_it_and_the_rerun_resumes(course: Course) -> None:
    write_notebook(course.notebooks, "d", ["a"])  # after b, which fails
    course.run()
    write_notebook(course.notebooks, "a", [], WRITES.format(name="a") + "\n# edited")
    write_notebook(course.notebooks, "b", ["a"], 'raise RuntimeError("planted")')
    with pytest.raises(StepFailed, match=r"(?s)b failed.*RuntimeError: planted"):
        course.run()
    assert (course.notebooks / "ran.txt").read_text().split() == ["a"]
    assert (course.out / STAMPS / "a.json").is_file()
    assert not (course.out / STAMPS / "b.json").exists()
    assert (course.out / ".b.running.ipynb").is_file()  # what it ran, to read
    record = json.loads(course_path("ci").read_text())
    assert record["last_run"]["ran"] == ["a"] and record["last_run"]["failed"] == "b"
    write_notebook(course.notebooks, "b", ["a"])
    assert course.run() == ["b", "d"]
    assert "  kept a: nothing it depends on changed" in course.printed
    assert "  runs b: no earlier run" in course.printed
    assert "  kept c: nothing it depends on changed" in course.printed
    assert "  runs d: upstream a ran since its last run" in course.printed


def test_the_world_is_a_step_only_where_a_notebook_reads_it(course: Course) -> None:
    assert WORLD not in course.plan()
    write_notebook(course.notebooks, "c", [WORLD])
    plan = course.plan()
    assert plan[WORLD] == [f"no world in {course.out.parent / 'data' / 'world-ci'}"]
    assert plan["c"] == ["no earlier run"]
    assert WORLD not in course.plan("full")  # real catalogues, no sample world


def test_a_complete_world_is_kept(tmp_path: Path) -> None:
    from eotdl_tutorials.world.folder import MANIFEST
    from eotdl_tutorials.world.spec import FORMAT_VERSION

    manifest = {"format_version": FORMAT_VERSION, "profile": "ci", "seed": 0, "complete": False}
    (tmp_path / MANIFEST).write_text(json.dumps(manifest))
    assert world_reasons(tmp_path, "ci") == ["its build did not finish"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest | {"complete": True}))
    assert world_reasons(tmp_path, "ci") == []
    assert world_reasons(tmp_path, "default") == [f"{tmp_path} holds another world"]
    (tmp_path / MANIFEST).write_text(json.dumps(manifest | {"format_version": -1}))
    assert world_reasons(tmp_path, "ci") == [f"{tmp_path} was built by another version"]


def test_the_book_is_built_only_when_what_it_reads_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    book, config = tmp_path / "book", tmp_path / "_config.yml"
    (book / "notebooks").mkdir(parents=True)
    (book / "intro.md").write_text("# Intro\n")
    config.write_text("title: x\n")
    html = book / "_build" / "html"
    build = (
        "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.mkdir(parents=True, exist_ok=True);"
        "(p / 'index.html').write_text('built'); (p.parent.parent / 'results.md').write_text('x')"
    )
    command = [sys.executable, "-c", build, str(html)]
    printed: list[str] = []
    assert build_book("ci", command, book, config, say=printed.append)
    assert printed[0] == "runs book: no earlier build"
    assert not build_book("ci", command, book, config, say=printed.append)  # its output ignored
    assert printed[-1] == "kept book: nothing it reads changed"
    (book / "notebooks" / "a.ipynb").write_text("{}")
    assert build_book("ci", command, book, config, say=printed.append)
    assert "runs book: the executed notebooks changed" in printed
    book_step = json.loads(course_path("ci").read_text())["steps"]["book"]
    assert {"seconds", "peak_memory_mib", "largest_process_mib", "date"} <= set(book_step)
    (html / "index.html").unlink()
    assert build_book("ci", command, book, config, say=printed.append)
    assert "runs book: its HTML is missing" in printed
    with pytest.raises(StepFailed, match="exit status 3"):
        build_book("ci", [sys.executable, "-c", "raise SystemExit(3)"], book, config, say=print)
    assert build_book("ci", command, book, config, force=True, say=printed.append)
    assert f"runs book: {FORCED}" in printed
