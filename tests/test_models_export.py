"""Saving, loading and publishing models (any task, encoders); embedding real-layout GeoTIFFs."""

from __future__ import annotations

import json
import warnings

import numpy as np
import onnx
import pystac
import pytest
import rasterio
import torch
from onnx.reference import ReferenceEvaluator
from rasterio.transform import from_origin
from torch import nn

from eotdl_tutorials.data import BandStats
from eotdl_tutorials.models import (
    ModelCard,
    OffsetAssumed,
    band_name,
    carries_offset,
    match_bands,
    onnx_session,
    read_card,
    scaneo_rgb,
)
from eotdl_tutorials.models.bands import EUROSAT_13, L2A_12
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.models.encoder_io import (
    embed_geotiff,
    encoder_card,
    load_encoder,
    save_encoder,
)
from eotdl_tutorials.models.export import (
    Builder,
    Normalised,
    export_model,
    load_model,
    load_network,
)
from eotdl_tutorials.models.mlm import mlm_item, write_item
from eotdl_tutorials.models.normalise import BandNormalised
from eotdl_tutorials.models.onnx_export import export_onnx

TINY = "test_resnet"
S2_STATS = BandStats(L2A_12, tuple(np.linspace(0.05, 0.3, 12)), tuple(np.linspace(0.02, 0.1, 12)))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    encoder = SensorEncoder("s2", S2_STATS, arch=TINY, input_size=16).eval()
    folder = tmp_path_factory.mktemp("model")
    card = encoder_card(encoder, dn_scale=1e-4, dn_offset=-0.1)
    return save_encoder(encoder, folder, card).model_dir


def test_saved_encoder_loads_with_the_same_outputs(model_dir):
    torch.manual_seed(0)
    original = SensorEncoder("s2", S2_STATS, arch=TINY, input_size=16).eval()
    loaded = load_encoder(model_dir)
    assert loaded.bands == L2A_12 and loaded.stats == S2_STATS and loaded.input_size == 16
    x = torch.rand(3, 12, 16, 16) * 0.3
    with torch.no_grad():
        assert torch.allclose(loaded(x), original(x))


def test_loading_a_missing_or_foreign_model_is_a_clear_error(tmp_path, model_dir):
    with pytest.raises(FileNotFoundError, match="holds no exported model"):
        load_encoder(tmp_path)
    foreign = SensorEncoder(
        "hr", BandStats(("red", "green", "blue", "nir"), (0.1,) * 4, (0.1,) * 4), arch=TINY
    )
    save_encoder(foreign, tmp_path)
    config = json.loads((model_dir / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(config))  # s2 record, hr weights
    with pytest.raises(ValueError, match=r"does not hold the weights of encoder-s2-test_resnet"):
        load_encoder(tmp_path)


def test_onnx_export_is_valid_and_matches_the_backbone(tmp_path, model_dir):
    encoder = load_encoder(model_dir)
    path = export_onnx(encoder.backbone, tmp_path / "model.onnx", read_card(model_dir))
    model = onnx.load(path)
    onnx.checker.check_model(model)
    x = torch.randn(3, 12, 24, 24)  # another batch and size than the export example
    expected = encoder.backbone(x).detach().numpy()
    (result,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x.numpy()})
    np.testing.assert_allclose(result, expected, atol=1e-4)


def test_mlm_item_describes_bands_size_and_normalisation(tmp_path, model_dir):
    encoder = load_encoder(model_dir)
    card = read_card(model_dir)
    item = mlm_item(card, 1000, bbox=(5.0, 45.0, 6.0, 46.0))
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
    assert props["mlm:output"][0]["result"]["shape"] == [-1, -1] and encoder.embed_dim > 0
    assert {"weights", "onnx", "config"} <= set(record["assets"])
    assert pystac.Item.from_dict(record).id == card.name


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


def _write(path, data, descriptions=None, dtype="uint16", crs="EPSG:32631", nodata=None):
    degrees = crs == "EPSG:4326"
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": dtype,
        "crs": crs,
        "transform": from_origin(3.0, 45.0, 1e-4, 1e-4)
        if degrees
        else from_origin(600000, 5000000, 10, 10),
        "nodata": nodata,
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


