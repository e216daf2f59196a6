"""The ``full`` profile never falls back to the sample world: it reads real data or stops with a
clear message naming the parameter to set; a real store gets labels from a land-cover raster."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
import torch
from rasterio.transform import from_origin

from eotdl_tutorials.data import (
    BandStats,
    ChipStore,
    ensure_chip_store,
    label_store_from_raster,
    write_synthetic_store,
)
from eotdl_tutorials.data.synthetic import S2_BANDS
from eotdl_tutorials.matching import match
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.notebook_parameters import course_parameters, missing_in_full
from eotdl_tutorials.training import evaluate_label_ratios

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((PROJECT / "notebooks").glob("*.ipynb"))
COLS = 4  # write_synthetic_store lays 16 footprints on a 4 x 4 grid from (5.5 E, 45 N)
SIDE = 32 * 10.0 / 111_000  # a footprint's side in degrees (s2_size 32 px of 10 m)


def test_full_chip_store_is_never_built_from_the_sample_world(tmp_path, monkeypatch):
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="-p stac_url URL -p earthview_index PATH"):
        ensure_chip_store("full")
    assert list(tmp_path.iterdir()) == []  # no world, no store


def test_a_full_store_written_by_a1_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path))
    store = write_synthetic_store(tmp_path / "datasets" / "multisensor-full", count=4)
    assert ensure_chip_store("full") == store


@pytest.fixture
def unlabelled_store(tmp_path):
    store = write_synthetic_store(tmp_path / "real", count=COLS * COLS, sensors=("s2",))
    index = gpd.read_parquet(store / "index.parquet")
    index["label"] = -1  # what tiling real EarthView tiles gives: no label masks
    index.to_parquet(store / "index.parquet")
    return store


def _encoder() -> SensorEncoder:
    torch.manual_seed(0)
    stats = BandStats(tuple(S2_BANDS), (0.1,) * len(S2_BANDS), (0.05,) * len(S2_BANDS))
    return SensorEncoder("s2", stats, arch="test_resnet", input_size=16).eval()


def test_evaluation_refuses_a_store_without_labels(unlabelled_store):
    with pytest.raises(ValueError, match="no land-cover labels.*label_source"):
        evaluate_label_ratios(unlabelled_store, _encoder(), progress=False)


def test_labels_from_a_land_cover_raster(unlabelled_store, tmp_path):
    pixel = SIDE / 10
    codes = np.where(np.arange(COLS * 10) < 2 * 10, 10, 80).astype(np.uint8)  # forest | water
    raster = tmp_path / "worldcover.tif"
    with rasterio.open(
        raster,
        "w",
        driver="GTiff",
        width=COLS * 10,
        height=COLS * 10,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(5.5, 45 + COLS * SIDE, pixel, pixel),
        nodata=0,
    ) as dst:
        dst.write(np.tile(codes, (COLS * 10, 1))[None])
    assert label_store_from_raster(unlabelled_store, raster, progress=False) == COLS * COLS
    chips = ChipStore(unlabelled_store)
    column = np.arange(COLS * COLS) % COLS
    expected = np.where(column < 2, chips.classes.index("Forest"), chips.classes.index("SeaLake"))
    assert chips.labels.tolist() == expected.tolist()
    assert chips.meta["labels"]["source"] == str(raster)


def test_labels_from_land_cover_tiles(unlabelled_store, tmp_path):
    """Two tiles (west: forest, east: water) label the store as one raster holding both."""
    pixel = SIDE / 10
    tiles = []
    for k, code in enumerate((10, 80)):  # each tile two columns of footprints wide
        tiles.append(tmp_path / f"tile-{k}.tif")
        with rasterio.open(
            tiles[-1], "w", driver="GTiff", width=2 * 10, height=COLS * 10, count=1,
            dtype="uint8", crs="EPSG:4326", nodata=0,
            transform=from_origin(5.5 + 2 * k * SIDE, 45 + COLS * SIDE, pixel, pixel),
        ) as dst:  # fmt: skip
            dst.write(np.full((1, COLS * 10, 2 * 10), code, np.uint8))
    assert label_store_from_raster(unlabelled_store, tiles, progress=False) == COLS * COLS
    chips = ChipStore(unlabelled_store)
    column = np.arange(COLS * COLS) % COLS
    expected = np.where(column < 2, chips.classes.index("Forest"), chips.classes.index("SeaLake"))
    assert chips.labels.tolist() == expected.tolist()
    assert chips.meta["labels"]["source"] == "; ".join(str(t) for t in tiles)


def test_labels_naming_no_class_of_the_store_are_refused(unlabelled_store, tmp_path):
    with pytest.raises(ValueError, match="not classes of the store"):
        label_store_from_raster(unlabelled_store, tmp_path / "x.tif", {10: "tundra"})


def _make_n(project_root, *variables: str) -> subprocess.CompletedProcess:
    """``make -n course``: what make would run (nothing is run)."""
    return subprocess.run(
        ["make", "-n", "course", *variables], cwd=project_root, capture_output=True, text=True
    )


def test_make_course_full_passes_the_real_data_it_is_given(project_root):
    given = _make_n(
        project_root,
        "PROFILE=full",
        "STAC_URL=https://earth-search.aws.element84.com/v1",
        "EARTHVIEW_INDEX=/data/earthview.parquet",
        "AERIAL_DIR=/data/massachusetts",
    )
    assert given.returncode == 0, given.stderr
    run = next(line for line in given.stdout.splitlines() if "course run" in line)
    assert "--profile full" in run
    assert "-p stac_url https://earth-search.aws.element84.com/v1" in run
    assert "-p earthview_index /data/earthview.parquet" in run
    assert "-p aerial_dir /data/massachusetts" in run
    assert "label_source" not in run  # not set: not passed (course run then names it)
    assert "world build" not in given.stdout  # no sample world in the full profile


def test_make_course_full_names_every_missing_parameter_at_once(project_root, tmp_path):
    """``course run --profile full`` as make runs it, with one of the required values: it names
    the others (the make variable and the notebooks needing each), and writes nothing."""
    data = tmp_path / "data"
    env = {**os.environ, "EOTDL_TUTORIALS_DATA": str(data)}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "eotdl_tutorials.cli", "course", "run", "--profile", "full",
         "-p", "stac_url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "out")],
        cwd=project_root, capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert run.returncode != 0
    assert time.perf_counter() - started < STOP_SECONDS
    required = missing_in_full(course_parameters(NOTEBOOKS), {})
    assert "stac_url" in required
    for name, notebooks in required.items():
        if name != "stac_url":
            assert f"{name.upper()}=..." in run.stderr
            assert all(notebook in run.stderr for notebook in notebooks)
    assert "STAC_URL=" not in run.stderr
    assert "book/real-data.md" in run.stderr
    assert not data.exists() and not (tmp_path / "out").exists()


def test_make_passes_every_parameter_full_requires():
    """Each parameter a notebook's cell marks ``full: required`` has its make variable."""
    makefile = (PROJECT / "Makefile").read_text()
    variables = re.search(r"^REAL_DATA := (.*)$", makefile, re.M).group(1).split()
    required = {p.make_variable for p in course_parameters(NOTEBOOKS) if p.required_in_full}
    assert required and required <= set(variables)


