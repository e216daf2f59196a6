"""Every output folder is EOTDL-ready (checked by the ``eotdl`` client) and its STAC is valid
(checked by ``stac-validator`` with the schemas in ``tests/json_schemas``), all offline.

To check a new output folder, add a fixture that returns it (here or in conftest.py) and one
line to :data:`OUTPUT_FOLDERS`: ``"<label>": "<fixture name>"``.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from eotdl_checks import check_eotdl_ready, read_eotdl_metadata
from stac_checks import local_schema_map, schema_path, validate_stac_object, validate_stac_tree

from eotdl_tutorials import data_dir
from eotdl_tutorials.data import BandStats, ChipStore
from eotdl_tutorials.data.sample import ensure_chip_store
from eotdl_tutorials.labels import read_scaneo_export, write_label_catalog, write_scaneo_export
from eotdl_tutorials.models.bands import L2A_12
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.multitask import (
    ensure_landcover_set,
    export_landcover_model,
    landcover_set_dir,
    tile_mask,
)
from eotdl_tutorials.multitask.training import TrainedModel, new_model
from eotdl_tutorials.publish import (
    LABEL_EXTENSION,
    eotdl_name,
    is_published,
    label_properties,
    write_eotdl_readme,
)
from eotdl_tutorials.roads import (
    RoadNet,
    build_road_dataset,
    ensure_aerial_roads,
    export_road_model,
)
from eotdl_tutorials.superres import PAIR_BANDS, SuperResolver, ensure_pair_store, export_superres
from eotdl_tutorials.training.pretrain import publish_encoder
from eotdl_tutorials.world import open_world

#: label -> name of the fixture that returns an output folder written the course's way.
OUTPUT_FOLDERS = {
    "chip-store": "chip_store_folder",
    "encoder": "encoder_folder",
    "superres-pairs": "pair_store_folder",
    "superres-model": "superres_model_folder",
    "landcover-set": "landcover_set_folder",
    "scaneo-label-catalog": "label_catalog_folder",
    "landcover-model": "landcover_model_folder",
    "road-dataset": "road_dataset_folder",
    "road-model": "road_model_folder",
}


@pytest.fixture
def offline(monkeypatch):
    """No network: any connection attempt fails the test."""

    def refuse(self, address):
        raise AssertionError(f"network access to {address} during an offline check")

    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture(scope="session")
def chip_store_folder(ci_world) -> Path:
    """The ci chip store (world -> match -> tile), as notebook A1 writes it."""
    return ensure_chip_store("ci", progress=False)


@pytest.fixture(scope="session")
def encoder_folder(chip_store_folder, tmp_path_factory) -> Path:
    """An encoder published as A2 publishes its pre-trained one (untrained, tiny, no ONNX)."""
    torch.manual_seed(0)
    stats = BandStats(L2A_12, tuple(np.linspace(0.05, 0.3, 12)), tuple([0.05] * 12))
    encoder = SensorEncoder("s2", stats, arch="test_resnet", input_size=16).eval()
    folder = tmp_path_factory.mktemp("models") / "barlow-twins-s2-test"
    return publish_encoder(encoder, folder, ChipStore(chip_store_folder), onnx=False)


@pytest.fixture(scope="session")
def pair_store_folder(ci_world) -> Path:
    """The ci super-resolution pair store, as notebooks B1 and B2 write it."""
    return ensure_pair_store("ci", progress=False)


@pytest.fixture(scope="session")
def superres_model_folder(pair_store_folder, tmp_path_factory) -> Path:
    """A super-resolution model exported as B2 exports ESRT (untrained, tiny, no ONNX)."""
    torch.manual_seed(0)
    model = SuperResolver("cnn", PAIR_BANDS, 2, options={"channels": 8, "blocks": 1})
    folder = tmp_path_factory.mktemp("models") / "superres-cnn-x2-test"
    bbox = ChipStore(pair_store_folder).bounds()
    return export_superres(model, folder, input_size=16, onnx=False, bbox=bbox).model_dir


@pytest.fixture(scope="session")
def landcover_set(ci_world):
    """The ci land-cover set, as notebooks C1 to C4 build it."""
    return ensure_landcover_set("ci", progress=False)


@pytest.fixture(scope="session")
def landcover_set_folder(landcover_set) -> Path:
    return landcover_set_dir("ci")


@pytest.fixture(scope="session")
def label_catalog_folder(landcover_set, tmp_path_factory) -> Path:
    """Two tiles exported to SCANEO and written as a label catalog, as notebook C1 does."""
    scaneo = tmp_path_factory.mktemp("scaneo") / "landcover-ci"
    chosen = landcover_set.index.iloc[:2]
    images = {row.id: row.image for row in chosen.itertuples()}
    masks = {row.id: tile_mask(row.label) for row in chosen.itertuples()}
    write_scaneo_export(scaneo, images, masks, landcover_set.classes)
    out = scaneo.parent / f"{scaneo.name}-stac"
    write_label_catalog(read_scaneo_export(scaneo), out)
    return out


@pytest.fixture(scope="session")
def landcover_model_folder(landcover_set, tmp_path_factory) -> Path:
    """A multi-task land-cover model exported as C2 exports it (untrained, tiny U-Net; its
    export always checks ONNX)."""
    torch.manual_seed(0)
    rows = landcover_set.split("train")[:8]
    model = new_model(landcover_set, rows, ("classification", "segmentation"), depth=3,
                      decoder_channels=(16, 8, 8), arch="resnet18")  # fmt: skip
    folder = tmp_path_factory.mktemp("models") / "landcover-multitask"
    trained = TrainedModel(model, 0.0, "none", "random")
    bbox = landcover_set.bounds()
    return export_landcover_model(trained, folder, landcover_set.classes, 32, bbox=bbox).model_dir


@pytest.fixture(scope="session")
def road_dataset_folder(ci_world) -> Path:
    """The ci road dataset, as notebooks D1 and D2 build it."""
    folder = data_dir() / "roads-ci"
    aerial = ensure_aerial_roads("ci", progress=False)
    build_road_dataset(aerial, open_world(ci_world), folder, progress=False)
    return folder


@pytest.fixture(scope="session")
def road_model_folder(tmp_path_factory) -> Path:
    """A road model exported as D2 exports it (untrained, tiny, no ONNX), without the bbox of
    its training data: its Item then covers the whole globe."""
    torch.manual_seed(0)
    model = RoadNet(("red", "green", "blue", "nir"), [0.1] * 4, [0.05] * 4, "resnet18", 3,
                    (16, 8, 4))  # fmt: skip
    folder = tmp_path_factory.mktemp("models") / "roads-test"
    return export_road_model(model.eval(), folder, "roads-test", 32, onnx=False).model_dir


@pytest.fixture(params=sorted(OUTPUT_FOLDERS))
def output_folder(request) -> Path:
    return request.getfixturevalue(OUTPUT_FOLDERS[request.param])


def test_every_output_folder_is_eotdl_ready(output_folder, offline):
    parquet = check_eotdl_ready(output_folder)
    assert parquet == output_folder / "catalog.parquet" and parquet.is_file()


def test_every_output_folder_passes_the_stac_validator(output_folder, offline):
    report = validate_stac_tree(output_folder / "catalog.json")
    assert report.valid, report.errors
    assert len(report.checked) >= 3  # a catalog, a collection and an item at least


def test_world_items_and_collections_pass_the_stac_validator(ci_world, offline):
    report = validate_stac_tree(ci_world / "stac")
    assert report.valid, report.errors
    collections = sorted((ci_world / "stac" / "collections").glob("*.json"))
    items = sum(
        len(json.loads(p.read_text())["features"])
        for p in (ci_world / "stac" / "items").glob("*.json")
    )
    assert len(report.checked) == len(collections) + items


def test_a_broken_item_fails_the_stac_validator(ci_world, tmp_path, offline):
    items = json.loads((ci_world / "stac" / "items" / "sentinel-2-l2a.json").read_text())
    good, bad, late = (json.loads(json.dumps(items["features"][0])) for _ in range(3))
    bad["properties"]["proj:epsg"] = "EPSG:32631"  # projection v1.1 wants an integer
    del late["properties"]["datetime"]  # no datetime nor start/end
    late["id"] = "no-datetime"
    (tmp_path / "items.json").write_text(
        json.dumps({"type": "FeatureCollection", "features": [good, bad, late]})
    )
    report = validate_stac_tree(tmp_path / "items.json")
    assert len(report.checked) == 3 and not report.valid
    assert [where.rsplit("#", 1)[1] for where in report.errors] == [bad["id"], "no-datetime"]
    assert "proj:epsg" in next(iter(report.errors.values()))
    with pytest.raises(ValueError, match="2 of 3 STAC objects are invalid"):
        report.raise_for_errors()


def test_a_folder_eotdl_would_refuse_fails_the_check(encoder_folder, tmp_path, offline):
    folder = tmp_path / "copy"
    shutil.copytree(encoder_folder, folder)
    (folder / "model.pt").unlink()  # an asset file the catalog names is missing
    with pytest.raises(FileNotFoundError):
        check_eotdl_ready(folder)
    readme = (folder / "README.md").read_text()
    (folder / "README.md").write_text(readme.replace("source: https://", "source: "))
    with pytest.raises(ValueError, match="source must be a URL"):
        read_eotdl_metadata(folder)
    (folder / "README.md").unlink()
    with pytest.raises(FileNotFoundError, match="no README.md"):
        check_eotdl_ready(folder)


@pytest.mark.parametrize("name", ["ab", "a" * 46, "has space", "under_score"])
def test_names_eotdl_refuses_are_refused_before_writing(tmp_path, name):
    with pytest.raises(ValueError, match="3 to 45 letters, digits and dashes"):
        write_eotdl_readme(tmp_path, name=name, description="x")
    assert not (tmp_path / "README.md").exists()


def test_readme_front_matter_is_read_by_eotdl(tmp_path):
    write_eotdl_readme(
        tmp_path,
        name="my-dataset-1",
        description="# Title\n\nText.",
        authors=["Ada", "Grace"],
        license="MIT",
        source="https://example.org/data",
        thumbnail="https://example.org/t.png",
    )
    metadata = read_eotdl_metadata(tmp_path)
    assert (metadata.name, metadata.authors, metadata.license) == (
        "my-dataset-1",
        ["Ada", "Grace"],
        "MIT",
    )
    assert metadata.thumbnail == "https://example.org/t.png"
    assert metadata.description.strip() == "# Title\n\nText."


def test_schema_map_covers_every_local_schema_by_its_url():
    mapping = local_schema_map()
    url = "https://stac-extensions.github.io/mlm/v1.4.0/schema.json"
    assert Path(mapping[url]) == schema_path(url) and schema_path(url).is_file()
    assert (
        mapping["http://geojson.org/schema/Feature.json"]
        == mapping["https://geojson.org/schema/Feature.json"]
    )
    assert json.loads(schema_path(url + "#").read_text())["$schema"]
    with pytest.raises(FileNotFoundError, match="no local JSON schema"):
        schema_path("https://stac-extensions.github.io/nope/v1.0.0/schema.json")


def test_folder_names_become_eotdl_names():
    assert eotdl_name("multisensor-ci") == "multisensor-ci"
    assert eotdl_name("test_a_1m chip__x0") == "test-a-1m-chip-x0"
    assert eotdl_name("x") == "dataset-x" and eotdl_name("__") == "dataset"
    assert eotdl_name("a" * 60) == "a" * 45


def test_label_items_pass_the_stac_validator(offline):
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [LABEL_EXTENSION],
        "id": "labels-1",
        "geometry": {"type": "Point", "coordinates": [5.5, 45.0]},
        "bbox": [5.5, 45.0, 5.5, 45.0],
        "properties": {"datetime": "2022-07-01T00:00:00Z"}
        | label_properties(["water", "forest"], "land cover of one tile"),
        "links": [],
        "assets": {"labels": {"href": "labels-1.tif", "roles": ["labels"]}},
    }
    assert validate_stac_object(item) is None
    item["properties"]["label:type"] = "mask"  # not raster nor vector
    assert validate_stac_object(item) is not None


def test_older_folders_get_readme_and_catalog_when_reopened(
    pair_store_folder, landcover_set_folder, road_dataset_folder, ci_world
):
    """A dataset folder written before the course published them gets its README.md and
    catalog when reopened; a land-cover set without footprints is rebuilt with them."""
    for folder in (pair_store_folder, landcover_set_folder, road_dataset_folder):
        (folder / "README.md").unlink()
        (folder / "catalog.json").unlink()
    index = pd.read_parquet(landcover_set_folder / "index.parquet")
    index.drop(columns=["datetime", "footprint"]).to_parquet(landcover_set_folder / "index.parquet")
    assert ensure_pair_store("ci", progress=False) == pair_store_folder
    aerial = ensure_aerial_roads("ci", progress=False)
    build_road_dataset(aerial, open_world(ci_world), road_dataset_folder, progress=False)
    rebuilt = ensure_landcover_set("ci", progress=False)
    assert {"datetime", "footprint"} <= set(rebuilt.index.columns)
    for folder in (pair_store_folder, landcover_set_folder, road_dataset_folder):
        assert is_published(folder), folder
        assert read_eotdl_metadata(folder).name == eotdl_name(folder.name)
