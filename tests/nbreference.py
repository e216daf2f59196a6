"""Reference outputs of the notebooks' ci runs, compared as text around numbers with a tolerance.

The ci profile is deterministic (fixed seeds, the ci sample world), so what a notebook prints in
it is a fact the tests can hold it to. ``tests/references/<notebook>.out.json`` keeps each executed
notebook with its text outputs (images left out); ``tests/references/sanitize.cfg`` holds the
regular expressions, in nbval's ``--sanitize-with`` format, that replace what varies between runs
(times, paths, addresses, progress bars). The notebook test runs each notebook once, with
papermill, and compares its outputs with these, cell by cell; nothing is executed twice. The
references are notebooks in nbformat (stored under another suffix, so that nothing takes them
for course notebooks with outputs committed); nbval reads them once copied to ``X.ipynb``.

How a printed text is compared (:func:`compare`): the text around the numbers must match exactly
(runs of spaces and tabs count as one, as a table's columns widen with a wider number), and the
numbers are read and compared as numbers:

- an **integer** (written without a decimal point or exponent: counts of chips, labels, tiles,
  requests, epochs, sizes, dates) must be **equal**;
- a **float** (written with a decimal point or an exponent: a measured accuracy, IoU, loss,
  PSNR, share) may differ by :data:`RELATIVE_TOLERANCE` of the larger of the two magnitudes
  plus one unit in the last decimal place the reference printed (the print's rounding): a
  trained model's last digits depend on the CPU, what it measured does not. A measured figure
  printed without decimals is therefore compared exactly: print measured floats with decimals.

A number beyond its tolerance fails with the cell, the old and the new number and its line.

Regenerate the references after a notebook changed, and check the diff: it is what the change
did. Writing a reference prints, per notebook and cell, every number that changed (old -> new,
within the tolerance or not) and every text that changed; a regenerated reference is committed
with those old and new numbers, and why they changed, in the commit message:

    .venv/bin/python tests/nbreference.py                  # run every notebook in ci, write all
    .venv/bin/python tests/nbreference.py A1_multisensor_dataset   # only these
    .venv/bin/python tests/nbreference.py --from test-output/notebooks   # from a test run's copies
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = Path(__file__).resolve().parent / "references"
SANITIZE = REFERENCES / "sanitize.cfg"
#: The suffix of a reference file (a notebook in nbformat, not a course notebook).
SUFFIX = ".out.json"
#: Output types compared, and within rich outputs the MIME type compared (as nbval, images and
#: widget views are not compared; HTML tables are compared through their text/plain form).
COMPARED_MIME = "text/plain"
#: Cells with this tag are not compared (nbval's tag): outputs that depend on the machine, such as
#: the scores of a model trained for a few ci steps, which move with the CPU's floating-point
#: kernels (the same code and packages gave C2 a per-class IoU of 52.6 on an Intel Xeon and 91.2
#: on an AMD EPYC); the notebook's own ci checks and its results file's invariants still hold them.
IGNORE_TAG = "nbval-ignore-output"
#: A float may differ from its reference by this share of the larger of the two magnitudes (plus
#: one unit in the reference's last printed decimal place); an integer must be equal.
RELATIVE_TOLERANCE = 0.02
#: A number in a printed text: a sign, digits, decimals and an exponent, not part of a name
#: (``s2``, ``A1_``, ``resnet18``, ``0xADDRESS``) nor of a version (``2.14.1``).
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w|\.\d)")
#: What stands for a number in the text that must match exactly.
NUMBER_SLOT = "\N{OBJECT REPLACEMENT CHARACTER}"
SPACES = re.compile(r"[ \t]+")


def reference_path(notebook: str) -> Path:
    """The reference file of ``notebook`` (its name or stem)."""
    return REFERENCES / f"{Path(notebook).stem}{SUFFIX}"


def sanitizers(path: Path = SANITIZE) -> list[tuple[re.Pattern[str], str]]:
    """The (regex, replacement) pairs of an nbval sanitize file, in file order."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(path)
    return [
        (re.compile(config[section]["regex"]), config[section]["replace"])
        for section in config.sections()
    ]


