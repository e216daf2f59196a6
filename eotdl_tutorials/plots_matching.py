"""Figures of use case A1: matched footprints and scenes, time gaps, and the chips side by side."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from eotdl_tutorials.data import ChipStore
from eotdl_tutorials.facts.grids import zone_name
from eotdl_tutorials.matching import MatchResult
from eotdl_tutorials.plots import stretch

SENSOR_TITLES = {"hr": "1 m tile", "s2": "Sentinel-2", "s1": "Sentinel-1"}


def plot_matches_map(matches: MatchResult) -> Figure:
    """Per UTM zone: the best-matched scenes (outlines) and the footprints, green when every
    collection matched, red when one did not."""
    best = matches.best
    sensors = [c.removesuffix("_item") for c in best.columns if c.endswith("_item")]
    matched = np.logical_and.reduce([best[f"{s}_item"].notna().to_numpy() for s in sensors])
    zones = sorted(best["grid_epsg"].unique())
    fig, axes = plt.subplots(1, len(zones), figsize=(5 * len(zones), 5), squeeze=False)
    styles = {"s2": ("tab:blue", "--"), "s1": ("tab:orange", ":")}
    for ax, epsg in zip(axes[0], zones, strict=True):
        here = best[best["grid_epsg"] == epsg].to_crs(int(epsg))
        for sensor in sensors:
            ids = set(here[f"{sensor}_item"].dropna().astype(str))
            scenes = matches.scenes[matches.scenes["id"].isin(ids)].drop_duplicates("geometry")
            colour, style = styles.get(sensor, ("grey", "-"))
            if len(scenes):
                scenes.to_crs(int(epsg)).boundary.plot(ax=ax, color=colour, linestyle=style)
        ok = matched[(best["grid_epsg"] == epsg).to_numpy()]
        for subset, colour in ((here[ok], "tab:green"), (here[~ok], "tab:red")):
            if len(subset):
                subset.plot(ax=ax, color=colour, alpha=0.8)
        xmin, ymin, xmax, ymax = here.total_bounds
        pad = max(xmax - xmin, ymax - ymin) * 0.3 + 500
        ax.set_xlim(xmin - pad, xmax + pad)
        ax.set_ylim(ymin - pad, ymax + pad)
        ax.set_title(f"UTM {zone_name(int(epsg))}: {len(here)} footprints")
        ax.set_xlabel("easting (m)")
        ax.set_ylabel("northing (m)")
    handles = [
        Patch(color="tab:green", label="footprint, all sensors matched"),
        Patch(color="tab:red", label="footprint, a sensor unmatched"),
        *(Patch(edgecolor=styles.get(s, ("grey", "-"))[0], facecolor="none",
                linestyle=styles.get(s, ("grey", "-"))[1], label=f"{SENSOR_TITLES[s]} scene")
          for s in sensors),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def leaflet_matches(matches: MatchResult):  # noqa: ANN201 - a leafmap.Map, imported lazily
    """An interactive map of the footprints and their best-matched scenes (leafmap)."""
    import leafmap

    best = matches.best
    centre = best.geometry.union_all().centroid
    m = leafmap.Map(center=(centre.y, centre.x), zoom=4)
    for column, name in (("s2_item", "Sentinel-2 scenes"), ("s1_item", "Sentinel-1 scenes")):
        if column in best:
            ids = set(best[column].dropna().astype(str))
            scenes = matches.scenes[matches.scenes["id"].isin(ids)]
            m.add_gdf(scenes[["id", "geometry"]], layer_name=name)
    m.add_gdf(best[["id", "geometry"]].astype({"id": str}), layer_name="footprints")
    return m


def plot_match_histograms(matches: MatchResult) -> Figure:
    """Time gaps (scene minus footprint, days) of every candidate and of the best match, per
    collection, and the cloud cover of the Sentinel-2 candidates."""
    cands = matches.candidates
    collections = list(cands["collection"].cat.categories) if len(cands) else []
    fig, axes = plt.subplots(1, len(collections) + 1, figsize=(4.5 * (len(collections) + 1), 3.6))
    axes = np.atleast_1d(axes)
    for ax, collection in zip(axes, collections, strict=False):
        mine = cands[cands["collection"] == collection]
        ax.hist(mine["dt_days"], bins=30, color="lightgrey", label="all candidates")
        ax.hist(mine.loc[mine["rank"] == 0, "dt_days"], bins=30, color="tab:blue", label="best")
        ax.set_title(collection)
        ax.set_xlabel("scene - footprint (days)")
        ax.legend()
    s2 = cands[cands["collection"] == "sentinel-2-l2a"]
    ax = axes[-1]
    ax.hist(s2["cloud_cover"].dropna(), bins=20, color="lightgrey", label="all candidates")
    ax.hist(
        s2.loc[s2["rank"] == 0, "cloud_cover"].dropna(), bins=20, color="tab:blue", label="best"
    )
    ax.set_title("Sentinel-2 eo:cloud_cover")
    ax.set_xlabel("cloud cover (%)")
    ax.legend()
    fig.tight_layout()
    return fig


def chip_rgb(store: ChipStore, sensor: str, i: int) -> np.ndarray:
    """Chip ``i`` of ``sensor`` as a displayable (H, W, 3) image: true colour, or VV, VH, VV-VH
    for radar."""
    values = store.to_physical(sensor, store.array(sensor)[i])
    bands = store.sensor(sensor).bands
    if sensor == "s1":
        vv, vh = values[bands.index("vv")], values[bands.index("vh")]
        return np.dstack([np.clip((vv + 25) / 25, 0, 1), np.clip((vh + 32) / 25, 0, 1),
                          np.clip((vv - vh) / 15, 0, 1)])  # fmt: skip
    return stretch(np.stack([values[bands.index(b)] for b in ("red", "green", "blue")]))


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
