"""The few-label result in words: sentences from the table, the gaps with their intervals, and
the lesson's gaps against their goals."""

from __future__ import annotations

from eotdl_tutorials.intervals import Interval
from eotdl_tutorials.training.evaluation import FewLabelResult

#: The headline comparisons, each a method over its baseline at every label ratio: what
#: pre-training adds to a frozen encoder, what it adds to training, what spatial structure adds.
GAPS = {
    "ssl_probe_over_random_probe": ("ssl_probe", "random_probe"),
    "ssl_finetune_over_scratch": ("ssl_finetune", "scratch"),
    "scratch_over_band_statistics": ("scratch", "band_statistics"),
}

#: The size (points) each gap of :func:`directions` should have for the course's lesson to hold
#: as it holds on real imagery (EOTDL's EuroSAT gaps at 1 % are 47 and 65 points).
LESSON_GOALS = {
    "ssl_probe_over_random_probe_at_low": 10.0,
    "scratch_over_band_statistics_at_full": 15.0,
    "ssl_finetune_over_scratch_at_low": 10.0,
}


def gaps(result: FewLabelResult) -> dict[str, Interval]:
    """Every gap of ``GAPS`` at every label ratio (points, with its 95 % interval), named
    ``<gap>_at_<percent>pct``; the trained gaps only where the trained rows were run."""
    methods = set(result.table["method"])
    return {
        f"{name}_at_{percent:g}pct": result.gap(method, baseline, percent)
        for name, (method, baseline) in GAPS.items()
        if {method, baseline} <= methods
        for percent in sorted(set(result.table["labels_percent"]))
    }


def directions(result: FewLabelResult) -> dict[str, Interval]:
    """The three gaps (points, with intervals) the course's lesson rests on: scratch over band
    statistics at 100 %, fine-tuned over scratch and the self-supervised probe over random
    weights at 1 %."""
    percents = sorted(set(result.table["labels_percent"]))
    lowest, highest = percents[0], percents[-1]
    wanted = {
        "ssl_probe_over_random_probe_at_low": ("ssl_probe_over_random_probe", lowest),
        "scratch_over_band_statistics_at_full": ("scratch_over_band_statistics", highest),
        "ssl_finetune_over_scratch_at_low": ("ssl_finetune_over_scratch", lowest),
    }
    every = gaps(result)
    return {
        name: every[f"{gap}_at_{percent:g}pct"]
        for name, (gap, percent) in wanted.items()
        if f"{gap}_at_{percent:g}pct" in every
    }


def gap_text(gap: Interval) -> str:
    """``+4.2 points [-5.3, +13.7], within noise``: a gap, its 95 % interval and the verdict."""
    return f"{gap.estimate:+.1f} points [{gap.low:+.1f}, {gap.high:+.1f}], {gap.verdict}"


def summarize(result: FewLabelResult) -> str:
    """Plain sentences built from the computed table and gaps (no figure is written by hand)."""
    mean, sd = result.pivot(), result.pivot("accuracy_sd")
    lowest, highest = min(mean.columns), max(mean.columns)
    count = result.table.set_index(["method", "labels_percent"])["labels"]

    def cell(method: str, percent: float) -> str:
        return f"{mean.loc[method, percent]:.1%} (sd {sd.loc[method, percent]:.1%})"

    draws = int(result.table["draws"].min())
    places = len(set(result.test_places)) if result.test_places is not None else "?"
    lines = [
        f"Held-out test chips: {len(result.test_labels)} from {places} places; one chip is "
        f"{100 / len(result.test_labels):.2f} accuracy points. Means over {draws} label draws, "
        "drawn class-balanced.",
        f"With {count['ssl_probe', lowest]} labels ({lowest:g} % of the training split) the "
        f"self-supervised probe reaches {cell('ssl_probe', lowest)}, the random-weights probe "
        f"{cell('random_probe', lowest)}; the majority class of the draw: "
        f"{mean.loc['majority', lowest]:.1%}.",
        f"Band statistics with all {count['band_statistics', highest]} labels: "
        f"{cell('band_statistics', highest)}; the majority class: "
        f"{mean.loc['majority', highest]:.1%}.",
    ]
    if "scratch" in mean.index:
        lines += [
            f"Fine-tuned at {lowest:g} %: {cell('ssl_finetune', lowest)}; from scratch "
            f"{cell('scratch', lowest)}.",
            f"At {highest:g} %: from scratch {cell('scratch', highest)}; fine-tuned "
            f"{cell('ssl_finetune', highest)}.",
        ]
    lines.append(
        "Gaps (accuracy points; 95 % interval over the test chips, per-chip differences "
        "averaged over the draws):"
    )
    lines += [f"  {name}: {gap_text(gap)}" for name, gap in gaps(result).items()]
    if result.trained_budget is not None:
        lines.append(result.trained_budget.describe())
    return "\n".join(lines)


def lesson_report(lesson: dict[str, Interval]) -> str:
    """One line per gap of :func:`directions`: its size, interval and verdict, and the goal it
    reaches or not; a direction counts only where its interval excludes zero."""
    lines = []
    for name, gap in lesson.items():
        goal = LESSON_GOALS[name]
        if not gap.beyond_noise:
            verdict = "direction not shown (the interval holds zero)"
        elif gap.estimate < 0:
            verdict = "NOT REPRODUCED (the other direction, beyond noise)"
        elif gap.estimate >= goal:
            verdict = f"reaches the goal of {goal:g}"
        else:
            verdict = f"right direction, below the goal of {goal:g}"
        lines.append(f"{name}: {gap_text(gap)}; {verdict}")
    return "\n".join(lines)
