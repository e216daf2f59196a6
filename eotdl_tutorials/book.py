"""The book's generated pages, written at build time so that no figure in them is typed by hand.

- ``results.md``: the Results page, from every results file and benchmark file in
  :func:`~eotdl_tutorials.results.results_dir` (tables of their figures, each ``<name>_ci95``
  beside its figure as ``+1.2 [-0.3, +2.5]``, bar charts comparing the profiles with the
  intervals as error bars, the time and peak memory of each ``make course`` step, and the
  machines they were measured on);
- ``_generated/use-cases.md``: the landing page's cards, one per ``use-case-*.md`` chapter, each
  with the first figure of that use case's first executed notebook;
- ``_generated/disk.md``: what the Python environment, the sample worlds and the chip stores take
  on disk, measured when the book is built (the pages include it instead of typing sizes);
- ``_generated/full-parameters.md``: the table of the notebooks' ``full`` parameters, read from
  their ``parameters`` cells (:mod:`~eotdl_tutorials.notebook_parameters`).

As a Sphinx extension (``_config.yml``: ``sphinx: extra_extensions: [eotdl_tutorials.book]``)
they are written into the book's source folder when the build starts, before Sphinx reads it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from eotdl_tutorials.notebook_parameters import full_parameters_table
from eotdl_tutorials.profiles import data_dir
from eotdl_tutorials.results import COURSE_KEY, RUN_KEYS, results_dir

#: Generated files, relative to the book's source folder (git ignores them).
RESULTS_PAGE = "results.md"
GENERATED = "_generated"
#: Keys of a benchmark file that describe the run, not its figures.
BENCH_KEYS = ("benchmark", "version", "date", "machine")
#: Most numeric figures drawn per notebook (the table lists them all).
MAX_PLOTTED = 12
#: Most values of a list shown in a table cell.
MAX_LIST = 6
#: The disk page, relative to the book's source folder (``real-data.md`` includes it).
DISK_PAGE = f"{GENERATED}/disk.md"
#: The table of the full profile's parameters (``real-data.md`` includes it).
FULL_PARAMETERS_PAGE = f"{GENERATED}/full-parameters.md"
#: Footprint counts a chip store's size per footprint is scaled to: a thousand, and the million
#: tiles EOTDL matched in its use case A.
DISK_SCALES = {"1,000 footprints": 1_000, "EOTDL's million": 1_000_000}
#: The suffix of a figure's 95 % interval in a results file (``intervals.Interval.fields``).
CI_SUFFIX = "_ci95"


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested figures as ``{"a.b": value}``; lists of scalars kept, lists of objects counted."""
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            flat[name] = f"{len(value)} rows"
        else:
            flat[name] = value
    return flat


def interval_of(flat: dict[str, Any], key: str) -> tuple[float, float] | None:
    """The 95 % interval ``[low, high]`` written beside figure ``key``, or None."""
    ends = flat.get(f"{key}{CI_SUFFIX}")
    if isinstance(ends, list) and len(ends) == 2 and all(_numeric(v) for v in ends):
        return float(ends[0]), float(ends[1])
    return None


def with_intervals(flat: dict[str, Any]) -> dict[str, Any]:
    """``flat`` with each figure that has an interval shown as ``+1.2 [-0.3, +2.5]`` and its
    ``_ci95`` key dropped (an interval without its figure stays as it is)."""
    shown = {}
    for key, value in flat.items():
        if key.endswith(CI_SUFFIX) and _numeric(flat.get(key.removesuffix(CI_SUFFIX))):
            continue
        ends = interval_of(flat, key) if _numeric(value) else None
        shown[key] = value if ends is None else f"{value:+.4g} [{ends[0]:+.4g}, {ends[1]:+.4g}]"
    return shown


