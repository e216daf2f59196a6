"""Saving, loading and publishing encoders; embedding real-layout Sentinel-2 GeoTIFFs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pystac
import pytest
import rasterio
import torch
from onnx.reference import ReferenceEvaluator
from rasterio.transform import from_origin

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.models import (
    SensorEncoder,
    band_name,
    embed_geotiff,
    export_onnx,
    load_encoder,
    match_bands,
    mlm_item,
    save_encoder,
    write_item,
)
from eotdl_tutorials.models.geotiff import EUROSAT_13, L2A_12

TINY = "test_resnet"
S2_STATS = BandStats(L2A_12, tuple(np.linspace(0.05, 0.3, 12)), tuple(np.linspace(0.02, 0.1, 12)))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    encoder = SensorEncoder("s2", S2_STATS, arch=TINY, input_size=16).eval()
    folder = tmp_path_factory.mktemp("model")
    return save_encoder(encoder, folder, {"dn_scale": 1e-4, "dn_offset": -0.1})


def test_saved_encoder_loads_with_the_same_outputs(model_dir):
    torch.manual_seed(0)
    original = SensorEncoder("s2", S2_STATS, arch=TINY, input_size=16).eval()
    loaded = load_encoder(model_dir)
    assert loaded.bands == L2A_12 and loaded.stats == S2_STATS and loaded.input_size == 16
    x = torch.rand(3, 12, 16, 16) * 0.3
    with torch.no_grad():
        assert torch.allclose(loaded(x), original(x))


def test_loading_a_missing_or_foreign_model_is_a_clear_error(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="holds no trained encoder"):
        load_encoder(tmp_path)
    foreign = SensorEncoder(
        "hr", BandStats(("red", "green", "blue", "nir"), (0.1,) * 4, (0.1,) * 4), arch=TINY
    )
    save_encoder(foreign, tmp_path)
    config = json.loads((model_dir / "encoder.json").read_text())
    (tmp_path / "encoder.json").write_text(json.dumps(config))  # s2 record, hr weights
    with pytest.raises(ValueError, match="does not hold the weights of a test_resnet s2 encoder"):
        load_encoder(tmp_path)


def test_onnx_export_is_valid_and_matches_the_backbone(tmp_path, model_dir):
    encoder = load_encoder(model_dir)
    path = export_onnx(encoder, tmp_path / "encoder.onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model)
    x = torch.randn(3, 12, 24, 24)  # another batch and size than the export example
    expected = encoder.backbone(x).detach().numpy()
    (result,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x.numpy()})
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_mlm_item_describes_bands_size_and_normalisation(tmp_path, model_dir):
    encoder = load_encoder(model_dir)
    item = mlm_item(encoder, "bt-s2", bbox=(5.0, 45.0, 6.0, 46.0))
    path = write_item(item, tmp_path)
    record = json.loads(path.read_text())
    assert any("mlm" in uri for uri in record["stac_extensions"])
    props = record["properties"]
    assert props["mlm:architecture"] == TINY and props["mlm:framework"] == "pytorch"
    (model_input,) = props["mlm:input"]
    assert model_input["bands"] == list(L2A_12)
    assert model_input["input"]["shape"] == [-1, 12, 16, 16]
    assert model_input["input"]["dim_order"] == ["batch", "bands", "height", "width"]
    scaling = model_input["value_scaling"]
    assert [s["type"] for s in scaling] == ["z-score"] * 12
    assert [s["mean"] for s in scaling] == pytest.approx(S2_STATS.mean)
    assert props["mlm:output"][0]["result"]["shape"] == [-1, encoder.embed_dim]
    assert {"weights", "onnx", "config"} <= set(record["assets"])
    assert pystac.Item.from_dict(record).id == "bt-s2"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("B04", "red"),
        ("B4", "red"),
        ("b8a", "nir08"),
        ("B8A", "nir08"),
        ("red", "red"),
        ("SWIR16", "swir16"),
        ("B10", "cirrus"),
        ("vv", "vv"),
        ("Band 1", None),
        ("", None),
    ],
)
def test_band_names(text, name):
    assert band_name(text) == name


def _write(path, data, descriptions=None, dtype="uint16"):
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": dtype,
        "crs": "EPSG:32631",
        "transform": from_origin(600000, 5000000, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype))
        for i, text in enumerate(descriptions or []):
            dst.set_band_description(i + 1, text)
    return path


@pytest.fixture(scope="module")
def l2a(tmp_path_factory):
    """A 12-band L2A chip (reflectance*1e4 + 1000) and its reflectance."""
    rng = np.random.default_rng(0)
    reflectance = rng.uniform(0.02, 0.4, (12, 32, 32))
    return np.round((reflectance + 0.1) * 1e4), tmp_path_factory.mktemp("tif")


def test_embed_12_band_l2a_by_count(l2a, model_dir):
    dn, folder = l2a
    embedding = embed_geotiff(_write(folder / "l2a.tif", dn), model_dir)
    encoder = load_encoder(model_dir)
    with torch.no_grad():
        expected = encoder(torch.from_numpy(dn * 1e-4 - 0.1).float()[None])[0].numpy()
    assert embedding.shape == (encoder.embed_dim,)
    np.testing.assert_allclose(embedding, expected, atol=1e-4)


def test_13_band_eurosat_order_and_descriptions_map_to_the_same_bands(l2a, model_dir):
    dn, folder = l2a
    reference = embed_geotiff(_write(folder / "ref.tif", dn), model_dir)
    # EuroSAT L1C: B01..B12 with B10, then B8A; no +1000 offset.
    by_name = dict(zip(L2A_12, dn - 1000, strict=True)) | {"cirrus": np.full((32, 32), 7.0)}
    eurosat = np.stack([by_name[name] for name in EUROSAT_13])
    np.testing.assert_allclose(
        embed_geotiff(_write(folder / "eurosat.tif", eurosat), model_dir), reference, atol=1e-4
    )
    order = np.random.default_rng(1).permutation(12)
    names = [
        f"B{n}" for n in ("01", "02", "03", "04", "05", "06", "07", "08", "8A", "09", "11", "12")
    ]
    shuffled = _write(folder / "described.tif", dn[order], [names[i] for i in order])
    np.testing.assert_allclose(embed_geotiff(shuffled, model_dir), reference, atol=1e-4)


def test_tiles_and_explicit_scaling(l2a, model_dir):
    dn, folder = l2a
    grid = embed_geotiff(_write(folder / "tiles.tif", dn), model_dir, tile_size=16)
    assert grid.shape[:2] == (2, 2)
    floats = _write(folder / "float.tif", dn * 1e-4 - 0.1, dtype="float32")
    reference = embed_geotiff(folder / "tiles.tif", model_dir)
    np.testing.assert_allclose(embed_geotiff(floats, model_dir), reference, atol=1e-4)


def test_files_whose_bands_cannot_be_matched_are_clear_errors(l2a, model_dir):
    dn, folder = l2a
    with pytest.raises(ValueError, match="cannot tell which bands .* 3 bands"):
        embed_geotiff(_write(folder / "rgb.tif", dn[:3]), model_dir)
    rgbn = _write(folder / "rgbn.tif", dn[:4], ["red", "green", "blue", "nir"])
    with pytest.raises(ValueError, match="lacks bands coastal"):
        embed_geotiff(rgbn, model_dir)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        embed_geotiff(folder / "missing.tif", model_dir)
    with pytest.raises(ValueError, match="lacks bands"):
        match_bands([None] * 4, L2A_12)  # 4 bands = EarthView layout, not Sentinel-2
