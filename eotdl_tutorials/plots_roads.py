"""Figures of use case D: label transfers, predictions beside the truth, road graphs, a map."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import geopandas as gpd
import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import rasterio
from matplotlib.figure import Figure

from eotdl_tutorials.plots import stretch
from eotdl_tutorials.roads import RoadDataset, road_graph

TRANSFER_TITLES = {
    "nearest": "nearest (EOTDL's resize)",
    "area_fraction": "area fraction >= threshold",
    "vector_width": "vectors + width, all touched",
}


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
    rgb = dataset.images[row][dataset.band_positions(("red", "green", "blue"))]
    transfers = [t for t in TRANSFER_TITLES if t in dataset.labels]
    rows_, cols_ = _busiest_window(dataset.fraction[row] > 0, zoom_px)
    with rasterio.open(info["mask"]) as src:
        mask_1m = src.read(1) > 0
    scale = mask_1m.shape[0] / dataset.fraction.shape[-2]
    zoom_1m = mask_1m[
        int(rows_.start * scale) : int(rows_.stop * scale),
        int(cols_.start * scale) : int(cols_.stop * scale),
    ]
    panels = [("Sentinel-2 (10 m, RGB)", stretch(rgb)), ("road fraction", dataset.fraction[row])]
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
) -> Figure:
    """A test chip: RGB, the truth and each method's road mask (true positives white, false
    positives red, missed roads blue)."""
    fig, axes = plt.subplots(1, 2 + len(predictions), figsize=(3.1 * (2 + len(predictions)), 3.4))
    axes[0].imshow(stretch(rgb))
    axes[0].set_title("Sentinel-2 (RGB)", fontsize=9)
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
    """A whole scene, its road probability and the vectorised centre lines over it."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    left, right, bottom, top = extent
    axes[0].imshow(stretch(scene_rgb), extent=(left, right, bottom, top))
    image = axes[1].imshow(
        np.ma.masked_invalid(probability), cmap="magma", vmin=0, vmax=1,
        extent=(left, right, bottom, top),
    )  # fmt: skip
    axes[1].set_title("road probability", fontsize=10)
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


def leaflet_roads(scene_bounds: gpd.GeoDataFrame, roads: str | os.PathLike[str]):  # noqa: ANN201
    """An interactive map (leafmap) of the scene's outline and the predicted road lines."""
    import leafmap

    centre = scene_bounds.to_crs(4326).geometry.union_all().centroid
    m = leafmap.Map(center=(centre.y, centre.x), zoom=13)
    m.add_gdf(scene_bounds.to_crs(4326), layer_name="scene")
    m.add_gdf(gpd.read_file(roads), layer_name="predicted roads")
    return m
