"""Figures of the training notebooks: loss curves, augmented views, accuracy vs labels and 2-D
projections of embeddings. Each function draws a pyplot figure (shown inline in a notebook) and
returns it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from eotdl_tutorials.data import ChipAugment, ChipDataset, ChipStore
from eotdl_tutorials.display import REFLECTANCE_GAIN, s1_composite, true_colour
from eotdl_tutorials.training.eurosat import EOTDL_EUROSAT
from eotdl_tutorials.training.evaluation import METHOD_TITLES


def read_metrics(run_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The metrics of a run folder (``metrics.csv`` and those of resumed parts, by step),
    or of one CSV file, as a DataFrame."""
    path = Path(run_dir)
    files = [path / "metrics.csv", *sorted(path.glob("resumed-*/metrics.csv"))]
    files = [f for f in files if f.is_file()] if path.is_dir() else [path] * path.is_file()
    if not files:
        raise FileNotFoundError(f"no metrics at {path}: has the run logged a step yet?")
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def plot_metrics(
    run_dir: str | os.PathLike[str], keys: Sequence[str] | None = None, title: str = ""
) -> Figure:
    """One panel per metric against the step (default: the ``*loss*`` and ``*acc*`` columns,
    per-step rather than per-epoch values when both exist)."""
    metrics = read_metrics(run_dir)
    if keys is None:
        keys = [
            c for c in metrics.columns if ("loss" in c or "acc" in c) and metrics[c].notna().any()
        ]
        keys = [k for k in keys if not (k.endswith("_epoch") and k[:-6] + "_step" in keys)]
    keys = list(keys)
    missing = [key for key in keys if key not in metrics]
    if missing or not keys:
        raise ValueError(f"no metric {missing or keys} in the run; it has {list(metrics.columns)}")
    figure, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        values = metrics[["step", key]].dropna()
        ax.plot(values["step"], values[key], marker="." if len(values) < 30 else None)
        ax.set(xlabel="step", title=key)
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def plot_accuracy_vs_ratio(table: pd.DataFrame, title: str = "", reference: bool = True) -> Figure:
    """Mean test accuracy against the labelled share (log scale), one line per method, with the
    spread over label draws (one standard deviation) as error bars; EOTDL's EuroSAT figures
    (``EOTDL_EUROSAT``) as hollow markers of the same colour when ``reference``."""
    figure, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    for method, rows in table.groupby("method", sort=False):
        line = ax.errorbar(
            rows["labels_percent"],
            rows["accuracy_mean"] * 100,
            yerr=rows["accuracy_sd"] * 100,
            fmt=":o" if method == "majority" else "-o",
            capsize=3,
            label=METHOD_TITLES.get(method, method),
        )
        if reference:
            points = [(p, v) for (m, p), v in EOTDL_EUROSAT.items() if m == method]
            if points:
                x, y = zip(*points, strict=True)
                ax.plot(x, y, "s", mfc="none", ms=9, color=line.lines[0].get_color())
    ax.set(
        xscale="log",
        xlabel="labelled share of the training split (%)",
        ylabel="test accuracy (%)",
        title=title or "Accuracy vs labels (bars: sd over label draws)",
    )
    if reference:
        ax.plot([], [], "s", mfc="none", color="grey", label="EOTDL on EuroSAT (reference)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return figure


def plot_embeddings_2d(
    embeddings: np.ndarray,
    labels: np.ndarray,
    classes: tuple[str, ...] = (),
    method: str = "pca",
    title: str = "",
    random_seed: int = 0,
) -> Figure:
    """Embeddings projected to 2-D (``"pca"`` or ``"tsne"``), one colour per class."""
    if method == "pca":
        points = PCA(n_components=2, random_state=random_seed).fit_transform(embeddings)
    elif method == "tsne":
        perplexity = min(30.0, max(2.0, (len(embeddings) - 1) / 3))
        points = TSNE(2, perplexity=perplexity, random_state=random_seed).fit_transform(embeddings)
    else:
        raise ValueError(f"unknown projection {method!r}: use 'pca' or 'tsne'")
    figure, ax = plt.subplots(figsize=(5, 4.2), layout="constrained")
    for code in np.unique(labels):
        name = classes[code] if code < len(classes) else str(code)
        ax.scatter(*points[labels == code].T, s=10, label=name)
    ax.set(title=title or f"{method.upper()} of embeddings", xticks=[], yticks=[])
    ax.legend(fontsize=8, markerscale=2)
    return figure


def _display(images: torch.Tensor, sensor: str, store: ChipStore) -> np.ndarray:
    """(B, H, W, 3) in [0, 1]: true colour for optical sensors, the false colour for SAR."""
    bands = store.sensor(sensor).bands
    values = images.numpy()
    if sensor == "s1":
        return s1_composite(values[:, bands.index("vv")], values[:, bands.index("vh")])
    return true_colour(values, bands, REFLECTANCE_GAIN)


def plot_views(
    store: str | os.PathLike[str], sensor: str, count: int = 4, random_seed: int = 0
) -> Figure:
    """``count`` training chips (first column) and two Barlow Twins views of each."""
    chips = ChipStore(store)
    rows = chips.split_indices("train")[:count]
    images = ChipDataset(chips, sensor, rows, with_labels=False).read(np.arange(len(rows)))["image"]
    augment = ChipAugment(sensor, size=images.shape[-1])
    with torch.random.fork_rng():
        torch.manual_seed(random_seed)
        columns = [images, augment(images), augment(images)]
    figure, axes = plt.subplots(len(rows), 3, figsize=(6, 2 * len(rows)), squeeze=False)
    for col, (title, batch) in enumerate(zip(("chip", "view 1", "view 2"), columns, strict=True)):
        for row, picture in enumerate(_display(batch, sensor, chips)):
            axes[row, col].imshow(picture)
            axes[row, col].set(xticks=[], yticks=[], title=title if row == 0 else "")
    return figure
