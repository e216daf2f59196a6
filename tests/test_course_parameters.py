"""The notebooks' parameters read from their cells, and the full profile's table and check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eotdl_tutorials.book import FULL_PARAMETERS_PAGE, write_pages
from eotdl_tutorials.notebook_parameters import (
    course_parameters,
    full_parameters_table,
    missing_in_full,
    missing_message,
    read_parameters,
)

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))

CELL = """\
profile = "ci"  # ci | default | full (papermill parameter)
source_url = None  # None: the sample world's; full: required, a STAC API
# (Earth Search v1 or the Planetary Computer)
steps: int = 10  # optimiser steps
folder = None  # where it goes (None: data_dir()); full: a folder with room
labels = None  # full: required (or catalog), a label folder
catalog = None  # full: a label catalog instead
"""


def _notebook(path: Path, source: str, tagged: bool = True) -> Path:
    cell = {
        "cell_type": "code",
        "id": "p",
        "metadata": {"tags": ["parameters"] if tagged else []},
        "source": source,
        "outputs": [],
        "execution_count": None,
    }
    path.write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip
    return path


def test_each_parameter_takes_its_comment_and_continued_lines(tmp_path):
    params = read_parameters(_notebook(tmp_path / "X1_demo.ipynb", CELL))
    assert [p.name for p in params] == [
        "profile", "source_url", "steps", "folder", "labels", "catalog"
    ]  # fmt: skip
    assert [p.default for p in params] == ['"ci"', "None", "10", "None", "None", "None"]
    url = params[1]
    assert url.full == "required, a STAC API (Earth Search v1 or the Planetary Computer)"
    assert url.required_in_full and url.make_variable == "SOURCE_URL"
    assert params[0].full is None  # "full (papermill parameter)" says nothing of full's value
    assert params[2].full is None and not params[2].required_in_full
    assert params[3].full == "a folder with room" and not params[3].required_in_full
    assert params[4].required_in_full and params[4].alternative == "catalog"
    assert url.alternative is None


def test_a_notebook_without_a_parameters_cell_is_named(tmp_path):
    with pytest.raises(ValueError, match="X2_demo.ipynb has no cell tagged 'parameters'"):
        read_parameters(_notebook(tmp_path / "X2_demo.ipynb", CELL, tagged=False))


def test_missing_required_parameters_are_named_with_their_notebooks(tmp_path):
    first = _notebook(tmp_path / "X1_demo.ipynb", CELL)
    second = _notebook(tmp_path / "X2_other.ipynb", CELL)
    params = course_parameters([first, second])
    assert missing_in_full(params, {"source_url": "http://x", "labels": "L"}) == {}
    assert missing_in_full(params, {"source_url": "http://x", "catalog": "C"}) == {}
    missing = missing_in_full(params, {"source_url": None, "catalog": "C"})
    assert missing == {"source_url": ["X1_demo", "X2_other"]}
    assert missing_in_full(params, {"source_url": "x"}) == {"labels": ["X1_demo", "X2_other"]}
    message = missing_message(missing)
    assert "SOURCE_URL=..." in message and "X1_demo, X2_other" in message


def test_the_table_lists_what_full_takes(tmp_path):
    table = full_parameters_table([_notebook(tmp_path / "X1_demo.ipynb", CELL)])
    assert "| X1 | `source_url` | `None` | **required**, a STAC API" in table
    assert "| X1 | `folder` | `None` | a folder with room |" in table
    assert "`steps`" not in table


def test_the_course_marks_what_full_needs_and_the_book_shows_it(tmp_path, monkeypatch):
    """The real-data page includes the table generated from the course's own notebooks, and
    every parameter the notebooks stop for under full is marked required there."""
    required = missing_in_full(course_parameters(NOTEBOOKS), {})
    for name in ("stac_url", "earthview_index", "label_source", "aerial_dir", "scaneo_dir"):
        assert name in required
    assert required["stac_url"] == ["00_sample_world", "A1_multisensor_dataset", "D1_road_dataset"]
    assert f"{{include}} {FULL_PARAMETERS_PAGE}" in (PROJECT / "book" / "real-data.md").read_text()
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    for notebook in NOTEBOOKS:
        (book / "notebooks" / notebook.name).write_bytes(notebook.read_bytes())
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    write_pages(book, tmp_path / "results")
    page = (book / FULL_PARAMETERS_PAGE).read_text()
    assert page == full_parameters_table(NOTEBOOKS)
    assert "| D1 | `aerial_dir` | `None` | **required**" in page