def sanitize(text: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    """``text`` with every rule applied in turn."""
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def cell_texts(cell: nbformat.NotebookNode) -> list[str]:
    """The compared outputs of a code cell: stdout streams and the text/plain of results.

    Consecutive stdout streams are one text (as nbval coalesces them): where the kernel cuts a
    stream in two depends on when its output buffer was flushed, not on what was printed.
    """
    texts: list[str] = []
    stream_open = False  # the last compared output was stdout: the next one continues it
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            if output.name == "stdout":
                if stream_open:
                    texts[-1] += output.text
                else:
                    texts.append(output.text)
                stream_open = True
            continue
        stream_open = False
        if output.output_type in ("execute_result", "display_data"):
            data = output.get("data", {})
            if COMPARED_MIME in data and "application/vnd.jupyter.widget-view+json" not in data:
                texts.append(data[COMPARED_MIME])
        elif output.output_type == "error":
            texts.append(f"{output.ename}: {output.evalue}")
    return texts


@dataclass(frozen=True)
class Change:
    """A number that a cell printed otherwise than its reference: as each printed it, and the
    line of the new output it is on."""

    old: str
    new: str
    line: str

    @property
    def within_tolerance(self) -> bool:
        """Whether the two numbers agree (see :func:`agree`)."""
        return agree(self.old, self.new)

    def __str__(self) -> str:
        verdict = "within" if self.within_tolerance else "BEYOND"
        return f"{self.old} -> {self.new} ({verdict} tolerance) in {self.line.strip()!r}"


def is_float(number: str) -> bool:
    """A number printed with a decimal point or an exponent (a measurement, not a count)."""
    return "." in number or "e" in number.lower()


def agree(old: str, new: str) -> bool:
    """Whether ``new`` may stand for the reference's ``old``: integers equal; floats within
    :data:`RELATIVE_TOLERANCE` of the larger magnitude plus one unit in ``old``'s last printed
    decimal place; an integer never stands for a float nor a float for an integer."""
    if is_float(old) != is_float(new):
        return False
    if not is_float(old):
        return int(old) == int(new)
    last_place = 10.0 ** Decimal(old).as_tuple().exponent
    a, b = float(old), float(new)
    return abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b)) + last_place


def words(text: str) -> str:
    """``text`` with each number replaced by one placeholder and runs of spaces and tabs by one
    space: what must match exactly."""
    return SPACES.sub(" ", NUMBER.sub(NUMBER_SLOT, text))


def changes(old_texts: list[str], new_texts: list[str]) -> tuple[bool, list[Change]]:
    """Whether a cell's outputs changed around their numbers (another count of outputs, or a
    text whose :func:`words` differ), and each number that changed in the texts that did not."""
    if len(old_texts) != len(new_texts):
        return True, []
    text_changed, numbers = False, []
    for old, new in zip(old_texts, new_texts, strict=True):
        if words(old) != words(new):
            text_changed = True
            continue
        for was, now in zip(NUMBER.finditer(old), NUMBER.finditer(new), strict=True):
            if was.group() != now.group():
                line_start = new.rfind("\n", 0, now.start()) + 1
                line_end = new.find("\n", now.end())
                line = new[line_start : None if line_end < 0 else line_end]
                numbers.append(Change(was.group(), now.group(), line))
    return text_changed, numbers


def compared_cells(
    executed: nbformat.NotebookNode,
    reference: nbformat.NotebookNode,
    rules: list[tuple[re.Pattern[str], str]],
) -> Iterator[tuple[str, list[str], list[str]]]:
    """Per compared code cell: its label (number and first line), the reference's sanitized
    texts and the executed notebook's. The code sources must be the same (else ValueError)."""
    ran = [cell for cell in executed.cells if cell.cell_type == "code"]
    expected = [cell for cell in reference.cells if cell.cell_type == "code"]
    if [c.source for c in ran] != [c.source for c in expected]:
        raise ValueError(
            "the notebook's code changed since its reference was written: regenerate it"
        )
    for number, (cell, ref) in enumerate(zip(ran, expected, strict=True), start=1):
        tags = cell.metadata.get("tags", []) + ref.metadata.get("tags", [])
        if IGNORE_TAG in tags:  # output that depends on the machine (cores, GPU, versions, CPU)
            continue
        first = cell.source.splitlines()[0] if cell.source else ""
        yield (
            f"code cell {number} ({first!r})",
            [sanitize(text, rules) for text in cell_texts(ref)],
            [sanitize(text, rules) for text in cell_texts(cell)],
        )