def test_an_l2a_export_without_the_offset_is_told_by_its_data(l2a, model_dir):
    """A real export: 12-band int16 in EPSG:4326, no band descriptions, nodata 0, the +1000
    offset removed. Its dark pixels say it carries no offset: read with offset 0 and a warning;
    the same pixels with the offset read silently; an explicit offset is obeyed as given."""
    dn, folder = l2a
    reference = embed_geotiff(_write(folder / "offset.tif", dn), model_dir)
    without = dn - 1000
    without[:, 0, :4] = 0  # a nodata edge
    export = _write(folder / "export.tif", without, dtype="int16", crs="EPSG:4326", nodata=0)
    with pytest.warns(OffsetAssumed, match="carry no offset"):
        embedding = embed_geotiff(export, model_dir)
    edged = dn.copy()
    edged[:, 0, :4] = 0
    with_offset = _write(folder / "edged.tif", edged, dtype="int16", crs="EPSG:4326", nodata=0)
    np.testing.assert_allclose(embedding, embed_geotiff(with_offset, model_dir), atol=1e-4)
    assert np.abs(embedding - reference).max() < 0.5  # the same scene (but for its edge)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OffsetAssumed)
        embed_geotiff(with_offset, model_dir)
        told = embed_geotiff(export, model_dir, offset=-0.1)  # as the user says: no guess
    assert not np.allclose(told, embedding, atol=1e-3)


def test_carries_offset_reads_the_darkest_band():
    bright = np.full((3, 8, 8), 1400)
    bright[1, :2] = 980  # dark water with the offset: a little below 1000
    assert carries_offset(bright, -0.1, 1e-4, 0)
    assert not carries_offset(bright - 1000, -0.1, 1e-4, 0)
    assert carries_offset(np.zeros((3, 8, 8)), -0.1, 1e-4, 0)  # nothing valid: the card's


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


# --- Any task model: one folder, loaded back -----------------------------------------------------


@pytest.fixture(scope="module")
def multitask(tmp_path_factory):
    """A tiny multi-task U-Net (segmentation + classification) exported with ONNX."""
    from tiny_models import export_tiny, l2a_multitask_card, unet_builder

    return export_tiny(
        tmp_path_factory.mktemp("models"), l2a_multitask_card(), unet_builder(12, 3, aux=True)
    )


def test_a_task_model_round_trips_through_its_folder(multitask):
    from tiny_models import CLASSES, L2A_STATS, l2a_multitask_card, unet_builder

    folder = multitask.model_dir
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "catalog.json", "item.json", "model.json", "model.onnx", "model.pt", "stac"
    ]  # fmt: skip
    card = read_card(folder)
    assert card == l2a_multitask_card() and card.endpoints == ("segmentation", "classification")
    record = json.loads((folder / "model.json").read_text())
    assert record["output_indices"]["segmentation"] == {
        "no label": 0,
        "water": 1,
        "forest": 2,
        "urban": 3,
    }
    assert record["output_indices"]["classification"] == {name: i for i, name in enumerate(CLASSES)}
    assert record["preprocessing"] == "none" and "band count" in record["band_mapping"]
    torch.manual_seed(0)
    original = unet_builder(12, 3, aux=True).build().eval()
    values = torch.rand(2, 12, 40, 24) * 0.3
    mean = torch.tensor(L2A_STATS["mean"]).view(1, -1, 1, 1)
    normalised = (values - mean) / torch.tensor(L2A_STATS["std"]).view(1, -1, 1, 1)
    with torch.no_grad():
        expected = original(normalised)
        loaded = load_model(folder)(values)
    for got, want in zip(loaded, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-5)
    item = json.loads((folder / "item.json").read_text())
    outputs = {out["name"]: out for out in item["properties"]["mlm:output"]}
    assert [c["value"] for c in outputs["segmentation"]["classification:classes"]] == [0, 1, 2, 3]
    assert outputs["segmentation"]["classification:classes"][0]["name"] == "no label"
    assert len(item["properties"]["mlm:input"][0]["value_scaling"]) == 12


def test_onnx_runtime_equals_pytorch_within_1e_4(multitask):
    assert 0 <= multitask.onnx_max_abs_diff <= 1e-4
    session = onnx_session(multitask.model_dir)
    assert [o.name for o in session.get_outputs()] == ["segmentation", "classification"]
    network = load_network(multitask.model_dir)
    x = torch.randn(3, 12, 48, 72)  # another batch and size than the export example
    mask, scores = session.run(None, {"input": x.numpy()})
    with torch.no_grad():
        want_mask, want_scores = network(x)
    assert mask.shape == (3, 4, 48, 72) and scores.shape == (3, 3)
    np.testing.assert_allclose(mask, want_mask.numpy(), atol=1e-4)
    np.testing.assert_allclose(scores, want_scores.numpy(), atol=1e-4)