def test_an_unreachable_catalogue_is_a_clear_error():
    footprints = gpd.GeoDataFrame(
        {"id": ["a"], "datetime": [pd.Timestamp("2024-04-19T00:00Z")]},
        geometry=[shapely.box(5, 45, 5.001, 45.001)],
        crs=4326,
    )
    with pytest.raises(ConnectionError, match="check the URL"):
        match(footprints, "http://127.0.0.1:9/v1")  # nothing listens on port 9


#: notebook -> what its full run without real data must say
FULL_WITHOUT_DATA = {
    "00_sample_world": "-p stac_url URL -p earthview_index PATH",
    "A1_multisensor_dataset": "set stac_url and earthview_index",
    "A2_barlow_twins_pretraining": "-p stac_url URL -p earthview_index PATH",
    "A3_few_label_evaluation": "-p stac_url URL -p earthview_index PATH",
    "B1_superres_pairs": "-p stac_url URL -p earthview_index PATH",
    "B2_esrt_superresolution": "-p stac_url URL -p earthview_index PATH",
    "B3_superres_regimes": "-p stac_url URL -p earthview_index PATH",
    "B4_superres_downstream": "run D1 first with -p profile full -p aerial_dir FOLDER",
    "C1_scaneo_labels": "set -p scaneo_dir FOLDER (a SCANEO export",
    "C2_multitask_models": "run C1 first with -p profile full -p scaneo_dir FOLDER",
    "C3_active_learning": "run C1 first with -p profile full -p scaneo_dir FOLDER",
    "C4_inference_api": "run C1 first with -p profile full -p scaneo_dir FOLDER",
    "D1_road_dataset": "set aerial_dir and stac_url",
    "D2_road_segmentation": "run D1 first with -p profile full -p aerial_dir FOLDER",
}
#: The most seconds a notebook may take to stop for want of real data (kernel start included).
STOP_SECONDS = 30


