"""The ``full`` profile never falls back to the sample world: it reads real data or stops with a
clear message naming the parameter to set; a real store gets labels from a land-cover raster."""

from __future__ import annotations

import subprocess

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
from eotdl_tutorials.training import evaluate_label_ratios

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


def test_labels_naming_no_class_of_the_store_are_refused(unlabelled_store, tmp_path):
    with pytest.raises(ValueError, match="not classes of the store"):
        label_store_from_raster(unlabelled_store, tmp_path / "x.tif", {10: "tundra"})


def _make_n(project_root, *variables: str) -> subprocess.CompletedProcess:
    """``make -n course``: what make would run (nothing is run)."""
    return subprocess.run(
        ["make", "-n", "course", *variables], cwd=project_root, capture_output=True, text=True
    )


def test_make_course_full_names_the_parameters_it_needs(project_root):
    missing = _make_n(project_root, "PROFILE=full")
    assert missing.returncode != 0
    for name in ("STAC_URL", "EARTHVIEW_INDEX", "LABEL_SOURCE"):
        assert name in missing.stderr
    given = _make_n(
        project_root,
        "PROFILE=full",
        "STAC_URL=https://earth-search.aws.element84.com/v1",
        "EARTHVIEW_INDEX=/data/earthview.parquet",
        "LABEL_SOURCE=/data/worldcover.tif",
    )
    assert given.returncode == 0, given.stderr
    a1 = next(line for line in given.stdout.splitlines() if "A1_multisensor" in line)
    assert "-p stac_url https://earth-search.aws.element84.com/v1" in a1
    assert "-p earthview_index /data/earthview.parquet" in a1
    assert "world build" not in given.stdout  # no sample world in the full profile


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
    "A1_multisensor_dataset": "set stac_url and earthview_index",
    "A2_barlow_twins_pretraining": "-p stac_url URL -p earthview_index PATH",
    "A3_few_label_evaluation": "-p stac_url URL -p earthview_index PATH",
}


@pytest.mark.notebooks
@pytest.mark.parametrize("name", sorted(FULL_WITHOUT_DATA))
def test_notebooks_in_full_profile_stop_without_real_data(
    name, project_root, tmp_path, monkeypatch
):
    import papermill

    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    with pytest.raises(papermill.PapermillExecutionError) as failed:
        papermill.execute_notebook(
            str(project_root / "notebooks" / f"{name}.ipynb"),
            str(tmp_path / f"{name}.ipynb"),
            parameters={"profile": "full"},
            cwd=str(project_root / "notebooks"),
            kernel_name="python3",
            engine_name="eotdl",
            progress_bar=False,
        )
    assert FULL_WITHOUT_DATA[name] in failed.value.evalue
    assert not (tmp_path / "data" / "world-default").exists()  # no sample world built
