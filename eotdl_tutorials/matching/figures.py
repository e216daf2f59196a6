"""Figures of the matching: matched footprints and scenes on maps, time gaps and cloud cover."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from eotdl_tutorials.facts.grids import zone_name
from eotdl_tutorials.matching import MatchResult

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
