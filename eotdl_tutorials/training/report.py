"""The few-label result in words: sentences from the table, the lesson's gaps and their goals."""

from __future__ import annotations

from eotdl_tutorials.training.evaluation import FewLabelResult


def summarize(result: FewLabelResult) -> str:
    """Plain sentences built from the computed table (no figure is written by hand)."""
    mean, sd = result.pivot(), result.pivot("accuracy_sd")
    lowest, highest = min(mean.columns), max(mean.columns)
    count = result.table.set_index(["method", "labels_percent"])["labels"]

    def cell(method: str, percent: float) -> str:
        return f"{mean.loc[method, percent]:.1%} (sd {sd.loc[method, percent]:.1%})"

    def gap(a: str, b: str, percent: float) -> str:
        points = (mean.loc[a, percent] - mean.loc[b, percent]) * 100
        side = "above" if points > 0 else "below" if points < 0 else "level with"
        return f"{abs(points):.1f} points {side}"

    draws = int(result.table["draws"].min())
    lines = [
        f"Held-out test chips: {len(result.test_labels)}; one chip is "
        f"{100 / len(result.test_labels):.2f} accuracy points. Means over {draws} label draws.",
        f"With {count['ssl_probe', lowest]} labels ({lowest:g} % of the training split) the "
        f"self-supervised probe reaches {cell('ssl_probe', lowest)}, "
        f"{gap('ssl_probe', 'random_probe', lowest)} the random-weights probe "
        f"({cell('random_probe', lowest)}).",
        f"Band statistics with all {count['band_statistics', highest]} labels: "
        f"{cell('band_statistics', highest)}; the majority class: "
        f"{mean.loc['majority', highest]:.1%}.",
    ]
    if "scratch" in mean.index:
        lines += [
            f"Fine-tuned at {lowest:g} %: {cell('ssl_finetune', lowest)}, "
            f"{gap('ssl_finetune', 'scratch', lowest)} training from scratch "
            f"({cell('scratch', lowest)}).",
            f"At {highest:g} %: from scratch {cell('scratch', highest)}, "
            f"{gap('scratch', 'band_statistics', highest)} band statistics; "
            f"fine-tuned {cell('ssl_finetune', highest)}.",
        ]
    if result.trained_budget is not None:
        lines.append(result.trained_budget.describe())
    return "\n".join(lines)


#: The size (points) each gap of :func:`directions` should have for the course's lesson to hold
#: as it holds on real imagery (EOTDL's EuroSAT gaps at 1 % are 47 and 65 points).
LESSON_GOALS = {
    "ssl_probe_over_random_probe_at_low": 10.0,
    "scratch_over_band_statistics_at_full": 15.0,
    "ssl_finetune_over_scratch_at_low": 10.0,
}


def lesson_report(gaps: dict[str, float]) -> str:
    """One line per gap of :func:`directions`: its size, its sign and the goal it reaches or not."""
    lines = []
    for name, points in gaps.items():
        goal = LESSON_GOALS[name]
        verdict = (
            f"reaches the goal of {goal:g}"
            if points >= goal
            else f"right direction, below the goal of {goal:g}"
            if points > 0
            else "NOT REPRODUCED (wrong direction)"
        )
        lines.append(f"{name}: {points:+.1f} points, {verdict}")
    return "\n".join(lines)


def directions(result: FewLabelResult) -> dict[str, float]:
    """The three gaps (points) the course's lesson rests on: scratch over band statistics at
    100 %, fine-tuned over scratch and the self-supervised probe over random weights at 1 %."""
    mean = result.pivot() * 100
    lowest, highest = min(mean.columns), max(mean.columns)
    gaps = {
        "ssl_probe_over_random_probe_at_low": mean.loc["ssl_probe", lowest]
        - mean.loc["random_probe", lowest]
    }
    if "scratch" in mean.index:
        gaps["scratch_over_band_statistics_at_full"] = (
            mean.loc["scratch", highest] - mean.loc["band_statistics", highest]
        )
        gaps["ssl_finetune_over_scratch_at_low"] = (
            mean.loc["ssl_finetune", lowest] - mean.loc["scratch", lowest]
        )
    return {k: float(v) for k, v in gaps.items()}
