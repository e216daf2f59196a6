"""Figures of use case D: the aerial images, label transfers, predictions beside the truth, road
graphs, a whole-scene prediction as a figure and on a map."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import rasterio
import shapely
from matplotlib.figure import Figure

from eotdl_tutorials.display import (
    image_overlay,
    stretch,
    true_colour,
    true_colour_overlay,
    warp_to_web_mercator,
)
from eotdl_tutorials.models.bands import L2A_12
from eotdl_tutorials.roads import AerialRoads, RoadDataset, is_road, road_graph

PROBABILITY_CMAP = "magma"
ROAD_KIND_COLOURS = {"primary": "red", "secondary": "orange", "residential": "yellow"}
TRANSFER_TITLES = {
    "nearest": "nearest (EOTDL's resize)",
    "area_fraction": "area fraction >= threshold",
    "vector_width": "vectors + width, all touched",
}


def plot_aerial_image(aerial: AerialRoads, row: int = 0) -> Figure:
    """One image of the aerial road dataset: the 1 m image with the road centre lines (coloured
    by kind) where the folder has them, and its label (white: road) as it lies in the
    ``*_labels`` folder."""
    info = aerial.index.iloc[row]
    with rasterio.open(info["image"]) as src:
        rgb, bounds, crs = src.read(), src.bounds, src.crs
    with rasterio.open(info["label"]) as src:
        label = src.read(1)
    extent = (bounds.left, bounds.right, bounds.bottom, bounds.top)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2))
    axes[0].imshow(np.moveaxis(rgb, 0, -1), extent=extent)
    title = f"{Path(info['image']).name} (1 m)"
    if aerial.roads is not None:
        roads = aerial.read_roads().to_crs(crs).clip(shapely.box(*bounds))
        for kind, lines in roads.groupby("kind"):
            colour = ROAD_KIND_COLOURS.get(kind, "cyan")
            lines.plot(ax=axes[0], linewidth=0.8, color=colour, label=kind)
        axes[0].legend(fontsize=8, loc="lower right")
        title += " and the road vectors"
    axes[0].set_title(title, fontsize=10)
    axes[1].imshow(label, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="nearest")
    axes[1].set_title(f"{Path(info['label']).name}: 0 / 255, road {np.mean(is_road(label)):.1%}",
                      fontsize=10)  # fmt: skip
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes:
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.suptitle(f"{info['id']} ({info['region']}, {info['split']} split)", fontsize=10)
    fig.tight_layout()
    return fig


def _busiest_window(labels: np.ndarray, size: int) -> tuple[slice, slice]:
    """The ``size`` px window with the most road pixels (junctions and thin roads meet there)."""
    height, width = labels.shape
    size = min(size, height, width)
    cumsum = labels.astype(np.int64).cumsum(0).cumsum(1)
    padded = np.pad(cumsum, ((1, 0), (1, 0)))
    sums = (
        padded[size:, size:]
        - padded[:-size, size:]
        - padded[size:, :-size]
        + padded[:-size, :-size]
    )
    r, c = np.unravel_index(np.argmax(sums), sums.shape)
    return slice(r, r + size), slice(c, c + size)


def plot_label_transfers(dataset: RoadDataset, row: int = 0, zoom_px: int = 40) -> Figure:
    """One road image: the 1 m image and mask, the Sentinel-2 chip and road fraction, and each
    label transfer on the 10 m grid, zoomed on the window with the most roads (top: whole chip,
    bottom: the zoom with the 1 m mask's outline over it)."""
    info = dataset.index.iloc[row]
    transfers = [t for t in TRANSFER_TITLES if t in dataset.labels]
    rows_, cols_ = _busiest_window(dataset.fraction[row] > 0, zoom_px)
    with rasterio.open(info["mask"]) as src:
        mask_1m = is_road(src.read(1))
    scale = mask_1m.shape[0] / dataset.fraction.shape[-2]
    zoom_1m = mask_1m[
        int(rows_.start * scale) : int(rows_.stop * scale),
        int(cols_.start * scale) : int(cols_.stop * scale),
    ]
    panels = [
        ("Sentinel-2 (10 m, RGB)", true_colour(dataset.images[row], dataset.bands)),
        ("road fraction", dataset.fraction[row]),
    ]
    panels += [(TRANSFER_TITLES[t], dataset.labels[t][row]) for t in transfers]
    fig, axes = plt.subplots(2, len(panels), figsize=(3.1 * len(panels), 6.4))
    for col, (title, image) in enumerate(panels):
        cmap = None if image.ndim == 3 else ("magma" if title == "road fraction" else "gray")
        axes[0, col].imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        axes[0, col].add_patch(
            plt.Rectangle(
                (cols_.start - 0.5, rows_.start - 0.5),
                cols_.stop - cols_.start,
                rows_.stop - rows_.start,
                fill=False,
                edgecolor="cyan",
            )
        )
        axes[0, col].set_title(title, fontsize=9)
        zoom = image[rows_, cols_] if image.ndim == 2 else image[rows_, cols_, :]
        extent = (0, zoom.shape[1], zoom.shape[0], 0)
        axes[1, col].imshow(zoom, cmap=cmap, vmin=0, vmax=1, interpolation="nearest", extent=extent)
        axes[1, col].contour(
            np.linspace(0, zoom.shape[1], zoom_1m.shape[1]),
            np.linspace(0, zoom.shape[0], zoom_1m.shape[0]),
            zoom_1m,
            levels=[0.5],
            colors="cyan",
            linewidths=0.5,
        )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].set_ylabel("zoom (cyan: 1 m road outline)")
    fig.suptitle(f"{info['id']} ({info['region']}, {info['split']}): {info['item']}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_predictions(
    rgb: np.ndarray,
    truth: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    title: str = "",
    image_title: str = "Sentinel-2 (RGB)",
) -> Figure:
    """A test chip: RGB (``image_title``), the truth and each method's road mask (true positives
    white, false positives red, missed roads blue)."""
    fig, axes = plt.subplots(1, 2 + len(predictions), figsize=(3.1 * (2 + len(predictions)), 3.4))
    axes[0].imshow(stretch(rgb))
    axes[0].set_title(image_title, fontsize=9)
    axes[1].imshow(truth, cmap="gray", interpolation="nearest")
    axes[1].set_title("truth", fontsize=9)
    for ax, (name, pred) in zip(axes[2:], predictions.items(), strict=True):
        overlay = np.zeros((*truth.shape, 3), np.float32)
        overlay[pred & truth] = (1, 1, 1)
        overlay[pred & ~truth] = (0.9, 0.2, 0.2)
        overlay[~pred & truth] = (0.2, 0.4, 1.0)
        ax.imshow(overlay, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _draw_graph(ax: plt.Axes, mask: np.ndarray, title: str) -> None:
    graph = road_graph(mask)
    ax.imshow(mask, cmap="gray", alpha=0.35, interpolation="nearest")
    for _, _, data in graph.edges(data=True):
        path = np.asarray(data["path"])
        ax.plot(path[:, 1], path[:, 0], color="tab:orange", linewidth=1)
    if graph.number_of_nodes():
        coords = np.array([graph.nodes[n]["coordinates"] for n in graph.nodes])
        degree = np.array([graph.degree(n) for n in graph.nodes])
        ax.scatter(coords[:, 1], coords[:, 0], s=8, c=np.where(degree > 2, "red", "black"))
    parts = nx.number_connected_components(graph) if graph.number_of_nodes() else 0
    ax.set_title(f"{title}\n{graph.number_of_nodes()} nodes, {parts} connected parts", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_road_graphs(masks: Mapping[str, np.ndarray]) -> Figure:
    """The road graph of each mask: skeleton branches (orange), junctions (red), ends (black)."""
    fig, axes = plt.subplots(1, len(masks), figsize=(3.6 * len(masks), 3.9), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items(), strict=True):
        _draw_graph(ax, mask, name)
    fig.tight_layout()
    return fig


def plot_scene_prediction(
    scene_rgb: np.ndarray,
    probability: np.ndarray,
    lines: gpd.GeoDataFrame,
    extent: Sequence[float],
    crs: object,
) -> Figure:
    """The layers of :func:`leaflet_roads` as a static figure: the scene with the vectorised
    centre lines, and the road probability over the dimmed scene."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    left, right, bottom, top = extent
    rgb = stretch(scene_rgb)
    axes[0].imshow(rgb, extent=(left, right, bottom, top))
    axes[1].imshow(rgb * 0.5, extent=(left, right, bottom, top))
    image = axes[1].imshow(
        np.ma.masked_invalid(probability), cmap=PROBABILITY_CMAP, vmin=0, vmax=1, alpha=0.8,
        extent=(left, right, bottom, top),
    )  # fmt: skip
    axes[1].set_title("road probability over the scene", fontsize=10)
    if len(lines):
        lines.to_crs(crs).plot(ax=axes[0], color="red", linewidth=1.0)
    axes[0].set_title(
        f"Sentinel-2 scene (RGB) and {len(lines)} predicted centre lines", fontsize=10
    )
    fig.colorbar(image, ax=axes[1], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
    fig.tight_layout()
    return fig


def leaflet_roads(  # noqa: ANN201 - a leafmap.Map, imported lazily
    scene: str | os.PathLike[str],
    probability: str | os.PathLike[str],
    roads: str | os.PathLike[str],
    scene_bands: Sequence[str] = L2A_12,
):
    """An interactive map (leafmap) of a whole-scene prediction: the scene (RGB), the road
    probability GeoTIFF written by ``roads predict`` and the vectorised road lines
    (``scene_bands``: the scene's bands, Sentinel-2 L2A's twelve by default).

    The two rasters are drawn as image overlays (warped to Web Mercator, PNG in the page) rather
    than with ``leafmap``'s ``add_raster``: that one needs ``localtileserver``, a tile server
    running beside the kernel, which the course does not install and which a built (static)
    book could not reach; an overlay works offline and in the book alike.
    """
    import leafmap

    scene_layer = true_colour_overlay(scene, scene_bands, "Sentinel-2 scene (RGB)")
    values, prob_corners = warp_to_web_mercator(probability, [1])
    colours = plt.get_cmap(PROBABILITY_CMAP)(np.nan_to_num(values[0]))
    # Faint where roads are unlikely (the scene shows through), opaque where they are likely.
    colours[..., 3] = np.where(np.isfinite(values[0]), 0.3 + 0.6 * np.nan_to_num(values[0]), 0)
    (south, west), (north, east) = scene_layer.bounds
    m = leafmap.Map(center=((south + north) / 2, (west + east) / 2), zoom=14)
    m.add_layer(scene_layer)
    m.add_layer(image_overlay(colours, prob_corners, "road probability"))
    m.add_gdf(
        gpd.read_file(roads), layer_name="predicted roads", style={"color": "#00ffff", "weight": 2}
    )
    return m
