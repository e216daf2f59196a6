"""Reference outputs of the notebooks' ci runs, compared the way nbval compares them.

The ci profile is deterministic (fixed seeds, the ci sample world), so what a notebook prints in
it is a fact the tests can hold it to. ``tests/references/<notebook>.out.json`` keeps each executed
notebook with its text outputs (images left out); ``tests/references/sanitize.cfg`` holds the
regular expressions, in nbval's ``--sanitize-with`` format, that replace what varies between runs
(times, paths, addresses, progress bars). The notebook test runs each notebook once, with
papermill, and compares its outputs with these, cell by cell; nothing is executed twice. The
references are notebooks in nbformat (stored under another suffix, so that nothing takes them
for course notebooks with outputs committed); nbval reads them once copied to ``X.ipynb``.

Regenerate them after a notebook changed (and check the diff: it is what the change did):

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
#: Cells with this tag are not compared (nbval's tag).
IGNORE_TAG = "nbval-ignore-output"


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


def compare(
    executed: nbformat.NotebookNode,
    reference: nbformat.NotebookNode,
    rules: list[tuple[re.Pattern[str], str]],
) -> list[str]:
    """Where ``executed`` differs from ``reference`` after sanitizing, one message per cell."""
    ran = [cell for cell in executed.cells if cell.cell_type == "code"]
    expected = [cell for cell in reference.cells if cell.cell_type == "code"]
    if [c.source for c in ran] != [c.source for c in expected]:
        return ["the notebook's code changed since its reference was written: regenerate it"]
    problems = []
    for number, (cell, ref) in enumerate(zip(ran, expected, strict=True), start=1):
        tags = cell.metadata.get("tags", []) + ref.metadata.get("tags", [])
        if IGNORE_TAG in tags:  # output that depends on the machine (cores, GPU, versions)
            continue
        got = [sanitize(text, rules) for text in cell_texts(cell)]
        want = [sanitize(text, rules) for text in cell_texts(ref)]
        if got != want:
            first = cell.source.splitlines()[0] if cell.source else ""
            problems.append(
                f"code cell {number} ({first!r}):\n  expected {want!r}\n  got      {got!r}"
            )
    return problems


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
    """Write the reference of one executed notebook; return its path."""
    path = reference_path(executed.stem)
    path.parent.mkdir(exist_ok=True)
    reference = reference_of(nbformat.read(executed, as_version=4))
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
