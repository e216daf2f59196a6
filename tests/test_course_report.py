"""What ``make course`` and ``make test`` report: the progress lines (from given last run times,
no clock), ``course measure``'s record and the plan-ahead page generated from the results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from eotdl_tutorials.cli import main
from eotdl_tutorials.course.plan import FIGURES, PAGE, course_entry, plan_page, write_plan
from eotdl_tutorials.course.progress import (
    done_line,
    duration_text,
    memory_text,
    progress_line,
)
from eotdl_tutorials.course.record import record_run, record_step
from eotdl_tutorials.results import course_path

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "book" / "measured"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0 s"), (52, "52 s"), (250, "4 min 10 s"), (120, "2 min"), (3780, "1 h 3 min")],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_memory_in_mib_then_gib() -> None:
    assert [memory_text(m) for m in (812.4, 1239.0, None)] == ["812 MiB", "1.21 GiB", "unknown"]


def test_progress_says_the_step_and_the_time_left_from_the_last_run() -> None:
    assert (
        progress_line(3, 9, "B2", [250, 400, 610])
        == "[3/9] running B2 (last run 4 min 10 s; about 21 min left)"
    )
    assert (
        progress_line(3, 9, "B2", [250, None, 1010, None])
        == "[3/9] running B2 (last run 4 min 10 s; about 21 min left plus 2 steps never timed)"
    )
    assert (
        progress_line(1, 2, "A1", [None, 60])
        == "[1/2] running A1 (no earlier time; about 1 min left plus 1 step never timed)"
    )
    assert (
        progress_line(1, 1, "A1", [None]) == "[1/1] running A1 (no earlier time; time left unknown)"
    )
    assert done_line(3, 9, "B2", 252, 1239) == "[3/9] B2 done in 4 min 12 s, peak memory 1.21 GiB"


def test_measure_writes_what_a_command_took_and_exits_with_its_status(tmp_path: Path) -> None:
    path = tmp_path / "make-test.json"
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    with pytest.raises(SystemExit) as exit_info:
        main(["course", "measure", "--json", str(path), "--name", "make test", "--", *command])
    assert exit_info.value.code == 3
    record = json.loads(path.read_text())
    assert record["name"] == "make test" and record["returncode"] == 3
    assert record["command"][0] == Path(sys.executable).name  # no path of this machine
    assert record["seconds"] >= 0 and record["machine"]["cores"] >= 1


def fake_course(profile: str, seconds: dict[str, float]) -> None:
    """A course results file of ``profile`` with steps of the given times."""
    for name, value in seconds.items():
        record_step(profile, name, {"seconds": value, "peak_memory_mib": value * 10})
    disk = {"environment": ".venv", "environment_bytes": 7.9e9, "data_bytes": 4.1e8, "date": "d"}
    record_run(profile, list(seconds), list(seconds), [], 1.0, False, None, disk)


def test_the_plan_ahead_page_comes_from_the_last_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    fake_course("ci", {"world": 20, "A1": 100.5, "book": 30})
    test_record = tmp_path / "make-test.json"
    test_record.write_text(
        json.dumps(
            {"returncode": 0, "seconds": 900, "peak_memory_mib": 3000, "largest_process_mib": 900}
            | {"environment_bytes": 7.9e9, "date": "2026-01-02T03:04:05", "version": "0.1.0"}
            | {"machine": {"cpu": "A CPU", "cores": 2, "gpu": None}}
        )
    )
    out = tmp_path / "measured"
    notes = write_plan(out, test_record)
    kept = "its figures stay as they were"
    assert notes == [f"make course: no record {course_path('default')}; {kept}"]
    page = (out / PAGE).read_text()
    assert page == plan_page(json.loads((out / FIGURES).read_text()))
    assert (
        "| `make course PROFILE=ci` | 2 min 30 s | 1005 MiB | unknown | environment 7.9 GB, "
        in page
    )
    assert "| `make course` | not measured yet |" in page
    assert "| `make test` | 15 min | 2.93 GiB | 900 MiB | environment 7.9 GB | 2026-01-02, " in page
    assert "| `A1` | 1 min 40 s | 1005 MiB |" in page
    test_record.write_text(json.dumps({"returncode": 1, "seconds": 12}))  # a failed run
    notes = write_plan(out, test_record)
    assert any("the last `make test` failed (exit status 1)" in note for note in notes)
    assert "| `make test` | 15 min |" in (out / PAGE).read_text()  # the passing run's figures


def test_an_entry_sums_the_steps_of_a_run_from_scratch() -> None:
    record = {
        "steps": {"world": {"seconds": 10.0, "peak_memory_mib": 50.0}, "A1": {"seconds": 5.5}},
        "disk": {"data_bytes": 1000},
    }
    entry = course_entry(record)
    assert entry is not None and entry["seconds"] == 15.5 and entry["peak_memory_mib"] == 50.0
    assert entry["largest_process_mib"] is None and entry["data_bytes"] == 1000
    assert course_entry({"steps": {}}) is None


def test_the_committed_plan_ahead_page_is_generated_from_its_figures() -> None:
    """The README links to this page: a figure typed into it, not into its JSON, fails here."""
    page = (MEASURED / PAGE).read_text()
    assert page == plan_page(json.loads((MEASURED / FIGURES).read_text())), (
        f"{MEASURED / PAGE} is not what its figures give: run `make plan-ahead`"
    )


def test_the_results_page_shows_each_step_s_time_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eotdl_tutorials.book import results_page

    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    fake_course("default", {"world": 20, "A1": 100.5})
    record_run("default", ["world", "A1"], ["A1"], ["world"], 1.0, False, None, None)
    page = results_page(course_path("default").parent, tmp_path)
    assert "## `make course` steps (`default`)" in page
    assert "| `world` | 20.0 | 200 | unknown |" in page and page.count("| kept |") == 1
    assert "| `A1` | 100.5 | 1005 | unknown |" in page and page.count("| ran |") == 1
    assert "On disk after the run (d): `.venv` 7.9 GB and the data folder 410 MB." in page


def test_parameters_are_read_as_papermill_reads_them() -> None:
    from eotdl_tutorials.cli.course import parameter_value

    values = ["3", "1.5", "True", "False", "None", "s2", "https://x/v1"]
    assert [parameter_value(v) for v in values] == [3, 1.5, True, False, None, "s2", "https://x/v1"]
