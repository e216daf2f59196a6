"""What ``make course`` reports: the progress lines as it runs, from given last run times (no
clock), the parameters it passes as papermill's command line would, and each step's time and
memory on the book's Results page."""

from __future__ import annotations

from pathlib import Path

import pytest

from eotdl_tutorials.course.progress import (
    done_line,
    duration_text,
    memory_text,
    progress_line,
)
from eotdl_tutorials.course.record import record_run, record_step
from eotdl_tutorials.results import course_path


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


def test_parameters_are_read_as_papermill_reads_them() -> None:
    from eotdl_tutorials.cli.course import parameter_value

    values = ["3", "1.5", "True", "False", "None", "s2", "https://x/v1"]
    assert [parameter_value(v) for v in values] == [3, 1.5, True, False, None, "s2", "https://x/v1"]


def fake_course(profile: str, seconds: dict[str, float]) -> None:
    """A course results file of ``profile`` with steps of the given times."""
    for name, value in seconds.items():
        record_step(profile, name, {"seconds": value, "peak_memory_mib": value * 10})
    disk = {"environment": ".venv", "environment_bytes": 7.9e9, "data_bytes": 4.1e8, "date": "d"}
    record_run(profile, list(seconds), list(seconds), [], 1.0, False, None, disk)


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
