"""Figures and their display helpers: what the shared helpers draw (stretch, band order, the
Sentinel-1 false colour, the web-map overlay's warp and bounds), that importing a stage never
imports matplotlib (figures live in ``<stage>/figures.py``, re-exported by no stage), and what
key figures draw (the data of their images and lines, their legends, titles that carry numbers).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from matplotlib.image import imread
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from eotdl_tutorials.data import ChipStore, write_synthetic_store
from eotdl_tutorials.data.figures import chip_rgb
from eotdl_tutorials.display import (
    s1_composite,
    stretch,
    true_colour,
    true_colour_overlay,
    warp_to_web_mercator,
)

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    "world", "stac", "matching", "tiling", "data", "models", "training", "superres", "labels",
    "multitask", "roads", "serving",
)  # fmt: skip


#: Run in a fresh interpreter: the module that first imports matplotlib (None if none does) and
#: the figure modules that load.
PROBE = """
import builtins, json, sys
first = []
_import = builtins.__import__
def spy(name, globals=None, *args, **kwargs):
    if name.split(".")[0] == "matplotlib" and "matplotlib" not in sys.modules and not first:
        first.append((globals or {}).get("__name__", "?"))
    return _import(name, globals, *args, **kwargs)
builtins.__import__ = spy
import eotdl_tutorials.%s
ours = [m for m in sys.modules if m == "eotdl_tutorials.display" or m.endswith(".figures")]
print(json.dumps([first[0] if first else None, sorted(ours), sorted(sys.modules)]))
"""
#: Third-party modules that import matplotlib themselves: torchmetrics (under Lightning) imports
#: pyplot whenever matplotlib is installed (torchmetrics/utilities/plot.py).
THIRD_PARTY_IMPORTERS = {None, "torchmetrics.utilities.plot"}


@pytest.mark.parametrize("stage", STAGES)
def test_importing_a_stage_imports_no_figures(stage):
    """No module of the package imports matplotlib when a stage is imported, and no figures
    module loads (a stage whose dependencies bring in torchmetrics still gets matplotlib)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE % stage],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    importer, figures, _ = json.loads(result.stdout)
    assert importer in THIRD_PARTY_IMPORTERS, f"matplotlib imported by {importer}"
    assert figures == [], f"import eotdl_tutorials.{stage} loads {figures}"


def test_display_is_a_leaf_that_imports_no_stage():
    tree = ast.parse((ROOT / "eotdl_tutorials" / "display.py").read_text())
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eotdl_tutorials")
    }
    ours |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("eotdl_tutorials")
    }
    assert ours and all(name.startswith("eotdl_tutorials.facts") for name in ours), ours


def test_stretch_maps_the_percentiles_to_0_and_1_over_all_bands():
    values = np.arange(3 * 10 * 10, dtype=np.float32).reshape(3, 10, 10)
    shown = stretch(values)
    assert shown.shape == (10, 10, 3)
    lo, hi = np.percentile(values, [2, 98])
    assert shown[..., 0].min() == 0 and shown[..., 2].max() == 1
    np.testing.assert_allclose(shown[5, 5], np.clip((values[:, 5, 5] - lo) / (hi - lo), 0, 1))
    # one range for the three bands: the blue band (the brightest here) stays the brightest
    assert shown[..., 2].mean() > shown[..., 1].mean() > shown[..., 0].mean()


def test_true_colour_takes_red_green_blue_by_name():
    bands = ("blue", "nir", "red", "green")
    image = np.stack([np.full((2, 4, 4), v, np.float32) for v in (0.1, 0.9, 0.2, 0.15)], axis=1)
    shown = true_colour(image, bands, gain=2.0)  # a batch (B, C, H, W) -> (B, H, W, 3)
    assert shown.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(shown[0, 0, 0], [0.4, 0.3, 0.2])
    single = image[0].copy()
    single[2, 0, 0] = np.nan
    assert true_colour(single, bands, gain=2.0)[0, 0, 0] == 0  # no data shows black
    stretched = true_colour(single, bands)
    assert stretched.shape == (4, 4, 3) and np.nanmax(stretched) <= 1


def test_s1_composite_maps_vv_vh_and_their_difference_from_their_db_windows():
    vv = np.array([-25.0, -12.5, 0.0, 5.0])
    vh = np.array([-30.0, -17.5, -5.0, -40.0])
    shown = s1_composite(vv, vh)
    np.testing.assert_allclose(shown[:, 0], [0, 0.5, 1, 1])  # (VV + 25) / 25
    np.testing.assert_allclose(shown[:, 1], [0, 0.5, 1, 0])  # (VH + 30) / 25
    np.testing.assert_allclose(shown[:, 2], [1 / 3, 1 / 3, 1 / 3, 1])  # (VV - VH) / 15


def test_chip_rgb_draws_radar_with_the_shared_false_colour(tmp_path):
    store = ChipStore(write_synthetic_store(tmp_path, count=2, s2_size=8, hr_size=8))
    values = store.to_physical("s1", store.array("s1")[1])
    bands = store.sensor("s1").bands
    expected = s1_composite(values[bands.index("vv")], values[bands.index("vh")])
    np.testing.assert_array_equal(chip_rgb(store, "s1", 1), expected)
    s2 = store.to_physical("s2", store.array("s2")[1])
    np.testing.assert_array_equal(
        chip_rgb(store, "s2", 1), true_colour(s2, store.sensor("s2").bands)
    )


