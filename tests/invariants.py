"""What every results file must hold whatever the run measured: the guarantees of its methods.

:func:`violations` reads a results file (``eotdl_tutorials.results``) and checks it by the keys
present, wherever they sit (top level, a model's entry, a table row), so a notebook that adds a
figure gets its checks from its name:

- every number is finite; every integer (a count) is at least 0 and the ranges below hold,
  except in a comparison (a key or path naming a gap or gain, or a key with an interval);
- ranges: :data:`UNIT_KEYS` (IoU, F1, SSIM, accuracy as a fraction, shares, agreements) in
  [0, 1], ``*_percent`` in [0, 100], :data:`NON_NEGATIVE_KEYS` (spreads, times, distances) >= 0;
- ``<name>_ci95`` is ``[low, high]`` with low <= high, and contains ``<name>`` where it is there;
- a part is at most its whole (:data:`PARTS`: clear items of those found, packed footprints of
  those matched, kept steps of those planned, the splits of a set);
- the three detail shares (improvement, omission, hallucination) sum to one: each pixel is one;
- a dataset-level IoU and F1 of the same masks satisfy F1 = 2 IoU / (1 + IoU);
- B2's error budget: each oracle (bicubic with the target's radiometry, or with its detail)
  scores at least bicubic, every model scores at most the better oracle, the budget's bicubic is
  the bicubic row's, and bicubic keeps the input's reflectance (near zero difference at 10 m);
- A3's rows: one label count per label ratio, growing with it, no more than the 100 % row's;
- C3's curves: every strategy at the same label counts, which grow by the same batch each round.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

#: Keys whose values are fractions in [0, 1].
UNIT_KEYS = re.compile(
    r"^(.*_)?(iou|miou|f1|ssim|accuracy|accuracy_mean|connectivity|improvement|omission"
    r"|hallucination|agreement|api_equals_pytorch|label_savings)$|^iou_"
)
#: Keys whose values cannot be negative.
NON_NEGATIVE_KEYS = re.compile(
    r"^(.*_)?(sd|std|seconds|minutes|days|m|l1|deg|params|onnx_max_abs_diff)$"
)
#: A path or key naming a comparison (a gap, a gain): its numbers may be of either sign and in
#: points, so only finiteness and intervals apply to them.
COMPARISON = re.compile(r"gap|gain|_over_|minus|diff|delta|direction|_vs_")
#: Keys that may be negative though no comparison (a direction, a displacement).
SIGNED_KEYS = re.compile(r"sign|offset|shift")
#: Keys in percent.
PERCENT_KEYS = re.compile(r"^(.*_)?percent$")
#: (part, whole) in one dict: the part cannot exceed the whole.
PARTS = (
    ("stac_items_clear", "stac_items_found"),
    ("packed_footprints", "footprints"),
    ("stac_requests", "per_footprint_requests"),
    ("steps", "planned_steps"),
    ("trained_epochs", "planned_epochs"),
    ("train_chips", "matched"),
    ("test_chips", "matched"),
)
#: The most that bicubic upsampling, averaged back to 10 m, may differ from its input
#: (reflectance units; reflectances are 0.02 to 0.5): bicubic is consistent but for its edges.
BICUBIC_REFLECTANCE_L1 = 0.005
#: Rounding allowed where a file writes figures rounded (4 decimals in D's rows).
ROUNDING = 1e-3


def dicts(value: Any, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every dict in ``value`` (itself included) with its path."""
    if isinstance(value, dict):
        yield path, value
        for key, item in value.items():
            yield from dicts(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from dicts(item, f"{path}[{index}]")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def leaf_problems(path: str, key: str, value: Any, compared: bool) -> list[str]:
    """Range problems of one number by its key (``compared``: it is a comparison's)."""
    where = f"{path}.{key}" if path else key
    if not math.isfinite(value):
        return [f"{where} = {value} is not finite"]
    if compared or COMPARISON.search(where) or SIGNED_KEYS.search(key):
        return []
    if isinstance(value, int) and value < 0:
        return [f"{where} = {value}: a count below 0"]
    if UNIT_KEYS.match(key) and not 0 <= value <= 1:
        return [f"{where} = {value} is outside [0, 1]"]
    if PERCENT_KEYS.match(key) and not 0 <= value <= 100:
        return [f"{where} = {value} is outside [0, 100]"]
    if NON_NEGATIVE_KEYS.match(key) and value < 0:
        return [f"{where} = {value} is below 0"]
    return []


def interval_problems(path: str, record: dict) -> list[str]:
    """``<name>_ci95`` is [low, high], low <= high, around ``<name>`` where present."""
    problems = []
    for key, value in record.items():
        if not key.endswith("_ci95"):
            continue
        where = f"{path}.{key}" if path else key
        if not (isinstance(value, list) and len(value) == 2 and all(map(is_number, value))):
            problems.append(f"{where} = {value!r} is not [low, high]")
            continue
        low, high = value
        if not low <= high:
            problems.append(f"{where} = {value}: low above high")
        name = key.removesuffix("_ci95")
        if is_number(record.get(name)) and not low <= record[name] <= high:
            problems.append(f"{where} = {value} does not contain {name} = {record[name]}")
    return problems


def dict_problems(path: str, record: dict) -> list[str]:
    """The checks of one dict: its numbers' ranges, intervals, parts, shares, IoU and F1."""
    problems = [
        problem
        for key, value in record.items()
        if is_number(value)
        for problem in leaf_problems(path, key, value, f"{key}_ci95" in record)
    ]
    problems += interval_problems(path, record)
    path = f"{path}: " if path else ""
    for part, whole in PARTS:
        if is_number(record.get(part)) and is_number(record.get(whole)):
            if record[part] > record[whole]:
                problems.append(f"{path}{part} = {record[part]} above {whole} = {record[whole]}")
    shares = [record.get(k) for k in ("improvement", "omission", "hallucination")]
    if all(map(is_number, shares)) and abs(sum(shares) - 1) > ROUNDING:
        problems.append(f"{path}the detail shares {shares} do not sum to 1")
    iou, f1 = record.get("iou"), record.get("f1")
    if is_number(iou) and is_number(f1) and abs(f1 - 2 * iou / (1 + iou)) > ROUNDING:
        problems.append(f"{path}f1 = {f1} is not 2 iou / (1 + iou) for iou = {iou}")
    return problems


def error_budget_problems(record: dict) -> list[str]:
    """B2: the oracles' PSNR at least bicubic's, every model's at most the better oracle's."""
    budget = record.get("error_budget_psnr")
    if not isinstance(budget, dict) or not is_number(budget.get("bicubic")):
        return []
    problems = []
    oracles = {k: v for k, v in budget.items() if k != "bicubic" and is_number(v)}
    problems += [
        f"error_budget_psnr.{name} = {value} below bicubic's {budget['bicubic']}"
        for name, value in oracles.items()
        if value < budget["bicubic"]
    ]
    models = {k: v for k, v in record.items() if isinstance(v, dict) and is_number(v.get("psnr"))}
    if oracles:
        ceiling = max(oracles.values())
        problems += [
            f"{name}.psnr = {model['psnr']} above the error budget's best oracle {ceiling}"
            for name, model in models.items()
            if model["psnr"] > ceiling
        ]
    bicubic = models.get("bicubic", {})
    if "psnr" in bicubic and abs(bicubic["psnr"] - budget["bicubic"]) > ROUNDING:
        problems.append(f"bicubic.psnr = {bicubic['psnr']} is not the budget's {budget['bicubic']}")
    if bicubic.get("reflectance_l1", 0) > BICUBIC_REFLECTANCE_L1:
        problems.append(
            f"bicubic.reflectance_l1 = {bicubic['reflectance_l1']} above "
            f"{BICUBIC_REFLECTANCE_L1}: bicubic no longer keeps its input"
        )
    return problems


def label_rows_problems(record: dict) -> list[str]:
    """A3: one label count per label ratio, growing with the ratio."""
    rows = record.get("rows")
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and {"labels_percent", "labels"} <= r.keys() for r in rows
    ):
        return []
    counts: dict[float, set[int]] = {}
    for row in rows:
        counts.setdefault(row["labels_percent"], set()).add(row["labels"])
    problems = [
        f"rows at {percent} % of the labels have {sorted(found)} labels: one draw, one count"
        for percent, found in counts.items()
        if len(found) != 1
    ]
    ordered = [min(counts[p]) for p in sorted(counts)]
    if ordered != sorted(set(ordered)):
        problems.append(f"the label counts {ordered} do not grow with the label ratio")
    return problems


def curve_problems(record: dict) -> list[str]:
    """C3: the same label counts for every strategy, one batch more each round."""
    curves = record.get("curves")
    if not isinstance(curves, dict) or not curves:
        return []
    problems = []
    labels = {name: [point[0] for point in curve] for name, curve in curves.items()}
    first = next(iter(labels.values()))
    if any(counts != first for counts in labels.values()):
        problems.append(f"the strategies' label counts differ: {labels}")
    steps = {b - a for a, b in zip(first, first[1:], strict=False)}
    if len(steps) > 1 or any(step <= 0 for step in steps):
        problems.append(f"the label counts {first} do not grow by one batch a round")
    for name, curve in curves.items():
        for count, mean, spread in curve:
            if not (0 <= mean <= 1 and spread >= 0):
                problems.append(f"curves.{name} at {count} labels: mean {mean}, sd {spread}")
    return problems


def violations(record: dict) -> list[str]:
    """Every broken guarantee in a results file, one message each (empty when it holds)."""
    problems = [p for path, found in dicts(record) for p in dict_problems(path, found)]
    return (
        problems + error_budget_problems(record) + label_rows_problems(record)
        + curve_problems(record)
    )  # fmt: skip