def _run(project_root: Path, name: str, out: Path, parameters: dict) -> float:
    """Execute notebook ``name`` with ``parameters`` as ``make course`` does; its seconds."""
    import papermill

    started = time.perf_counter()
    papermill.execute_notebook(
        str(project_root / "notebooks" / f"{name}.ipynb"),
        str(out / f"{name}.ipynb"),
        parameters=parameters,
        cwd=str(project_root / "notebooks"),
        kernel_name="python3",
        engine_name="eotdl",
        progress_bar=False,
    )
    return time.perf_counter() - started


@pytest.mark.notebooks
@pytest.mark.parametrize("name", sorted(FULL_WITHOUT_DATA))
def test_notebooks_in_full_profile_stop_without_real_data(
    name, project_root, tmp_path, monkeypatch
):
    import papermill

    data = tmp_path / "data"
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(data))
    started = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        _run(project_root, name, tmp_path, {"profile": "full"})
    assert FULL_WITHOUT_DATA[name] in failed.value.evalue
    assert time.perf_counter() - started < STOP_SECONDS
    assert not data.exists() or not any(data.iterdir())  # nothing written, no sample world


#: Small runs of each notebook on the stand-in (the full recipes are for a GPU and real data).
SMALL = {
    "00_introduction": {},
    "00_sample_world": {},
    "A1_multisensor_dataset": {"workers": 1, "interactive": False},
    "A2_barlow_twins_pretraining": {
        "epochs": 1, "batch_size": 64, "projector": [64, 64, 64], "workers": 0,
        "accelerator": "cpu",
    },
    "A3_few_label_evaluation": {"draws": 1, "trained": False, "accelerator": "cpu"},
    "B1_superres_pairs": {},
    "B2_esrt_superresolution": {
        "steps": 2, "batch_size": 4, "workers": 0, "accelerator": "cpu", "scene_size": 64,
    },
    "B3_superres_regimes": {"steps": 2, "batch_size": 4, "workers": 0, "accelerator": "cpu"},
    "D1_road_dataset": {},
    "D2_road_segmentation": {
        "band_sets": ["10m+20m"], "steps": 1, "batch_size": 4, "workers": 0, "accelerator": "cpu",
    },
    "B4_superres_downstream": {"steps": 1, "batch_size": 4, "workers": 0, "accelerator": "cpu"},
}  # fmt: skip


