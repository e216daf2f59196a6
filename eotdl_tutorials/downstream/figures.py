"""Figures of the downstream checks."""

from __future__ import annotations

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from eotdl_tutorials.display import stretch
from eotdl_tutorials.downstream.roads import FineRoads


def plot_downstream_inputs(fine: FineRoads, row: int) -> Figure:
    """Chip ``row`` of ``fine``: each input (RGB, each stretched to its own 2-98 % range) and the
    road labels, all on the fine grid."""
    panels = len(fine.images) + 1
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.5))
    for ax, (name, images) in zip(axes, fine.images.items(), strict=False):
        ax.imshow(stretch(images[row]), interpolation="nearest")
        ax.set_title(name, fontsize=9)
    axes[-1].imshow(fine.labels[row], cmap="gray", interpolation="nearest")
    axes[-1].set_title(f"labels ({10 / fine.factor:g} m)", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{fine.index['id'].iloc[row]}: one grid, one set of labels", fontsize=10)
    fig.tight_layout()
    return fig