def format_value(value: Any) -> str:
    """A table cell: 4 significant digits for floats, lists shortened, pipes escaped."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, list):
        shown = ", ".join(format_value(v) for v in value[:MAX_LIST])
        text = f"[{shown}{', ...' if len(value) > MAX_LIST else ''}] ({len(value)})"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def machine_text(machine: dict[str, Any] | None) -> str:
    """``CPU model, N cores, GPU`` of a results file's machine."""
    if not machine:
        return "unknown"
    gpu = machine.get("gpu") or "no GPU"
    return f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {gpu}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bar_chart(name: str, records: list[dict[str, Any]], out: Path) -> list[str]:
    """Small multiples of ``records``' numeric figures, one bar per profile; a MyST figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flats = [flatten({k: v for k, v in r.items() if k not in RUN_KEYS}) for r in records]
    keys = [k for k in flats[0] if all(_numeric(f.get(k)) for f in flats)][:MAX_PLOTTED]
    if not keys:
        return []
    cols = min(4, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    profiles = [r["profile"] for r in records]
    for ax, key in zip(axes.flat, keys, strict=False):
        values = [f[key] for f in flats]
        ends = [interval_of(f, key) or (f[key], f[key]) for f in flats]
        errors = [  # the 95 % intervals as error bars (none where a run has none)
            [max(v - lo, 0) for v, (lo, _) in zip(values, ends, strict=True)],
            [max(hi - v, 0) for v, (_, hi) in zip(values, ends, strict=True)],
        ]
        ax.bar(profiles, values, yerr=errors, capsize=3, color="tab:blue")
        ax.set_title(key, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    path = out / f"results-{name}.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return [
        f"```{{figure}} /{GENERATED}/{path.name}",
        f":alt: the numeric figures of {name}, one bar per profile",
        "",
        f"The numeric figures of `{name}`, one bar per profile that was run.",
        "```",
        "",
    ]


def run_times(notebooks: Path) -> list[list[str]]:
    """Rows (notebook, profile, seconds) of the executed notebooks in ``notebooks``, from the
    run time papermill records in each one."""
    rows = []
    for path in sorted(notebooks.glob("*.ipynb")) if notebooks.is_dir() else []:
        papermill = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        if papermill.get("duration") is not None:
            profile = papermill.get("parameters", {}).get("profile", "?")
            rows.append([f"`{path.stem}`", f"`{profile}`", f"{papermill['duration']:.1f}"])
    return rows


def course_steps(record: dict[str, Any]) -> list[str]:
    """The Results page's section of a ``make course`` results file: each step's time and peak
    memory in its last run, whether the last ``make course`` ran or kept it, the disk use."""
    last = record.get("last_run", {})
    rows = []
    for name, step in record["steps"].items():
        status = (
            "ran" if name in last.get("ran", []) else "kept" if name in last.get("kept", []) else ""
        )
        rows.append(
            [
                f"`{name}`",
                f"{step['seconds']:.1f}",
                *(
                    "unknown" if step.get(key) is None else format_value(step[key])
                    for key in ("peak_memory_mib", "largest_process_mib")
                ),
                str(step.get("date", "")),
                status,
            ]
        )
    lines = [
        f"## `make course` steps (`{record[COURSE_KEY]}`)",
        "",
        "Each step's wall time and peak memory in its last run: the largest sum of the resident",
        "memory of its processes (a notebook's kernel with its workers), sampled while it ran,",
        "and the highest peak of one of them. A step the last `make course` kept shows the",
        "figures of the run that made it.",
        "",
    ]
    header = ["step", "seconds", "peak memory (MiB)", "largest process (MiB)", "measured", "last"]
    lines += _table(header, rows)
    disk = record.get("disk")
    if disk:
        sizes = [f"the data folder {size_text(disk['data_bytes'])}"]
        if disk.get("environment_bytes") is not None:
            sizes.insert(0, f"`{disk['environment']}` {size_text(disk['environment_bytes'])}")
        lines += [f"On disk after the run ({disk['date']}): {' and '.join(sizes)}.", ""]
    return lines


def results_page(folder: Path, out: Path, notebooks: Path | None = None) -> str:
    """The Results page (MyST Markdown) for the results files in ``folder`` and the executed
    notebooks in ``notebooks`` (their run times); its figures are written into ``out``."""
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append((path, json.loads(path.read_text())))
        except (OSError, ValueError) as err:
            raise ValueError(f"results file {path} cannot be read ({err}): delete it") from None
    by_notebook: dict[str, list[dict[str, Any]]] = defaultdict(list)
    benches: list[tuple[Path, dict[str, Any]]] = []
    courses: list[dict[str, Any]] = []
    for path, record in records:
        if "benchmark" in record:
            benches.append((path, record))
        elif COURSE_KEY in record and "steps" in record:
            courses.append(record)
        elif "notebook" in record and "profile" in record:
            by_notebook[record["notebook"]].append(record)

    lines = [
        "# Results",
        "",
        "Every figure on this page was read from the results files when the book was built: each",
        "notebook writes its headline figures with `eotdl_tutorials.results.write_results`, each",
        "`eotdl-tutorials bench` command writes its own, into `$EOTDL_TUTORIALS_DATA/results/`.",
        f"This build read {len(records)} files.",
        "",
    ]
    if not records:
        lines += ["No results yet: run the notebooks (`make course`) and build the book again.", ""]
    times = run_times(notebooks) if notebooks is not None else []
    if times:
        lines += [
            "## Notebook run times",
            "",
            "papermill's wall time of the runs in this book:",
            "",
        ]
        lines += _table(["notebook", "profile", "seconds"], times)
    for record in courses:
        lines += course_steps(record)
    machines = sorted({machine_text(r.get("machine")) for _, r in records})
    if machines:
        lines += ["## Machines", ""]
        lines += _table(["machine (CPU, cores, GPU)"], [[m] for m in machines])
    if by_notebook:
        lines += ["## Notebooks", ""]
    for name in sorted(by_notebook):
        runs = sorted(by_notebook[name], key=lambda r: r["profile"])
        lines += [f"### {name}", ""]
        flats = [
            with_intervals(flatten({k: v for k, v in r.items() if k not in RUN_KEYS})) for r in runs
        ]
        keys = list(dict.fromkeys(k for f in flats for k in f))
        header = ["figure", *(f"`{r['profile']}`" for r in runs)]
        rows = [[f"`{k}`", *(format_value(f.get(k, "")) for f in flats)] for k in keys]
        run_rows = [
            ["date", *(r.get("date", "") for r in runs)],
            ["version", *(str(r.get("version", "")) for r in runs)],
            ["machine", *(format_value(machine_text(r.get("machine"))) for r in runs)],
        ]
        lines += _table(header, rows + run_rows)
        lines += _bar_chart(name, runs, out)
    if benches:
        lines += ["## Benchmarks", ""]
    for path, record in benches:
        lines += [f"### {record['benchmark']} (`{path.name}`)", ""]
        flat = with_intervals(flatten({k: v for k, v in record.items() if k not in BENCH_KEYS}))
        rows = [[f"`{k}`", format_value(v)] for k, v in flat.items()]
        rows += [
            ["date", str(record.get("date", ""))],
            ["version", str(record.get("version", ""))],
            ["machine", format_value(machine_text(record.get("machine")))],
        ]
        lines += _table(["figure", "value"], rows)
    return "\n".join(lines)


def first_figure(notebook: Path) -> bytes | None:
    """The first PNG output of an executed notebook, or None."""
    if not notebook.is_file():
        return None
    for cell in json.loads(notebook.read_text()).get("cells", []):
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                return base64.b64decode("".join(png) if isinstance(png, list) else png)
    return None


def use_case_cards(srcdir: Path, out: Path) -> str:
    """A sphinx-design grid with a card per ``use-case-*.md`` chapter: its title, a link, and
    the first figure of its first executed notebook (``notebooks/<letter>*.ipynb``)."""
    cards = ["::::{grid} 1 2 2 2", ":gutter: 3", ""]
    for page in sorted(srcdir.glob("use-case-*.md")):
        letter = page.stem.removeprefix("use-case-").upper()
        title = next(
            (
                line.lstrip("# ").strip()
                for line in page.read_text().splitlines()
                if line.startswith("# ")
            ),
            f"Use case {letter}",
        )
        notebooks = sorted((srcdir / "notebooks").glob(f"{letter}[0-9]*.ipynb"))
        image = first_figure(notebooks[0]) if notebooks else None
        cards += [f":::{{grid-item-card}} {title}", f":link: {page.stem}", ":link-type: doc"]
        if image is not None:
            path = out / f"card-{letter.lower()}.png"
            path.write_bytes(image)
            cards += [
                f":img-top: /{GENERATED}/{path.name}",
                f":img-alt: a figure of {notebooks[0].stem}",
            ]
        cards.append("")
        if notebooks:
            names = ", ".join(f"`{nb.stem}`" for nb in notebooks)
            caption = f"Figure: the first plot of `{notebooks[0].stem}`." if image else ""
            cards.append(f"{len(notebooks)} notebooks: {names}. {caption}".strip())
        else:
            cards.append("Coming: its notebooks are being written.")
        cards += [":::", ""]
    cards.append("::::")
    return "\n".join(cards) + "\n"


def folder_bytes(path: Path) -> int:
    """The bytes of the files under ``path``, a file with several hard links counted once (a
    chip store links the sample world's tiles); links not followed, 0 when it does not exist."""
    total, seen = 0, set()
    for root, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except OSError:  # removed while walking
                continue
            if stat.st_nlink > 1:
                if (stat.st_dev, stat.st_ino) in seen:
                    continue
                seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_size
    return total


def size_text(size: float) -> str:
    """A size in decimal units, 3 significant digits: ``289 MB``, ``2.19 GB``."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} TB" if size < 1000 else f"{size:,.0f} TB"


def chip_store_meta(folder: Path) -> dict[str, Any] | None:
    """The ``meta.json`` of the chip store in ``folder``, or None when it is not one."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and {"count", "sensors"} <= set(meta) else None


def disk_page(data: Path, environment: Path | None) -> str:
    """What the course takes on disk (MyST Markdown), measured now: the Python ``environment``
    (None: not shown), every sample world and dataset folder in ``data`` and the whole of
    ``data``; for each chip store, what a footprint takes (its packed arrays, computed from
    ``meta.json``, and the rest of the folder) scaled to :data:`DISK_SCALES`."""
    rows = []
    if environment is not None:
        size = size_text(folder_bytes(environment))
        rows.append([f"`{environment.name}`", "the Python environment of the build", size])
    worlds = sorted(data.glob("world-*"))
    datasets = sorted(p for p in (data / "datasets").glob("*") if p.is_dir())
    stores = []
    for folder in [*worlds, *datasets]:
        size = folder_bytes(folder.resolve())
        meta = chip_store_meta(folder)
        if meta is not None and meta["count"]:
            stores.append((folder, meta, size))
            holds = f"a chip store of {meta['count']:,} footprints"
        else:
            holds = "a sample world" if folder in worlds else "a dataset"
        rows.append([f"`{folder.relative_to(data)}`", holds, size_text(size)])
    lines = ["Measured when this book was built (the data folder: `$EOTDL_TUTORIALS_DATA`):", ""]
    if data.is_dir():
        rows.append(["all of the data folder", "", size_text(folder_bytes(data.resolve()))])
    if rows:
        lines += _table(["folder", "holds", "size"], rows)
        lines += ["A file linked into two folders counts in each one's row, once in the total.", ""]
    else:
        lines += ["Nothing yet: run the notebooks, then build the book again.", ""]
    for folder, meta, size in stores:
        chip = {sensor: _chip_bytes(info) for sensor, info in meta["sensors"].items()}
        arrays = "; ".join(
            f"`{sensor}` {' x '.join(map(str, info['shape']))} `{info['dtype']}`: "
            f"{size_text(chip[sensor])}"
            for sensor, info in meta["sensors"].items()
        )
        per_footprint = size / meta["count"]
        others = {p.name: folder_bytes(p) for p in folder.iterdir() if p.is_dir()}
        largest = max(others, key=others.get, default=None)
        rest = (
            f", most of it in `{largest}/` ({size_text(others[largest] / meta['count'])})"
            if largest
            else ""
        )
        scaled = " and ".join(
            f"{label} {size_text(per_footprint * count)}" for label, count in DISK_SCALES.items()
        )
        lines += [
            f"Per footprint, the chip store `{folder.name}` takes {size_text(per_footprint)}: "
            f"{size_text(sum(chip.values()))} in its packed arrays, one chip per sensor "
            f"({arrays}), the rest in its other files{rest}. At that rate: {scaled}.",
            "",
        ]
    return "\n".join(lines)


def _chip_bytes(info: dict[str, Any]) -> int:
    """The bytes of one chip of a chip store's sensor (its ``meta.json`` shape and dtype)."""
    import numpy as np

    return int(np.prod(info["shape"])) * np.dtype(info["dtype"]).itemsize


def write_pages(
    srcdir: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None
) -> list[Path]:
    """Write the generated pages into the book's source folder ``srcdir``, from the results
    files in ``folder`` (default :func:`results_dir`); return the files written."""
    srcdir = Path(srcdir)
    out = srcdir / GENERATED
    out.mkdir(exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    pages = {
        srcdir / RESULTS_PAGE: results_page(
            Path(folder) if folder else results_dir(), out, srcdir / "notebooks"
        ),
        out / "use-cases.md": use_case_cards(srcdir, out),
        srcdir / DISK_PAGE: disk_page(
            data_dir(), Path(sys.prefix) if sys.prefix != sys.base_prefix else None
        ),
        srcdir / FULL_PARAMETERS_PAGE: full_parameters_table(
            sorted((srcdir / "notebooks").glob("*.ipynb"))
        ),
    }
    for path, text in pages.items():
        if not path.exists() or path.read_text() != text:  # unchanged pages are not rebuilt
            path.write_text(text)
    return [*pages, *sorted(p for p in out.iterdir() if p.suffix == ".png")]


def _on_config_inited(app: Any, config: Any) -> None:
    write_pages(app.srcdir)


def _always_outdated(app: Any, env: Any, added: set, changed: set, removed: set) -> list[str]:
    """The generated pages are read again on every build (their inputs are outside the book)."""
    return [name for name in ("results", "intro") if name in env.found_docs]


def _drop_duplicate_scripts(
    app: Any, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Each script once per page: sphinx-thebe's inline configuration comes twice under
    Sphinx 7.4 (once with the file name None, once with ''), and the second copy is a
    JavaScript error in the browser."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        name = getattr(script, "filename", script) or ""  # None and "" both mean inline
        key = (str(name), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _write_favicon_ico(app: Any, exception: Exception | None) -> None:
    """``favicon.ico`` at the root of the HTML: the redirecting ``index.html`` has no icon
    link, so a browser asks for ``/favicon.ico`` (a failed request without it)."""
    if exception is not None or app.builder.format != "html":
        return
    from PIL import Image, ImageDraw

    icon = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(icon).ellipse((2, 2, 29, 29), fill=(42, 111, 151, 255))
    icon.save(Path(app.outdir) / "favicon.ico")


def setup(app: Any) -> dict[str, Any]:
    """The Sphinx extension: generate the pages before Sphinx reads the sources."""
    app.connect("config-inited", _on_config_inited, priority=100)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("html-page-context", _drop_duplicate_scripts, priority=1000)
    app.connect("build-finished", _write_favicon_ico)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