@pytest.fixture
def utm_tif(tmp_path) -> Path:
    """A 4-band (blue, green, red, nir) GeoTIFF in UTM 31N at 6 degrees east (3 degrees from the
    zone's central meridian, where the grid turns by about 2 degrees against north)."""
    path = tmp_path / "utm.tif"
    height = width = 60
    values = np.stack(
        [np.full((height, width), v, np.float32) for v in (100.0, 200.0, 300.0, 400.0)]
    )
    values += np.linspace(0, 50, width, dtype=np.float32)
    profile = {
        "driver": "GTiff", "height": height, "width": width, "count": 4, "dtype": "float32",
        "crs": "EPSG:32631", "transform": from_origin(724_000, 5_300_000, 10, 10),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values)
    return path


def test_warp_to_web_mercator_gives_degrees_corners_and_no_data_outside(utm_tif):
    values, ((south, west), (north, east)) = warp_to_web_mercator(utm_tif, [3])
    with rasterio.open(utm_tif) as src:
        left, bottom, right, top = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        pixel_deg = 10 / 111_000 * 2
    assert abs(south - bottom) < pixel_deg and abs(north - top) < pixel_deg
    assert abs(west - left) < pixel_deg and abs(east - right) < pixel_deg
    assert values.shape[0] == 1
    # the UTM grid is turned in Web Mercator: the warped grid's corners lie outside the raster
    assert np.isnan(values[0, 0, 0]) and np.isnan(values[0, -1, -1])
    centre = values[0, values.shape[1] // 2, values.shape[2] // 2]
    assert 300 <= centre <= 350


def test_true_colour_overlay_is_warped_and_transparent_where_no_data(utm_tif):
    overlay = true_colour_overlay(utm_tif, ("blue", "green", "red", "nir"), "image")
    _, corners = warp_to_web_mercator(utm_tif, [1])
    assert tuple(map(tuple, overlay.bounds)) == corners
    png = imread(io.BytesIO(base64.b64decode(overlay.url.split(",", 1)[1])), format="png")
    assert png.shape[-1] == 4
    assert png[0, 0, 3] == 0 and png[png.shape[0] // 2, png.shape[1] // 2, 3] == 1
    centre = png[png.shape[0] // 2, png.shape[1] // 2, :3]
    assert centre[0] >= centre[1] >= centre[2]  # red (300) over green (200) over blue (100)


# --- What the key figures draw --------------------------------------------------------------------


def test_road_predictions_draw_hits_false_alarms_and_misses_in_their_colours():
    import matplotlib.pyplot as plt

    from eotdl_tutorials.roads.figures import plot_predictions

    truth = np.zeros((6, 6), bool)
    truth[2, :] = True
    pred = np.zeros((6, 6), bool)
    pred[2, :3] = True  # three hits, three misses
    pred[4, 4] = True  # one false alarm
    rgb = np.random.default_rng(0).random((3, 6, 6))
    figure = plot_predictions(rgb, truth, {"u-net": pred}, title="chip 7")
    axes = figure.axes
    assert [ax.get_title() for ax in axes] == ["Sentinel-2 (RGB)", "truth", "u-net"]
    assert figure._suptitle.get_text() == "chip 7"
    assert np.array_equal(axes[0].images[0].get_array(), stretch(rgb))
    assert np.array_equal(axes[1].images[0].get_array(), truth)
    overlay = np.asarray(axes[2].images[0].get_array())
    assert np.allclose(overlay[2, :3], (1, 1, 1))  # hits white
    assert np.allclose(overlay[2, 3:], (0.2, 0.4, 1.0))  # missed roads blue
    assert np.allclose(overlay[4, 4], (0.9, 0.2, 0.2))  # false alarm red
    assert np.count_nonzero(overlay.sum(-1)) == 7  # nothing else drawn
    plt.close(figure)


def test_road_graphs_draw_their_branches_and_count_nodes_and_parts_in_the_title():
    import matplotlib.pyplot as plt

    from eotdl_tutorials.roads.figures import plot_road_graphs
    from eotdl_tutorials.roads.metrics import road_graph

    cross = np.zeros((21, 21), bool)
    cross[10, 2:19] = cross[2:19, 10] = True
    broken = cross.copy()
    broken[10, 8:13] = broken[8:13, 10] = False  # four separate arms
    figure = plot_road_graphs({"truth": cross, "prediction": broken})
    shown = [("truth", cross, 1), ("prediction", broken, 4)]
    for ax, (name, mask, parts) in zip(figure.axes, shown, strict=True):
        graph = road_graph(mask)
        assert ax.get_title() == f"{name}\n{graph.number_of_nodes()} nodes, {parts} connected parts"
        assert len(ax.lines) == graph.number_of_edges()  # one orange line per branch
        assert np.array_equal(ax.images[0].get_array(), mask)
        colours = ax.collections[0].get_facecolors()
        junctions = sum(1 for n in graph.nodes if graph.degree(n) > 2)
        assert int(np.isclose(colours[:, :3], (1, 0, 0)).all(1).sum()) == junctions
    assert figure.axes[0].get_title().startswith("truth\n5 nodes")  # a junction and four ends
    plt.close(figure)


def test_learning_curves_draw_each_strategy_mean_in_percent_with_its_legend():
    import matplotlib.pyplot as plt

    from eotdl_tutorials.multitask.figures import plot_learning_curves

    curves = {
        "random": [[8, 0.30, 0.02], [12, 0.35, 0.01]],
        "bald": [[8, 0.30, 0.0], [12, 0.4, 0.03]],
    }
    figure = plot_learning_curves(curves)
    (ax,) = figure.axes
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["random", "bald"]
    for line, curve in zip(ax.lines, curves.values(), strict=True):
        assert line.get_xdata().tolist() == [point[0] for point in curve]
        assert np.allclose(line.get_ydata(), [100 * point[1] for point in curve])
    band = ax.collections[1].get_paths()[0].vertices[:, 1]  # bald's mean +- sd
    assert np.isclose(band.max(), 43) and np.isclose(band.min(), 30)
    plt.close(figure)
