"""Figures of use case C: labels over images, predictions beside the truth, learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from eotdl_tutorials.display import true_colour
from eotdl_tutorials.facts.sensors import HR_BAND_NAMES
from eotdl_tutorials.labels.scaneo import PALETTE
from eotdl_tutorials.multitask.dataset import LandCoverSet
from eotdl_tutorials.multitask.evaluation import predict
from eotdl_tutorials.multitask.inputs import model_inputs
from eotdl_tutorials.multitask.models import LandCoverNet


def label_colormap(classes: Sequence[str], colors: Sequence[str] | None = None) -> ListedColormap:
    """Index 0 (no label) transparent grey, then one colour per class (SCANEO's order)."""
    colors = list(colors or [PALETTE[i % len(PALETTE)] for i in range(len(classes))])
    return ListedColormap(["#00000000", *colors])


def _legend(figure: Figure, classes: Sequence[str], cmap: ListedColormap) -> None:
    handles = [Patch(color=cmap(i + 1), label=name) for i, name in enumerate(classes)]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(8, len(classes)))


def plot_labels_over_image(
    dn: np.ndarray,
    masks: Mapping[str, np.ndarray],
    classes: Sequence[str],
    colors: Sequence[str] | None = None,
    alpha: float = 0.5,
    bands: Sequence[str] = HR_BAND_NAMES,
) -> Figure:
    """The image (digital numbers of ``bands``, the 1 m tiles' by default), then each mask
    (0 = no label, class ``i`` -> ``i + 1``) over it."""
    cmap = label_colormap(classes, colors)
    figure, axes = plt.subplots(
        1, 1 + len(masks), figsize=(3.2 * (1 + len(masks)), 3.6), layout="constrained"
    )
    rgb = true_colour(dn, bands)
    axes[0].imshow(rgb)
    axes[0].set_title("image", fontsize=9)
    for ax, (title, mask) in zip(axes[1:], masks.items(), strict=True):
        ax.imshow(rgb)
        ax.imshow(mask, cmap=cmap, vmin=0, vmax=len(classes), alpha=alpha, interpolation="nearest")
        ax.set_title(title, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    _legend(figure, classes, cmap)
    return figure


def plot_predictions(
    dataset: LandCoverSet, rows: Sequence[int], models: Mapping[str, LandCoverNet]
) -> Figure:
    """One row per tile: the image, the ground truth and each segmentation model's mask."""
    cmap = label_colormap(dataset.classes)
    rows = list(rows)
    columns = 2 + len(models)
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(2.4 * columns, 2.4 * len(rows) + 0.6), layout="constrained",
        squeeze=False,
    )  # fmt: skip
    masks = {
        name: predict(model, model_inputs(dataset, rows)).masks for name, model in models.items()
    }
    for r, row in enumerate(rows):
        axes[r, 0].imshow(true_colour(dataset.images[row], dataset.bands))
        shown = [("ground truth", dataset.masks[row])] + [(n, m[r]) for n, m in masks.items()]
        for c, (title, mask) in enumerate(shown, start=1):
            axes[r, c].imshow(
                mask, cmap=cmap, vmin=0, vmax=len(dataset.classes), interpolation="nearest"
            )
            if r == 0:
                axes[r, c].set_title(title, fontsize=9)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    _legend(figure, dataset.classes, cmap)
    return figure


def plot_learning_curves(
    curves: Mapping[str, Sequence[Sequence[float]]], title: str = ""
) -> Figure:
    """Mean IoU against labelled tiles per strategy: the mean over seeds and +- one sd."""
    figure, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for name, curve in curves.items():
        labels, mean, sd = (np.array(v, dtype=float) for v in zip(*curve, strict=True))
        style = "--" if name == "random" else "-"
        ax.plot(labels, mean * 100, style, marker="o", label=name)
        ax.fill_between(labels, (mean - sd) * 100, (mean + sd) * 100, alpha=0.15)
    ax.set(xlabel="labelled tiles", ylabel="test mean IoU (%)", title=title or "Active learning")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def plot_tile_choices(dataset: LandCoverSet, choices: Mapping[str, Sequence[int]]) -> Figure:
    """The tiles each strategy chose (one row per strategy), with their land-cover masks inset."""
    cmap = label_colormap(dataset.classes)
    width = max(len(rows) for rows in choices.values())
    figure, axes = plt.subplots(
        len(choices), width, figsize=(1.9 * width, 2.0 * len(choices) + 0.6),
        layout="constrained", squeeze=False,
    )  # fmt: skip
    for r, (name, rows) in enumerate(choices.items()):
        for c in range(width):
            ax = axes[r, c]
            ax.set_axis_off()
            if c >= len(rows):
                continue
            ax.imshow(true_colour(dataset.images[rows[c]], dataset.bands))
            ax.imshow(
                dataset.masks[rows[c]], cmap=cmap, vmin=0, vmax=len(dataset.classes), alpha=0.35,
                interpolation="nearest",
            )  # fmt: skip
            if c == 0:
                ax.set_title(name, fontsize=9, loc="left")
    _legend(figure, dataset.classes, cmap)
    return figure
