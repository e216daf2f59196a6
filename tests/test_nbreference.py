"""The reference comparison (``tests/nbreference.py``) without running a notebook: the text
around the numbers must match, integers (counts) must be equal, floats may differ within the
documented tolerance, and a regeneration lists every number that changed."""

from __future__ import annotations

import nbformat
import nbreference
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbreference import (
    IGNORE_TAG,
    NUMBER,
    RELATIVE_TOLERANCE,
    agree,
    compare,
    reference_path,
    sanitizers,
    words,
)


def printed(*texts: str, source: str = "print(summary)") -> nbformat.NotebookNode:
    """A notebook of one code cell that printed ``texts`` (one stdout stream each)."""
    cell = new_code_cell(source)
    cell.outputs = [new_output("stream", name="stdout", text=text) for text in texts]
    return new_notebook(cells=[cell])


def problems(old: str, new: str) -> list[str]:
    return compare(printed(new), printed(old), sanitizers())


def test_numbers_are_read_apart_from_names_and_versions() -> None:
    text = "A1_store: 132 footprints, s2 resnet18 at 0.8125 (-0.03, +2.5e-3); torch 2.14.1."
    assert [m.group() for m in NUMBER.finditer(text)] == ["132", "0.8125", "-0.03", "+2.5e-3"]
    assert words("0.5 of  10") == words("0.25 of 12") != words("0.5 or 10")


def test_a_float_within_its_tolerance_passes() -> None:
    assert problems("accuracy 0.8125 on 19 chips\n", "accuracy 0.8131 on 19 chips\n") == []
    # one unit in the last printed place is the print's rounding, even near zero
    assert problems("gain +0.003 IoU\n", "gain +0.004 IoU\n") == []
    # a table whose column widened with a wider number is the same table
    assert problems(" method  acc\n a       9.99\n", " method   acc\n a       10.01\n") == []


def test_a_float_beyond_its_tolerance_fails_with_the_cell_and_both_numbers() -> None:
    old, new = "majority 36.5 %, probe 46.6 %\n", "majority 36.5 %, probe 49.0 %\n"
    assert 49.0 - 46.6 > RELATIVE_TOLERANCE * 49.0 + 0.1
    found = problems(old, new)
    assert len(found) == 1
    assert "code cell 1 ('print(summary)')" in found[0]
    assert "46.6 -> 49.0" in found[0] and "probe 49.0 %" in found[0]
    assert problems("gain +0.003 IoU\n", "gain -0.003 IoU\n")  # a sign is a number's


def test_integers_compare_exactly() -> None:
    assert problems("132 footprints packed\n", "133 footprints packed\n")
    assert agree("88", "88") and not agree("88", "89") and not agree("-1", "1")
    assert not agree("10", "10.0") and not agree("10.0", "10")  # a count is not a measurement
    assert problems("88 labels\n", "88.0 labels\n")


def test_changed_text_fails_whatever_its_numbers() -> None:
    assert problems("probe beats random: True\n", "probe beats random: False\n")
    assert problems("0.5 beyond noise\n", "0.5 within noise\n")
    assert problems("one line\n", "one line\nand another\n")
    assert compare(printed("a\n", "b\n"), printed("a\n"), sanitizers())  # another output


def test_changed_code_fails() -> None:
    ran = printed("1\n", source="print(2 - 1)")
    assert compare(ran, printed("1\n"), sanitizers()) == [
        "the notebook's code changed since its reference was written: regenerate it"
    ]


def test_regeneration_lists_every_changed_number() -> None:
    old = printed("probe 46.6 %, 88 labels, random 41.0 %\n")
    new = printed("probe 46.7 %, 90 labels, random 41.0 %\n")
    assert compare(new, old, sanitizers(), every_change=True) == [
        "code cell 1 ('print(summary)'): 46.6 -> 46.7 (within tolerance) in "
        "'probe 46.7 %, 90 labels, random 41.0 %'",
        "code cell 1 ('print(summary)'): 88 -> 90 (BEYOND tolerance) in "
        "'probe 46.7 %, 90 labels, random 41.0 %'",
    ]
    assert compare(printed("x 1\n"), printed("y 1\n"), sanitizers(), every_change=True) == [
        "code cell 1 ('print(summary)'): text changed"
    ]


def test_a_committed_reference_fails_when_one_of_its_floats_moves_beyond_tolerance() -> None:
    reference = nbformat.read(reference_path("B1_superres_pairs"), as_version=4)
    assert compare(reference, reference, sanitizers()) == []
    changed = nbformat.from_dict(reference)
    cell, output, match = next(
        (cell, output, match)
        for cell in changed.cells
        if cell.cell_type == "code" and IGNORE_TAG not in cell.metadata.get("tags", [])
        for output in cell.outputs
        if output.output_type == "stream"
        for match in NUMBER.finditer(output.text)
        if "." in match.group() and float(match.group()) > 1
    )
    value = float(match.group())
    decimals = len(match.group().split(".")[1])
    original = output.text
    for factor, fails in ((1 + RELATIVE_TOLERANCE / 4, False), (1.1, True)):
        moved = f"{value * factor:.{decimals}f}"
        output.text = original[: match.start()] + moved + original[match.end() :]
        found = compare(changed, reference, sanitizers())
        assert len(found) == fails and all(f"{match.group()} -> {moved}" in f for f in found)


@pytest.mark.parametrize("old, new", [("1e-3", "1.01e-3"), ("0.000", "-0.000")])
def test_exponents_and_signed_zero(old: str, new: str) -> None:
    assert agree(old, new)


def test_writing_a_reference_prints_the_numbers_it_changes(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(nbreference, "REFERENCES", tmp_path / "references")
    executed = tmp_path / "X1_example.ipynb"
    nbformat.write(printed("probe 46.6 %, 88 labels\n"), executed)
    path = nbreference.write_reference(executed)
    assert path.parent == tmp_path / "references" and "changes" not in capsys.readouterr().out
    nbformat.write(printed("probe 47.9 %, 88 labels\n"), executed)
    nbreference.write_reference(executed)
    out = capsys.readouterr().out
    assert "X1_example: changes:" in out and "46.6 -> 47.9 (BEYOND tolerance)" in out
    nbreference.write_reference(executed)
    assert "X1_example: no number changed" in capsys.readouterr().out