def test_bad_model_folders_are_clear_errors(tmp_path, multitask):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="holds no exported model"):
        load_model(tmp_path)
    (tmp_path / "model.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        read_card(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="is not a model card"):
        read_card(tmp_path)
    record = json.loads((multitask.model_dir / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(record | {"task": "detection"}))
    with pytest.raises(ValueError, match="invalid card: unknown task 'detection'"):
        read_card(tmp_path)
    (tmp_path / "model.json").write_text(json.dumps(record))
    with pytest.raises(FileNotFoundError, match="model.pt is missing"):
        load_model(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="cannot be read as a state dict"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="model.onnx is missing"):
        onnx_session(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot be loaded by ONNX Runtime"):
        onnx_session(tmp_path)
    evil = record | {"builder": {"factory": "os:system", "kwargs": {"command": "true"}}}
    (tmp_path / "model.json").write_text(json.dumps(evil))
    with pytest.raises(ValueError, match="is not 'package.module:name' in one of"):
        load_model(tmp_path)


def test_export_refuses_a_card_that_does_not_fit_the_network(tmp_path):
    from tiny_models import classifier_builder, rgb_classification_card, unet_builder

    builder = unet_builder(12, 3)
    card = ModelCard(
        "wrong", "segmentation", "unet", L2A_12, input_size=64, multiple=8,
        classes=("a", "b"), dn_scale=1e-4, dn_offset=-0.1,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"segmentation output .* expected \(1, 3, 64, 64\)"):
        export_model(builder.build(), tmp_path, card, builder)
    with pytest.raises(ValueError, match="does not hold the weights of rgb-cls"):
        export_model(
            classifier_builder(3, 3).build(), tmp_path, rgb_classification_card(),
            classifier_builder(4, 3),
        )  # fmt: skip
    with pytest.raises(ValueError, match="SCANEO's S2RGB reads red, green, blue"):
        ModelCard("x", "classification", "a", L2A_12, 32, classes=("a", "b"), preprocessing="S2RGB")
    with pytest.raises(ValueError, match="at least 2 classes"):
        ModelCard("x", "segmentation", "a", L2A_12, 32)
    with pytest.raises(ValueError, match="scale_factor > 1"):
        ModelCard("x", "superres", "a", L2A_12, 32)
    assert not any(tmp_path.iterdir())  # nothing half-written
    with pytest.raises(ValueError, match="is not 'package.module:name'"):
        Builder("tests.evil:thing").build()


def test_scaneo_rgb_is_what_scaneo_sends():
    raw = np.array([[[0]], [[1500]], [[3000]], [[6000]]], np.uint16)  # B01..B04
    s2 = scaneo_rgb(raw, "S2RGB")  # bands 4, 3, 2
    assert s2.dtype == np.uint8 and s2[:, 0, 0].tolist() == [255, 255, 127]
    sat = scaneo_rgb(raw, "SATRGB")  # 0-based bands 1, 2, 3
    np.testing.assert_allclose(sat[:, 0, 0], [0.5, 1.0, 1.0])


def test_one_normalisation_layer_keeps_its_buffers_and_operations():
    """Every model normalises through BandNormalised: (x - mean) / std in float32, its buffers
    saved as "mean"/"std" at the top of the state dict (exported folders load by these keys)."""
    layer = BandNormalised([0.1, 0.2], [0.5, 0.25])
    x = torch.rand(2, 2, 4, 4)
    mean, std = torch.tensor([[[[0.1]], [[0.2]]]]), torch.tensor([[[[0.5]], [[0.25]]]])
    assert torch.equal(layer.normalise(x), (x - mean) / std)
    encoder = SensorEncoder("s2", S2_STATS, arch=TINY, input_size=16)
    assert {"mean", "std"} <= set(encoder.state_dict()) and encoder.mean.dtype == torch.float32
    identity = ModelCard("none", "embedding", TINY, L2A_12, 16)  # normalisation "none"
    assert set(dict(Normalised(nn.Identity(), identity).named_buffers())) == {"mean", "std"}
    y = torch.rand(1, 12, 8, 8)
    assert torch.equal(Normalised(nn.Identity(), identity)(y), y)
