"""Figures of use case B: what the pairs carry, side-by-side crops, errors, whole scenes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from eotdl_tutorials.display import REFLECTANCE_GAIN, true_colour
from eotdl_tutorials.superres.pairs import PairSet


def plot_pair_realism(pairs: PairSet, measured: pd.DataFrame) -> Figure:
    """Time gaps, calibration gains and the geolocation offsets (drawn and measured)."""
    table = pairs.table
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    axes[0].hist(table["time_gap_days"], bins=15, color="tab:blue")
    axes[0].set(xlabel="S2 date - 1 m date (days)", ylabel="pairs", title="time gap")
    for band in pairs.bands:
        axes[1].hist(table[f"gain_{band}"], bins=15, histtype="step", label=band)
    axes[1].set(xlabel="gain of the 1 m sensor vs Sentinel-2", title="calibration")
    axes[1].legend()
    axes[2].scatter(table["offset_x_m"], table["offset_y_m"], s=12, label="drawn")
    axes[2].scatter(measured["measured_x_m"], measured["measured_y_m"], s=12, marker="x",
                    label="measured (phase correlation)")  # fmt: skip
    axes[2].add_patch(plt.Circle((0, 0), 10, fill=False, ls="--", color="grey"))
    axes[2].set(xlabel="east (m)", ylabel="north (m)", title="geolocation offset (circle: 1 px)",
                aspect="equal")  # fmt: skip
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_pair_examples(plain: PairSet, matched: PairSet, rows: list[int]) -> Figure:
    """Input, target and histogram-matched target of a few pairs."""
    fig, axes = plt.subplots(len(rows), 3, figsize=(9, 3 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        for c, (image, title) in enumerate(
            [(plain.lr[row], "Sentinel-2 10 m (input)"),
             (plain.hr[row], f"1 m tile at {plain.target_gsd:g} m (target)"),
             (matched.hr[row], "target, histogram-matched")]
        ):  # fmt: skip
            axes[r, c].imshow(
                true_colour(image, plain.bands, REFLECTANCE_GAIN), interpolation="nearest"
            )
            axes[r, c].set_title(title if r == 0 else "", fontsize=9)
            axes[r, c].axis("off")
        gap = plain.table["time_gap_days"].iloc[row]
        axes[r, 0].text(1, 3, f"{gap:+.0f} days", color="white", fontsize=9)
    fig.tight_layout()
    return fig


def plot_crops(
    outputs: dict[str, np.ndarray],
    pairs: PairSet,
    row: int,
    zoom: tuple[int, int, int] = (8, 8, 24),
) -> Figure:
    """Input, each model's output and the target of pair ``row``, whole and zoomed
    (``zoom``: top, left, size in target pixels)."""
    images = {"input (10 m)": pairs.lr[row]} | outputs | {"target": pairs.hr[row]}
    top, left, size = zoom
    fig, axes = plt.subplots(2, len(images), figsize=(2.6 * len(images), 5.4))
    for c, (name, image) in enumerate(images.items()):
        scale = 1 if image.shape[-1] == pairs.hr.shape[-1] else pairs.factor
        view = true_colour(image, pairs.bands, REFLECTANCE_GAIN)
        axes[0, c].imshow(view, interpolation="nearest")
        axes[0, c].add_patch(Rectangle((left / scale - 0.5, top / scale - 0.5), size / scale,
                                       size / scale, fill=False, color="yellow"))  # fmt: skip
        axes[0, c].set_title(name, fontsize=9)
        t, l_, s = top // scale, left // scale, size // scale
        axes[1, c].imshow(view[t : t + s, l_ : l_ + s], interpolation="nearest")
        for ax in axes[:, c]:
            ax.axis("off")
    fig.tight_layout()
    return fig


def plot_error_vs_time_gap(per_pair: pd.DataFrame, metric: str = "psnr") -> Figure:
    """Each test pair's ``metric`` against its time gap, one colour per model."""
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, group in per_pair.groupby("model", sort=False):
        ax.scatter(group["time_gap_days"].abs(), group[metric], s=14, label=name)
    ax.set(xlabel="|time gap| (days)", ylabel=metric, title=f"{metric} against the time gap")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_scene(scene: xr.DataArray, result: xr.DataArray, bands: tuple[str, ...]) -> Figure:
    """A scene and its super-resolved version on map coordinates (labelled, CRS-aware arrays)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), sharex=True, sharey=True)
    for ax, array, title in (
        (axes[0], scene, "Sentinel-2, 10 m"),
        (axes[1], result, "super-resolved"),
    ):
        x, y = array["x"].values, array["y"].values
        step_x, step_y = abs(x[1] - x[0]), abs(y[1] - y[0])
        extent = (x.min() - step_x / 2, x.max() + step_x / 2, y.min() - step_y / 2,
                  y.max() + step_y / 2)  # fmt: skip
        ax.imshow(
            true_colour(array.values, bands, REFLECTANCE_GAIN),
            extent=extent,
            interpolation="nearest",
        )
        ax.set(title=f"{title} ({step_x:g} m pixels)", xlabel=f"x ({array.rio.crs})", ylabel="y")
    fig.tight_layout()
    return fig


def plot_regime_gains(table: pd.DataFrame, metric: str = "PSNR (dB)", ax=None):
    """The gains of :func:`gains_table` over bicubic, one bar per regime and model, with their
    95 % intervals as error bars; zero is bicubic."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    regimes = list(dict.fromkeys(table.index.get_level_values("regime")))
    models = list(dict.fromkeys(table.index.get_level_values("model")))
    width = 0.8 / len(models)
    for k, model in enumerate(models):
        rows = table.xs(model, level="model").reindex(regimes)
        x = np.arange(len(regimes)) + (k - (len(models) - 1) / 2) * width
        error = np.stack([rows["gain"] - rows["low"], rows["high"] - rows["gain"]])
        ax.bar(x, rows["gain"], width, yerr=error, capsize=3, label=model)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(regimes)), regimes)
    ax.set_ylabel(f"gain over bicubic, {metric}")
    ax.set_title("gain over bicubic on held-out places (95 % interval)")
    ax.legend()
    return ax
