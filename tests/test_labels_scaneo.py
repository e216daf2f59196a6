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
