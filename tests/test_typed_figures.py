"""No hand-typed measured figure in the README, the book's pages and the notebooks' text.

A measured figure in ``README.md``, ``book/*.md`` or a notebook's Markdown cells is either
computed (printed by a notebook's code in the run; for pages, written by the book's build from the
results files and the data folder: ``eotdl_tutorials.book``, included with ``{include}`` or shown
on the Results page, so the page's source holds no digit of it), or a cited
fact (a published figure whose source is named in the same paragraph, list item or table row), or
a setting (a parameter, a limit, a version, a year), allowed by an entry of :data:`ALLOWED` that
says why.

The rule is small on purpose. A number counts as a measured figure when a unit of measurement or
a counted thing follows it (:data:`UNITS`: ``12 s``, ``1.6 GB``, ``36.5 %``, ``18.81 dB``,
``134 footprints``, ``751K parameters``) or a metric's name comes just before it (:data:`METRICS`:
``IoU 0.59``). What no reader takes for a measurement is left alone: code blocks, inline code
(parameters, commands), link targets, versions, years and dates, EPSG codes, band names such as
B04, list numbering, and lengths and pixel sizes (``10 m``, ``24 px``: grids and resolutions,
which are settings of the sensors and the course).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eotdl_tutorials.book import DISK_PAGE, RESULTS_PAGE, disk_page, size_text

ROOT = Path(__file__).resolve().parents[1]
#: The pages checked: the README, the book's own Markdown pages (not the generated ones) and the
#: notebooks (their Markdown cells: what they print is computed in the run).
PAGES = (
    [ROOT / "README.md"]
    + sorted(path for path in (ROOT / "book").glob("*.md") if path.name != RESULTS_PAGE)
    + sorted((ROOT / "notebooks").glob("*.ipynb"))
)

#: What follows a measured figure: units of time, size, share and signal, and counted things.
UNITS = (
    r"(?:ms|s|sec|seconds?|min|minutes?|h|hours?|days?"
    r"|[kKMGT]i?B|B|bytes?|%|per ?cent|dB|points?"
    r"|footprints?|chips?|images?|pairs?|tiles?|labels?|parameters?|requests?|places?)"
)
#: A number, with thousands separators and decimals, not part of a word, a version or a name
#: (B04, EPSG:4326, 2.14.1); an optional K or M multiplier (751K, 14.3 M).
NUMBER = r"(?<![\w.:/#-])\d+(?:,\d{3})*(?:\.\d+)?(?![\w.]*\d)"
FIGURE = re.compile(
    rf"{NUMBER}(?:\s?[KM]\b)?(?:\s|-)?(?:[A-Za-z][\w-]{{2,}}\s(?:/\s)?){{0,2}}{UNITS}(?![\w])"
)
#: Metric names that make the number right after them a measured figure.
METRICS = re.compile(rf"\b(?:IoU|mIoU|F1|PSNR|SSIM|accuracy)\b(?: of| at)?\s+{NUMBER}")
#: A source named in the same paragraph: a link to a web page, a reference such as
#: "(Lu et al. 2021" or "(Mnih 2013", or MyST's {cite} role.
CITATION = re.compile(
    r"\]\(https?://|\([^()]*?\b[A-Z][\w-]+(?: et al\.)?,? (?:19|20)\d\d\b|\{cite(?::\w+)?\}"
)

#: Figures with a unit that are settings, not measurements: (pattern around the figure, reason).
#: A pattern covers the figure it matches and nothing else; keep each one narrow.
ALLOWED: list[tuple[str, str]] = [
    (r"under 90 s", "the ci profile's time limit per notebook, which the notebook test holds"),
    (r"\b[34]-band (?:RGB )?images|\b8-bit (?:RGB )?images", "an image format, not a measurement"),
    (r"up to 5 % (?:cloud|through)", "the tiler's cloud limit per chip (CHIP_MAX_CLOUD_PERCENT)"),
    (r"at most 10 min a notebook", "the default profile's time limit per notebook"),
    (r"within its 10 minutes", "the default profile's time limit per notebook"),
    (r"under 500 MB", "the ci world's size limit (`world build --help` states it)"),
    (r"trains at most 8 min|A2: 8 min", "A2's time budget, a parameter (`train_minutes`)"),
    (r"A3's trained rows 7 min|A3: 7 min", "A3's time budget, a parameter (`trained_minutes`)"),
    (r"1 %, 10 % (?:and|or) 100 %", "A3's label ratios, EuroSAT's protocol as EOTDL ran it"),
    (
        r"\bat 1 %|1 % really is 1 %|\(1 % of the training split, or one per class where 1 % is",
        "A3's smallest label ratio, a setting",
    ),
    (r"\*\*time budget\*\*: 8 min", "A2's time budget, a parameter (`train_minutes`)"),
    (r"\*\*time budget\*\* \(7 min\)", "A3's time budget, a parameter (`trained_minutes`)"),
    (r"within a 20 min budget", "an example value of A3's `trained_minutes` parameter"),
    (r"on a 32-pixel chip", "the size of the chip store's Sentinel-2 chips, a setting"),
    (r"saving 25 % of the labels", "C3's goal for the labels active learning saves, a setting"),
    (r"95 % interval", "the confidence level of every interval (eotdl_tutorials.intervals)"),
    (r"in 1 s slices", "the course engine's polling interval (batch.POLL_SLICE)"),
    (r"8 concurrent clients for 30 s", "`bench api`'s settings: clients and duration"),
]


def page_text(page: Path) -> str:
    """The Markdown of ``page``: the file, or a notebook's Markdown cells, blank-line separated."""
    if page.suffix != ".ipynb":
        return page.read_text()
    cells = json.loads(page.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def strip_markup(text: str) -> str:
    """``text`` without what never holds a measured figure: code blocks and directives' fences,
    inline code and roles, link targets, HTML comments, front matter. Removed text becomes
    spaces of the same line structure, so paragraphs stay where they were."""

    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = re.sub(r"\A---\n.*?\n---\n", blank, text, flags=re.S)
    text = re.sub(r"<!--.*?-->", blank, text, flags=re.S)
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", blank, text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", blank, text)
    return re.sub(r"(?<=\])\((?!https?://)[^)\s]*\)", blank, text)


