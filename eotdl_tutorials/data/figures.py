"""Figures of a chip store: every sensor's chip of a footprint side by side, with a browser."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from eotdl_tutorials.data.store import ChipStore
from eotdl_tutorials.display import s1_composite, true_colour
from eotdl_tutorials.matching.figures import SENSOR_TITLES


def chip_rgb(store: ChipStore, sensor: str, i: int) -> np.ndarray:
    """Chip ``i`` of ``sensor`` as a displayable (H, W, 3) image: true colour, or VV, VH, VV-VH
    for radar."""
    values = store.to_physical(sensor, store.array(sensor)[i])
    bands = store.sensor(sensor).bands
    if sensor == "s1":
        return s1_composite(values[bands.index("vv")], values[bands.index("vh")])
    return true_colour(values, bands)


def _title(store: ChipStore, sensor: str, i: int) -> str:
    row = store.index.iloc[i]
    when = row["datetime"] if sensor == "hr" else row[f"{sensor}_datetime"]
    return f"{SENSOR_TITLES.get(sensor, sensor)}\n{when:%Y-%m-%d}"


def plot_chip_row(store: ChipStore, i: int, axes: np.ndarray | None = None) -> Figure:
    """Footprint ``i``: its chip of every sensor side by side, with the acquisition dates."""
    sensors = list(store.sensors)
    if axes is None:
        fig, axes = plt.subplots(1, len(sensors), figsize=(3.2 * len(sensors), 3.4))
    fig = np.atleast_1d(axes)[0].figure
    for ax, sensor in zip(np.atleast_1d(axes), sensors, strict=True):
        ax.imshow(chip_rgb(store, sensor, i))
        ax.set_title(_title(store, sensor, i), fontsize=9)
        ax.set_axis_off()
    return fig


def plot_chip_gallery(store: ChipStore, count: int = 4) -> Figure:
    """The first ``count`` footprints of a chip store, one row each."""
    count = min(count, store.count)
    sensors = list(store.sensors)
    fig, axes = plt.subplots(
        count, len(sensors), figsize=(3.2 * len(sensors), 3.3 * count), squeeze=False
    )
    for i in range(count):
        plot_chip_row(store, i, axes[i])
    fig.tight_layout()
    return fig


def chip_browser(store: ChipStore):  # noqa: ANN201 - an ipywidgets.VBox, imported lazily
    """A slider over the footprints of a chip store, showing their chips and dates."""
    import ipywidgets as widgets
    from IPython.display import display

    slider = widgets.IntSlider(value=0, min=0, max=max(store.count - 1, 0), description="footprint")
    out = widgets.Output()

    def show(change: dict | None = None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = plot_chip_row(store, slider.value)
            display(fig)
            plt.close(fig)

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])