def compare(
    executed: nbformat.NotebookNode,
    reference: nbformat.NotebookNode,
    rules: list[tuple[re.Pattern[str], str]],
    every_change: bool = False,
) -> list[str]:
    """Where ``executed`` differs from ``reference`` after sanitizing, one message per problem:
    a cell whose text around its numbers changed, or a number beyond its tolerance (the cell,
    the old and the new number, its line). With ``every_change``, for a regeneration's commit
    message: every number that changed (old -> new, within the tolerance or not) and every cell
    whose text changed, one line each."""
    try:
        cells = list(compared_cells(executed, reference, rules))
    except ValueError as error:
        return [str(error)]
    messages = []
    for label, want, got in cells:
        text_changed, numbers = changes(want, got)
        if text_changed:
            text = "text changed" if every_change else f"\n  expected {want!r}\n  got      {got!r}"
            messages.append(f"{label}: {text}")
        messages += [f"{label}: {c}" for c in numbers if every_change or not c.within_tolerance]
    return messages


def reference_of(executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The reference to keep of an executed notebook: its text outputs, already sanitized (no
    path or time of the machine that ran it), no images, no run metadata (so a regenerated
    reference only differs where an output changed)."""
    rules = sanitizers()
    reference = nbformat.from_dict(executed)
    reference.metadata.pop("papermill", None)
    reference.metadata.pop("widgets", None)
    for cell in reference.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        cell.execution_count = None
        kept = []
        for output in cell.outputs:
            if output.output_type in ("execute_result", "display_data"):
                data = {k: v for k, v in output.data.items() if k == COMPARED_MIME}
                if not data or "application/vnd.jupyter.widget-view+json" in output.data:
                    continue
                output.data = {k: sanitize(v, rules) for k, v in data.items()}
                output.metadata = {}
                if "execution_count" in output:
                    output.execution_count = None
            elif output.output_type == "stream":
                if output.name != "stdout":
                    continue
                output.text = sanitize(output.text, rules)
            kept.append(output)
        cell.outputs = kept
    return reference


def write_reference(executed: Path) -> Path:
    """Write the reference of one executed notebook and return its path; first print what
    changed from the reference it replaces (:func:`compare`, every change), for the commit
    message."""
    path = reference_path(executed.stem)
    path.parent.mkdir(exist_ok=True)
    reference = reference_of(nbformat.read(executed, as_version=4))
    if path.is_file():
        old = nbformat.read(path, as_version=4)
        changed = compare(reference, old, sanitizers(), every_change=True)
        print(f"{executed.stem}: " + ("no number changed" if not changed else "changes:"))
        for line in changed:
            print(f"  {line}")
    nbformat.write(reference, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names (default: every notebook)")
    parser.add_argument(
        "--from", dest="source", help="a folder of notebooks already executed in the ci profile"
    )
    args = parser.parse_args(argv)
    names = args.notebooks or [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
    if args.source:
        for name in names:
            executed = Path(args.source) / f"{Path(name).stem}.ipynb"
            if not executed.is_file():
                sys.exit(f"{executed} does not exist: run the notebook tests first")
            print(write_reference(executed))
        return 0
    from test_notebooks import execute  # the tests' own way of running a notebook

    # The tests' prefix (conftest.py): a path as long as theirs, so that a table column that
    # pandas cuts short is cut at the same place.
    with tempfile.TemporaryDirectory(prefix="eotdl-tutorials-tests-") as data:
        os.environ["EOTDL_TUTORIALS_DATA"] = data
        for name in names:
            output = Path(data) / f"{Path(name).stem}.ipynb"
            execute(ROOT / "notebooks" / output.name, output)
            print(write_reference(output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