def units(text: str) -> list[tuple[int, str]]:
    """The units a citation covers, with their first line: paragraphs (blank-line separated),
    and within them each list item and table row."""
    found: list[tuple[int, str]] = []
    start, lines = 1, []
    for number, line in enumerate([*text.splitlines(), ""], start=1):
        new_item = re.match(r"\s*(?:[-*+]|\d+\.|\|)\s", line) is not None
        if not line.strip() or new_item:
            if any(s.strip() for s in lines):
                found.append((start, "\n".join(lines)))
            start, lines = number, []
        if line.strip():
            if not lines:
                start = number
            lines.append(line)
    return found


def typed_figures(
    text: str, allowed: list[tuple[str, str]] = ALLOWED
) -> list[tuple[int, str, str]]:
    """(line, figure, its paragraph) of every measured figure in the Markdown ``text`` that is
    neither cited in its paragraph nor covered by an ``allowed`` pattern."""
    problems = []
    for line, unit in units(strip_markup(text)):
        flat = re.sub(r"\s+", " ", unit)
        if CITATION.search(flat):
            continue
        covered = [m.span() for p, _ in allowed for m in re.finditer(p, flat)]
        for match in [*FIGURE.finditer(flat), *METRICS.finditer(flat)]:
            begin, end = match.span()
            if not any(a <= begin and end <= b for a, b in covered):
                problems.append((line, match.group(0), flat.strip()))
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hand_typed_measured_figure(page: Path) -> None:
    problems = typed_figures(page_text(page))
    assert not problems, (
        f"hand-typed measured figures in {page.relative_to(ROOT)}: generate them at build time "
        "(eotdl_tutorials.book), name their source in the same paragraph, or, for a setting, "
        "add a pattern with its reason to ALLOWED:\n"
        + "\n".join(
            f"  line {line}: {figure!r} in: {where[:160]}" for line, figure, where in problems
        )
    )


def test_a_hand_typed_figure_fails() -> None:
    page = "# A page\n\nThe `ci` chip store holds 134 footprints in 289 MB.\n"
    assert [figure for _, figure, _ in typed_figures(page)] == ["134 footprints", "289 MB"]


def test_a_figure_typed_in_a_notebook_fails(tmp_path: Path) -> None:
    """A notebook's Markdown is checked; its code and outputs (computed in the run) are not."""
    cells = [
        {
            "cell_type": "markdown",
            "source": ["# D2\n", "\n", "Roads are 3 to 8 % of the pixels.\n"],
        },
        {"cell_type": "code", "source": ["print('IoU 0.59 over 20 chips')"], "outputs": []},
    ]
    notebook = tmp_path / "D2.ipynb"
    notebook.write_text(json.dumps({"cells": cells}))
    assert [figure for _, figure, _ in typed_figures(page_text(notebook))] == ["8 %"]


@pytest.mark.parametrize(
    "text",
    [
        "The model scores IoU 0.59 on the test images.",
        "A notebook ran for 12.5 s on this machine.",
        "| store | 1.2 GB |",
        "- the majority class is 36.5 % of the labels",
        "ESRT has 751K parameters at 4x.",
        "It took 1,171 images and 3 hours.",
    ],
)
def test_each_kind_of_measured_figure_is_found(text: str) -> None:
    assert typed_figures(f"Intro.\n\n{text}\n"), text


