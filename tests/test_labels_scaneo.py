"""SCANEO's export format both ways, its error messages, and the STAC label catalog."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pystac
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from eotdl_tutorials.labels import (
    ScaneoFormatError,
    rasterize_export,
    read_label_catalog,
    read_scaneo_export,
    write_label_catalog,
    write_scaneo_export,
)

LABELS = ("water", "forest", "cropland")


def _image(path: Path, size: int = 48, epsg: int = 32631) -> Path:
    """A 4-band uint16 GeoTIFF on a 1 m UTM grid."""
    transform = from_origin(500_000, 5_300_000, 1.0, 1.0)
    data = np.random.default_rng(0).integers(0, 4000, (4, size, size), dtype=np.uint16)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint16",
        crs=f"EPSG:{epsg}",
        transform=transform,
    ) as dst:
        dst.write(data)
    return path


def _mask(size: int = 48) -> np.ndarray:
    """Blocks of labels 1..3 and an unlabelled (0) corner, plus a ring with a hole."""
    mask = np.zeros((size, size), np.uint8)
    mask[: size // 2, : size // 2] = 1
    mask[size // 2 :, :] = 2
    mask[4:20, 28:44] = 3
    mask[9:15, 33:39] = 1  # a hole in label 3, filled by label 1
    return mask


@pytest.fixture()
def export(tmp_path: Path):
    source = _image(tmp_path / "source.tif")
    return write_scaneo_export(tmp_path / "export", {"tile-a": source}, {"tile-a": _mask()}, LABELS)


def test_round_trip_mask_export_mask(export) -> None:
    mask = _mask()
    back = rasterize_export(export)["tile-a.tif"]
    edges = ndimage.morphological_gradient(mask, size=3) > 0
    assert back.shape == mask.shape
    assert (back[~edges] == mask[~edges]).all()
    assert (back == mask).mean() > 0.97


def test_export_layout_follows_scaneo(export) -> None:
    spai = json.loads((export.root / "spai.json").read_text())
    assert [label["name"] for label in spai["labels"]] == list(LABELS)
    assert all(label["color"].startswith("#") for label in spai["labels"])
    collection = json.loads((export.root / "tile-a.geojson").read_text())
    tasks = {(f["properties"]["task"], f["geometry"]["type"]) for f in collection["features"]}
    assert ("segmentation", "MultiPolygon") in tasks
    assert ("classification", "Polygon") in tasks
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 2 < lon < 4 and 47 < lat < 48  # EPSG:4326, near 3 deg E
    assert export.classification("tile-a.tif") == set(LABELS)


def test_label_not_in_spai_names_the_file(export) -> None:
    path = export.root / "tile-a.geojson"
    collection = json.loads(path.read_text())
    collection["features"][0]["properties"]["label"] = "glacier"
    path.write_text(json.dumps(collection))
    with pytest.raises(ScaneoFormatError, match=r"tile-a\.geojson.*'glacier'.*not in spai\.json"):
        read_scaneo_export(export.root)


def test_geometry_outside_its_image_names_the_file(export) -> None:
    path = export.root / "tile-a.geojson"
    collection = json.loads(path.read_text())
    collection["features"].append(
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[10, 10], [10.1, 10], [10.1, 10.1], [10, 10]]],
            },
            "properties": {"label": "water", "task": "segmentation"},
        }
    )
    path.write_text(json.dumps(collection))
    with pytest.raises(ScaneoFormatError, match=r"tile-a\.geojson.*outside its image"):
        rasterize_export(read_scaneo_export(export.root))


def test_missing_image_names_the_geojson(export) -> None:
    (export.root / "tile-a.tif").unlink()
    with pytest.raises(ScaneoFormatError, match=r"tile-a\.geojson has no image"):
        read_scaneo_export(export.root)


def test_empty_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScaneoFormatError, match="spai.json is missing"):
        read_scaneo_export(tmp_path)
    (tmp_path / "spai.json").write_text(json.dumps({"labels": [{"name": "a", "color": "#fff"}]}))
    with pytest.raises(ScaneoFormatError, match="empty export"):
        read_scaneo_export(tmp_path)


def test_detection_features_are_read(export) -> None:
    path = export.root / "tile-a.geojson"
    collection = json.loads(path.read_text())
    collection["features"].append(
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": []},
            "properties": {"label": "forest", "task": "detection"},
        }
    )
    path.write_text(json.dumps(collection))
    with pytest.raises(ScaneoFormatError, match="detection feature .* no properties.bbox"):
        read_scaneo_export(export.root)


def test_label_catalog_uses_the_label_extension(export, tmp_path: Path) -> None:
    catalog = write_label_catalog(export, tmp_path / "catalog")
    items = list(catalog.get_items(recursive=True))
    assert len(items) == 1
    item = pystac.Item.from_file(items[0].get_self_href())
    assert item.properties["label:classes"][0]["classes"] == list(LABELS)
    assert set(item.properties["label:tasks"]) == {"classification", "segmentation"}
    assert Path(item.assets["labels"].get_absolute_href()).is_file()
    assert any("stac-extensions.github.io/label/" in url for url in item.stac_extensions)
    schemas = Path(__file__).resolve().parents[1].parent / "shared" / "stac-schemas"
    (url,) = [u for u in item.stac_extensions if "/label/" in u]
    schema = schemas / url.removeprefix("https://")
    if schema.is_file():  # the offline copy of the label extension's schema
        jsonschema.validate(item.to_dict(), json.loads(schema.read_text()))
    assert item.get_single_link("source").get_absolute_href().endswith("tile-a.tif")


def _rgb_image(path: Path, size: int = 48) -> Path:
    """A 3-band 8-bit RGB GeoTIFF without band descriptions (a SCANEO RGB campaign's image)."""
    data = np.random.default_rng(1).integers(0, 255, (3, size, size), dtype=np.uint8)
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
        "crs": "EPSG:32631", "transform": from_origin(500_000, 5_300_000, 1.0, 1.0),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize("layout", ["spai.json", "labels.json"])
@pytest.mark.parametrize("bands", [3, 4])
def test_both_layouts_and_band_counts_read_back(tmp_path: Path, layout: str, bands: int) -> None:
    make = _rgb_image if bands == 3 else _image
    images = {"tile-a": make(tmp_path / "a.tif"), "tile-b": make(tmp_path / "b.tif")}
    out = tmp_path / "export"
    export = write_scaneo_export(out, images, {"tile-a": _mask()}, LABELS, layout=layout)
    assert export.layout == layout
    assert (out / layout).is_file()
    suffix = ".geojson" if layout == "spai.json" else "_labels.geojson"
    assert export.label_path("tile-a.tif") == out / f"tile-a{suffix}"
    assert export.images == ("tile-a.tif", "tile-b.tif")
    assert export.unlabelled == ("tile-b.tif",)  # an image without labels: the pool
    assert export.classification("tile-a.tif") == set(LABELS)
    mask = _mask()
    back = rasterize_export(export)["tile-a.tif"]
    edges = ndimage.morphological_gradient(mask, size=3) > 0
    assert (back[~edges] == mask[~edges]).all()
    with rasterio.open(out / "tile-a.tif") as src:
        assert src.count == bands


def test_the_older_layout_as_scaneo_wrote_it(tmp_path: Path) -> None:
    """``labels``/``tasks`` lists, a classification box with two labels, a detection box and a
    SAM prompt (skipped): read as one feature per label and task of the current layout."""
    out = tmp_path / "old"
    out.mkdir()
    _image(out / "tile.tif")
    (out / "labels.json").write_text(
        json.dumps({"labels": [{"name": n, "color": "#123456"} for n in LABELS]})
    )
    square = [[[3.0, 47.8], [3.0001, 47.8], [3.0001, 47.8001], [3.0, 47.8]]]
    features = [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square},
         "properties": {"labels": ["water", "forest"], "tasks": ["classification"]}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square},
         "properties": {"labels": ["cropland"], "tasks": ["detection"],
                        "bbox": [[47.8, 3.0], [47.8001, 3.0001]]}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [3.0, 47.8]},
         "properties": {"labels": ["water"], "tasks": ["prompts"]}},
    ]  # fmt: skip
    (out / "tile_labels.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    export = read_scaneo_export(out)
    assert export.layout == "labels.json" and export.labels == LABELS
    found = [f["properties"] for f in export.annotations["tile.tif"]["features"]]
    assert [(p["label"], p["task"]) for p in found] == [
        ("water", "classification"), ("forest", "classification"), ("cropland", "detection"),
    ]  # fmt: skip
    assert found[2]["bbox"] == [[47.8, 3.0], [47.8001, 3.0001]]
    assert not rasterize_export(export)["tile.tif"].any()  # no segmentation feature


def test_an_older_layout_label_missing_from_labels_json_is_named(tmp_path: Path) -> None:
    out = tmp_path / "old"
    out.mkdir()
    _image(out / "tile.tif")
    (out / "labels.json").write_text(json.dumps({"labels": [{"name": "water", "color": "#000"}]}))
    feature = {"type": "Feature", "geometry": None,
               "properties": {"labels": ["glacier"], "tasks": ["classification"]}}  # fmt: skip
    (out / "tile_labels.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [feature]})
    )
    with pytest.raises(
        ScaneoFormatError, match="tile_labels.geojson: feature 0 has label 'glacier'"
    ):
        read_scaneo_export(out)


def test_a_folder_that_is_no_export_names_both_layouts(tmp_path: Path) -> None:
    _image(tmp_path / "only-an-image.tif")
    with pytest.raises(ScaneoFormatError, match="not a SCANEO export.*spai.json.*labels.json"):
        read_scaneo_export(tmp_path)
    with pytest.raises(ScaneoFormatError, match="is not a folder"):
        read_scaneo_export(tmp_path / "missing")


@pytest.mark.parametrize("layout", ["spai.json", "labels.json"])
def test_a_label_catalog_reads_back_as_the_export(tmp_path: Path, layout: str) -> None:
    source = _rgb_image(tmp_path / "source.tif")
    export = write_scaneo_export(
        tmp_path / "export", {"tile-a": source}, {"tile-a": _mask()}, LABELS, layout=layout
    )
    write_label_catalog(export, tmp_path / "catalog")
    back = read_label_catalog(tmp_path / "catalog")
    assert back.labels == LABELS
    (image,) = back.annotations
    assert image.endswith("tile-a.tif")
    np.testing.assert_array_equal(
        rasterize_export(back)[image], rasterize_export(export)["tile-a.tif"]
    )
    with pytest.raises(ScaneoFormatError, match="not a STAC label catalog"):
        read_label_catalog(tmp_path / "export")