@pytest.mark.notebooks
def test_introductions_and_use_cases_a_b_and_d_run_on_the_stand_in(
    project_root, stand_in, stand_in_api, tmp_path, monkeypatch
):
    """The two introductions, A1 to A3, B1 to B4, D1 and D2 with ``-p profile full`` and their
    real-data parameters pointed at the stand-in, in an empty data folder: they run, write their
    results, and no sample world is opened or built (00_sample_world only searches the
    stand-in's API). B reads A1's store: its Sentinel-2 chips (Earth Search's COGs, the +1000
    offset removed) are reflectance in [0, 1.2], never negative."""
    data = tmp_path / "data"
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(data))
    monkeypatch.setenv("EOTDL_TUTORIALS_BATCH", "1")
    real = stand_in.notebook_parameters(stand_in_api)
    seconds = {}
    for name, small in SMALL.items():
        parameters = {"profile": "full", **real.get(name, {}), **small}
        seconds[name] = _run(project_root, name, tmp_path, parameters)
    print("full profile on the stand-in:", {k: round(v, 1) for k, v in seconds.items()})
    assert not list(data.glob("world-*")) and not list(data.rglob("world.json"))
    for name in SMALL:
        assert (data / "results" / f"{name}-full.json").is_file(), name
    a3 = json.loads((data / "results" / "A3_few_label_evaluation-full.json").read_text())
    assert a3["test_chips"] > 0  # labelled from the WorldCover tiles
    store = ChipStore(data / "datasets" / "multisensor-full")
    reflectance = store.to_physical("s2", np.asarray(store.array("s2")))
    assert 0 <= reflectance.min() <= reflectance.max() <= 1.2, (
        reflectance.min(),
        reflectance.max(),
    )
    assert "s2_cloud_percent" in store.index
    b1 = json.loads((data / "results" / "B1_superres_pairs-full.json").read_text())
    clear = int((store.index["s2_cloud_percent"] == 0).sum())
    assert b1["pairs"] == clear > 0 and b1["cloudy_chips_left_out"] == store.count - clear
    b2 = json.loads((data / "results" / "B2_esrt_superresolution-full.json").read_text())
    assert b2["bicubic"]["reflectance_l1"] < 0.005  # bicubic keeps the input's reflectance
    b3 = json.loads((data / "results" / "B3_superres_regimes-full.json").read_text())
    assert set(b3["regimes"]) == {"cross_sensor", "coregistered", "wald", "synthetic"}
    tour = json.loads((data / "results" / "00_sample_world-full.json").read_text())
    assert tour["stac_items_found"] > 0 and "regions" not in tour  # the API's items, no world
    d1 = json.loads((data / "results" / "D1_road_dataset-full.json").read_text())
    assert {row["transfer"] for row in d1["transfers"]} == {"area_fraction", "nearest"}
    b4 = json.loads((data / "results" / "B4_superres_downstream-full.json").read_text())
    assert set(b4["inputs"]) == {"aerial", "esrt", "bicubic", "sentinel2_10m"}


#: Small runs of use case C on the stand-in's SCANEO export (tiles of 128 px, a few steps).
SMALL_C = {
    "C1_scaneo_labels": {"tile_size": 128},
    "C2_multitask_models": {"steps": 2, "accelerator": "cpu"},
    "C3_active_learning": {
        "strategies": ["random", "entropy"], "rounds": 1, "batch": 4, "initial": 8, "seeds": [0],
        "steps": 2, "mc_iterations": 2, "accelerator": "cpu",
    },
    "C4_inference_api": {"steps": 2, "tiles": 4},
}  # fmt: skip


@pytest.mark.notebooks
def test_use_case_c_runs_on_the_stand_in(project_root, stand_in, tmp_path, monkeypatch):
    """C1 to C4 with ``-p profile full`` and C1's ``scaneo_dir`` pointed at the stand-in's SCANEO
    export (4-band images, SCANEO's current layout, a few unlabelled images), in an empty data
    folder: they run on the export's classes and bands, write their results, and no sample
    world is opened or built."""
    from eotdl_tutorials.labels import read_scaneo_export

    data = tmp_path / "data"
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(data))
    monkeypatch.setenv("EOTDL_TUTORIALS_BATCH", "1")
    real = stand_in.notebook_parameters("http://127.0.0.1:9")  # no STAC API needed here
    seconds = {}
    for name, small in SMALL_C.items():
        parameters = {"profile": "full", **real.get(name, {}), **small}
        seconds[name] = _run(project_root, name, tmp_path, parameters)
    print("use case C, full profile on the stand-in:", {k: round(v, 1) for k, v in seconds.items()})
    assert not list(data.glob("world-*")) and not list(data.rglob("world.json"))
    results = {
        name: json.loads((data / "results" / f"{name}-full.json").read_text()) for name in SMALL_C
    }
    export = read_scaneo_export(stand_in.scaneo_dir())
    c1 = results["C1_scaneo_labels"]
    assert c1["classes"] == list(export.labels)  # from spai.json, not the world's legend
    assert c1["bands"] == ["red", "green", "blue", "nir"] and c1["unlabelled"] > 0
    assert c1["round_trip_identical_away_from_edges"]
    c3 = results["C3_active_learning"]
    assert len(c3["next_to_label"]["tiles"]) == SMALL_C["C3_active_learning"]["batch"]
    c4 = results["C4_inference_api"]
    assert c4["masks_on_sent_grid"] and c4["api_equals_pytorch"] > 0.99