def test_a_generated_figure_passes() -> None:
    page = (
        "# A page\n\nMeasured when this book was built:\n\n"
        "```{include} _generated/disk.md\n```\n\n"
        "The store holds {{ store_footprints }} footprints; see {doc}`results`.\n"
    )
    assert typed_figures(page) == []


@pytest.mark.parametrize(
    "text",
    [
        "ESRT (Lu et al. 2021) has 751K parameters at 4x.",
        "Massachusetts Roads has 1,171 images (Mnih 2013, PhD thesis).",
        "EOTDL reports a PSNR of 18.81 dB ([its notebook](https://example.org/esrt)).",
    ],
)
def test_a_cited_figure_passes(text: str) -> None:
    assert typed_figures(f"Intro.\n\n{text}\n") == []


def test_the_disk_page_measures_the_folders(tmp_path: Path) -> None:
    """The sizes the pages include are measured in the data folder when the book is built."""
    store = tmp_path / "datasets" / "multisensor-ci"
    store.mkdir(parents=True)
    meta = {"count": 4, "sensors": {"s2": {"shape": [2, 5, 5], "dtype": "uint16"}}}
    (store / "meta.json").write_text(json.dumps(meta))
    (store / "s2.npy").write_bytes(bytes(4 * 2 * 5 * 5 * 2))
    (store / "chips").mkdir()
    (store / "chips" / "a.tif").write_bytes(bytes(800))
    (tmp_path / "world-ci").mkdir()
    (tmp_path / "world-ci" / "scene.tif").write_bytes(bytes(2000))
    page = disk_page(tmp_path, None)
    store_bytes = 400 + 800 + (store / "meta.json").stat().st_size
    assert "| `world-ci` | a sample world | 2 kB |" in page
    row = f"| `datasets/multisensor-ci` | a chip store of 4 footprints | {size_text(store_bytes)} |"
    assert row in page
    assert f"takes {size_text(store_bytes / 4)}: 100 B in its packed arrays" in page
    assert "`s2` 2 x 5 x 5 `uint16`: 100 B" in page
    assert "the rest in its other files, most of it in `chips/` (200 B)" in page
    assert f"1,000 footprints {size_text(store_bytes / 4 * 1000)}" in page
    (tmp_path / "world-ci" / "scene.tif").write_bytes(bytes(3000))
    (tmp_path / "world-ci" / "linked.tif").hardlink_to(tmp_path / "world-ci" / "scene.tif")
    page = disk_page(tmp_path, None)
    assert "| `world-ci` | a sample world | 3 kB |" in page
    assert f"| all of the data folder |  | {size_text(3000 + store_bytes)} |" in page


def test_the_disk_page_is_included() -> None:
    """The page the build writes is where the pages' sizes come from."""
    assert f"```{{include}} {DISK_PAGE}" in (ROOT / "book" / "real-data.md").read_text()


def test_a_citation_covers_only_its_own_paragraph_and_item() -> None:
    page = (
        "- ESRT has 751K parameters (Lu et al. 2021).\n"
        "- our CNN has 120K parameters.\n\n"
        "A paragraph with 3 hours of training.\n"
    )
    assert [figure for _, figure, _ in typed_figures(page)] == ["120K parameters", "3 hours"]


@pytest.mark.parametrize(
    "text",
    [
        "Install PyTorch 2.14.1 and stac-api-validator 0.6.8 (issue #656) in 2026.",
        "Bands B04 and B08 in EPSG:4326 at 10 m, 24 px views, 1500 x 1500 px tiles.",
        "Run `eotdl-tutorials bench api --seconds 30` or `-p epochs 40`.",
        "1. first step\n2. second step",
        "```bash\nmake world  # ~1 min, 140 MB\n```",
        "Each notebook runs under 90 s on 2 CPU cores.",
    ],
)
def test_settings_and_code_pass(text: str) -> None:
    assert typed_figures(f"Intro.\n\n{text}\n") == []


def test_an_allowed_pattern_covers_only_its_own_figure() -> None:
    page = "Each notebook runs under 90 s; this one took 85 s.\n"
    assert [figure for _, figure, _ in typed_figures(page)] == ["85 s"]


def test_every_allowed_pattern_is_used() -> None:
    """An entry of ALLOWED that no page needs is dead: remove it with the figure it allowed."""
    pages = [re.sub(r"\s+", " ", strip_markup(page_text(page))) for page in PAGES]
    unused = [p for p, _ in ALLOWED if not any(re.search(p, page) for page in pages)]
    assert not unused, f"patterns no page uses: {unused}"
