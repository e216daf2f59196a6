"""The notebooks' parameters, read from their ``parameters`` cells: the one place they are written.

Each parameter is an assignment in the cell, with a comment that says what it holds. The part of
the comment from ``full:`` on says what it takes in the ``full`` profile (real data); ``full:
required`` marks a parameter that ``full`` cannot run without (no default reads real data), and
``full: required (or other_name)`` one that another parameter can stand in for.
The book's table of the ``full`` parameters (:func:`full_parameters_table`) and ``course run
--profile full``'s check that every required one is given (:func:`missing_in_full`) both come
from here, so neither can drift from the notebooks.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where a comment starts saying what the parameter takes in the full profile.
FULL_MARK = re.compile(r"(?:^|[;(,]\s*)full:\s*")
#: How a ``full:`` text starts when the full profile cannot run without the parameter.
REQUIRED = "required"
#: ``required (or other_name)``: the parameter that can stand in for it.
ALTERNATIVE = re.compile(r"required \(or (\w+)\)")
#: The page that explains the real-data parameters (named in every message about them).
REAL_DATA_PAGE = "book/real-data.md"


@dataclass(frozen=True)
class Parameter:
    """One parameter of a notebook: its name, its default as written, its comment."""

    notebook: str
    name: str
    default: str
    comment: str

    @property
    def full(self) -> str | None:
        """What the parameter takes in the full profile (the comment from ``full:`` on), or None."""
        found = FULL_MARK.search(self.comment)
        return self.comment[found.end() :].strip() if found else None

    @property
    def required_in_full(self) -> bool:
        return (self.full or "").startswith(REQUIRED)

    @property
    def alternative(self) -> str | None:
        """The parameter that can be given instead of this required one, if any."""
        found = ALTERNATIVE.match(self.full or "")
        return found.group(1) if found else None

    @property
    def make_variable(self) -> str:
        """The ``make course`` variable that passes it (``STAC_URL`` for ``stac_url``)."""
        return self.name.upper()


def parameters_cell(path: Path) -> str:
    """The source of the notebook's cell tagged ``parameters``."""
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            return "".join(source) if isinstance(source, list) else source
    raise ValueError(f"{path} has no cell tagged 'parameters' (papermill needs one)")


def read_parameters(path: Path) -> list[Parameter]:
    """The parameters of the notebook at ``path``, in order. A comment belongs to the assignment
    on its line, and a line holding only a comment continues the assignment above it."""
    source = parameters_cell(path)
    statements = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.targets[0] if isinstance(node, ast.Assign) else node.target, ast.Name)
    ]
    comments: dict[int, list[str]] = {i: [] for i in range(len(statements))}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        line = token.start[0]
        owners = [i for i, node in enumerate(statements) if node.lineno <= line]
        if owners:
            comments[owners[-1]].append(token.string.lstrip("#").strip())
    parameters = []
    for i, node in enumerate(statements):
        target = node.targets[0] if isinstance(node, ast.Assign) else node.target
        default = ast.get_source_segment(source, node.value) if node.value is not None else ""
        parameters.append(Parameter(path.stem, target.id, default or "", " ".join(comments[i])))
    return parameters


def course_parameters(paths: Iterable[Path]) -> list[Parameter]:
    """Every parameter of the notebooks at ``paths``."""
    return [parameter for path in paths for parameter in read_parameters(path)]


def missing_in_full(
    parameters: Iterable[Parameter], given: Mapping[str, Any]
) -> dict[str, list[str]]:
    """The parameters required in the full profile that ``given`` lacks (or gives as None), and
    whose alternative it lacks too: ``{name: [notebook, ...]}``."""
    missing: dict[str, list[str]] = {}
    for parameter in parameters:
        names = (parameter.name, parameter.alternative)
        if parameter.required_in_full and all(given.get(name) is None for name in names):
            missing.setdefault(parameter.name, []).append(parameter.notebook)
    return missing


def missing_message(missing: Mapping[str, list[str]]) -> str:
    """What ``make course PROFILE=full`` prints when real-data parameters are missing: every one
    at once, with the variable that passes it and the notebooks that need it."""
    lines = [f"PROFILE=full reads real data and needs {len(missing)} more setting(s):"]
    for name, notebooks in missing.items():
        lines.append(f"  {name.upper()}=...  (parameter {name} of {', '.join(notebooks)})")
    variables = " ".join(f"{name.upper()}=..." for name in missing)
    lines.append(f"e.g. make course PROFILE=full {variables}; {REAL_DATA_PAGE} says what each is")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """``text`` safe in a Markdown table cell (no column break, no raw HTML such as <image>)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def full_parameters_table(paths: Iterable[Path]) -> str:
    """A Markdown table of every parameter whose comment says what it takes in ``full``:
    notebook, parameter, default, and its ``full`` text (required ones in bold)."""
    rows = [
        "| notebook | parameter | default | in `full` |",
        "| --- | --- | --- | --- |",
        '| all | `profile` | `"ci"` | `"full"` |',
    ]
    for parameter in course_parameters(paths):
        full = parameter.full
        if full is None or parameter.name == "profile":
            continue
        if parameter.required_in_full:
            full = f"**required**{full[len(REQUIRED) :]}"
        short = parameter.notebook.split("_", 1)[0]
        rows.append(
            f"| {short} | `{parameter.name}` | `{_cell(parameter.default)}` | {_cell(full)} |"
        )
    return "\n".join(rows) + "\n"
