"""Use case D: label transfers, metrics, the index baseline, the U-Net, whole-scene prediction."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
import torch
from rasterio.transform import from_origin

from eotdl_tutorials.cli import main
from eotdl_tutorials.facts.sensors import S2_BANDS
from eotdl_tutorials.matching.rasters import ChipGrid
from eotdl_tutorials.models import OffsetAssumed
from eotdl_tutorials.roads import (
    RoadNet,
    check_transfers,
    connectivity,
    dataset_scores,
    export_road_model,
    fit_index_threshold,
    fraction_labels,
    iou_gap,
    load_road_model,
    nearest_labels,
    per_image_iou,
    predict_scene,
    relaxed_f1,
    road_fraction,
    road_graph,
    summarize_transfers,
    vector_labels,
)

EPSG = 32631
X0, Y0 = 500_000.0, 5_300_000.0


def _write_mask(path: Path, mask: np.ndarray) -> None:
    with rasterio.open(
        path, "w", driver="GTiff", width=mask.shape[1], height=mask.shape[0], count=1,
        dtype="uint8", crs=f"EPSG:{EPSG}", transform=from_origin(X0, Y0, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(mask.astype(np.uint8) * 255, 1)


@pytest.fixture
def thin_road(tmp_path: Path) -> tuple[Path, gpd.GeoDataFrame, ChipGrid]:
    """A 100 m square at 1 m with one 4 m wide north-south road whose axis is x = 20 m (it
    misses every 10 m pixel centre: those are at 5, 15, 25 m)."""
    mask = np.zeros((100, 100), bool)
    mask[:, 18:22] = True
    path = tmp_path / "mask.tif"
    _write_mask(path, mask)
    line = shapely.LineString([(X0 + 20, Y0), (X0 + 20, Y0 - 100)])
    roads = gpd.GeoDataFrame({"width": [4.0]}, geometry=[line], crs=EPSG).to_crs(4326)
    return path, roads, ChipGrid(EPSG, (X0, Y0 - 100, X0 + 100, Y0), 10, 10)


def test_nearest_resizing_loses_a_thin_road_that_the_other_transfers_keep(thin_road):
    mask_path, roads, grid = thin_road
    assert nearest_labels(mask_path, grid).sum() == 0
    fraction = road_fraction(mask_path, grid)
    assert np.allclose(fraction[:, 1], 0.2) and np.allclose(fraction[:, 2], 0.2)
    assert fraction_labels(fraction, 0.2)[:, 1:3].all()
    assert fraction_labels(fraction, 0.25).sum() == 0
    vectors = vector_labels(roads, grid)
    assert vectors[:, 1:3].all() and vectors.sum() == 20
    summary = summarize_transfers(
        {"nearest": nearest_labels(mask_path, grid)[None], "vector_width": vectors[None]},
        fraction[None],
    )
    assert summary.loc["nearest", "road_share_percent"] == 0
    assert summary.loc["vector_width", "pieces_per_chip"] == 1


def test_transfer_names_are_checked_against_the_transfers_built():
    check_transfers(["area_fraction", "vector_width"])
    with pytest.raises(ValueError, match="choose one or more of area_fraction"):
        check_transfers(["area_fraction", "bilinear"])
    with pytest.raises(ValueError, match="choose"):
        check_transfers([])


def test_vector_labels_need_widths(thin_road):
    _, roads, grid = thin_road
    with pytest.raises(ValueError, match="width"):
        vector_labels(roads.drop(columns="width"), grid)
    with pytest.raises(ValueError, match="threshold"):
        fraction_labels(np.zeros((2, 2)), 0)


def _cross(size: int = 40) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[10, :] = mask[:, 20] = mask[30, 5:35] = True
    return mask


def test_dataset_iou_and_eotdls_per_image_iou_differ_on_empty_images():
    truth = np.zeros((4, 10, 10), bool)
    truth[0, 2:5, :] = True
    pred = np.zeros_like(truth)  # predicts nothing anywhere
    assert dataset_scores(pred, truth).iou == 0
    assert per_image_iou(pred, truth) == 0.75  # three empty images score 1 each
    with pytest.raises(ValueError, match="shape"):
        dataset_scores(pred[0], truth)


def test_relaxed_f1_forgives_one_pixel():
    truth = _cross()[None]
    shifted = np.roll(truth, 1, axis=1)
    assert dataset_scores(shifted, truth).iou < 0.3
    assert relaxed_f1(shifted, truth, tolerance=1) == 1.0
    assert relaxed_f1(np.roll(truth, 3, axis=1), truth, tolerance=1) < 0.5


def test_connectivity_sees_a_cut_that_pixels_barely_see():
    truth = _cross()
    cut = truth.copy()
    cut[10, 24:27] = False  # three pixels out of more than a hundred
    assert connectivity([truth], [truth]) == pytest.approx(1.0)
    assert dataset_scores(cut, truth).iou > 0.95
    assert connectivity([cut], [truth]) < 0.95
    assert connectivity([np.zeros_like(truth)], [truth]) == 0.0
    graph = road_graph(truth)
    assert graph.number_of_nodes() >= 6 and all("length" in d for *_, d in graph.edges(data=True))


def test_score_rows_carry_the_results_file_keys():
    from eotdl_tutorials.roads import score_row

    truth = np.stack([_cross(), np.zeros((40, 40), bool)])
    rows = [
        score_row("index_threshold", "area_fraction", np.zeros_like(truth), truth),
        score_row("unet", "vector_width", truth, truth, bands="rgb"),
    ]
    keys = ["method", "label_transfer", "iou", "f1", "relaxed_f1", "per_image_iou", "connectivity"]
    assert all(list(row)[: len(keys)] == keys for row in rows)
    assert rows[1]["bands"] == "rgb" and rows[1]["iou"] == rows[1]["connectivity"] == 1.0
    assert rows[0]["iou"] == rows[0]["f1"] == 0.0 and rows[0]["per_image_iou"] == 0.5


def test_index_threshold_is_tuned_on_the_data_it_is_given():
    rng = np.random.default_rng(0)
    bands = tuple(b.common_name for b in S2_BANDS)
    images = rng.uniform(0.05, 0.1, (3, len(bands), 16, 16)).astype(np.float32)
    labels = np.zeros((3, 16, 16), np.uint8)
    labels[:, 5:7, :] = 1
    nir = bands.index("nir")
    images[:, nir] = np.where(labels == 1, 0.1, 0.4)  # vegetation around, a bare road
    baseline = fit_index_threshold(images, labels, bands)
    assert baseline.train_iou == 1.0
    assert (baseline.predict(images, bands) == labels.astype(bool)).all()
    with pytest.raises(ValueError, match="no index"):
        fit_index_threshold(images[:, :1], labels, bands[:1])


def _model() -> RoadNet:
    torch.manual_seed(0)
    bands = ("red", "green", "blue", "nir")
    return RoadNet(bands, [0.1] * 4, [0.05] * 4, "resnet18", 3, (16, 8, 4)).eval()


def test_road_net_takes_any_size_and_no_data(tmp_path: Path):
    model = _model()
    x = torch.rand(2, 4, 37, 45)
    x[0, :, :5] = float("nan")
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (2, 1, 37, 45) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="bands"):
        model(torch.rand(1, 3, 32, 32))
    exported = export_road_model(model, tmp_path / "m", "roads-test", input_size=32)
    assert exported.onnx_max_abs_diff is not None and exported.onnx_max_abs_diff <= 1e-4
    assert {"model.json", "model.pt", "model.onnx", "item.json"} <= set(
        p.name for p in (tmp_path / "m").iterdir()
    )
    loaded, card = load_road_model(tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(loaded(x), logits, atol=1e-5)
    assert card.task == "segmentation" and card.classes == ("background", "road")
    assert card.output_indices("segmentation") == {"no label": 0, "background": 1, "road": 2}
    assert card.bands == model.bands and card.dn_offset == -0.1
    with pytest.raises(FileNotFoundError, match="model"):
        load_road_model(tmp_path)


def test_exported_road_model_speaks_the_shared_segmentation_convention(tmp_path: Path):
    from eotdl_tutorials.models.export import load_model

    model = _model()
    export_road_model(model, tmp_path / "m", "roads-test", input_size=32, onnx=False)
    shared = load_model(tmp_path / "m")  # what use case C's inference API loads
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        logits = shared(x)
        road = torch.sigmoid(model(x))[:, 0]
    assert logits.shape == (1, 3, 32, 32)
    assert torch.allclose(torch.softmax(logits, 1)[:, 2], road, atol=1e-5)


def _write_scene(path: Path, width: int, height: int, crs: str = f"EPSG:{EPSG}", res=10.0,
                 count: int = 12, describe: bool = True) -> None:  # fmt: skip
    rng = np.random.default_rng(1)
    data = rng.integers(1500, 3000, (count, height, width)).astype(np.uint16)
    data[:, :, :3] = 0  # a no-data edge
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=count, dtype="uint16",
        crs=crs, transform=from_origin(X0 if res == 10.0 else 3.0, Y0 if res == 10.0 else 47.8,
                                       res, res), nodata=0,
    ) as dst:  # fmt: skip
        dst.write(data)
        if describe:
            for i, band in enumerate(S2_BANDS[:count], start=1):
                dst.set_band_description(i, band.name)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return export_road_model(_model(), tmp_path / "model", "roads-test", 32, onnx=False).model_dir


def test_use_case_c_inference_api_serves_the_exported_road_model(tmp_path: Path):
    from fastapi.testclient import TestClient

    from eotdl_tutorials.serving import create_app, load_models

    export_road_model(_model(), tmp_path / "models" / "roads-test", "roads-test", input_size=32)
    models = load_models(tmp_path / "models")
    client = TestClient(create_app(models))
    listed = {m["name"]: m for m in client.get("/models").json()}
    assert listed["roads-test"]["urls"] == {"segmentation": "/models/roads-test/segmentation"}
    assert listed["roads-test"]["classes"] == ["background", "road"]
    scene = tmp_path / "scene.tif"
    _write_scene(scene, 50, 40)
    answer = client.post(
        "/models/roads-test/segmentation",
        files={"image": ("scene.tif", scene.read_bytes(), "image/tiff")},
    )
    assert answer.status_code == 200, answer.text
    with rasterio.open(io.BytesIO(answer.content)) as mask, rasterio.open(scene) as ref:
        assert (mask.count, mask.dtypes[0]) == (1, "uint8")
        assert (mask.crs, mask.transform, mask.shape) == (ref.crs, ref.transform, ref.shape)
        classes = mask.read(1)
    assert set(np.unique(classes[:, 3:])) <= {1, 2}  # background, road: never "no label"
    local = predict_scene(scene, tmp_path / "models" / "roads-test", tmp_path / "p", progress=False)
    with rasterio.open(local.probability) as src:
        road = src.read(1)[:, 3:] >= 0.5
    assert np.mean((classes[:, 3:] == 2) == road) > 0.9


def test_predict_scene_small_scene_keeps_no_data(tmp_path: Path, model_dir: Path):
    scene = tmp_path / "scene.tif"
    _write_scene(scene, 50, 40)  # smaller than one 128 px tile
    result = predict_scene(scene, model_dir, tmp_path / "out", progress=False)
    assert not result.warped and result.band_mapping == "band descriptions"
    with rasterio.open(result.probability) as src, rasterio.open(scene) as ref:
        assert (src.crs, src.transform, src.shape) == (ref.crs, ref.transform, ref.shape)
        prob = src.read(1)
        assert (prob[:, :3] == src.nodata).all()
        assert ((prob[:, 3:] >= 0) & (prob[:, 3:] <= 1)).all()
    lines = gpd.read_file(result.roads)
    assert lines.crs.to_epsg() == 4326


def test_predict_scene_in_a_geographic_crs_is_warped_and_written_on_its_grid(
    tmp_path: Path, model_dir: Path
):
    scene = tmp_path / "geographic.tif"
    _write_scene(scene, 60, 40, crs="EPSG:4326", res=0.0001)
    result = predict_scene(scene, model_dir, tmp_path / "geo", progress=False)
    assert result.warped
    with rasterio.open(result.probability) as src:
        assert src.crs.to_epsg() == 4326 and src.shape == (40, 60)
        assert (src.read(1)[:, :3] == src.nodata).all()


def test_unmappable_bands_fail_clearly_and_write_nothing(tmp_path: Path, model_dir: Path, capsys):
    scene = tmp_path / "five.tif"
    _write_scene(scene, 40, 40, count=5, describe=False)
    status = main(["roads", "predict", str(scene), "--model", str(model_dir),
                   "--out", str(tmp_path / "out"), "--quiet"])  # fmt: skip
    assert status == 2
    assert "cannot tell which bands" in capsys.readouterr().err
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))
    good = tmp_path / "good.tif"
    _write_scene(good, 40, 40)
    status = main(["roads", "predict", str(good), "--model", str(model_dir),
                   "--out", str(tmp_path / "good"), "--quiet"])  # fmt: skip
    assert status == 0
    assert (tmp_path / "good_probability.tif").is_file()
    assert (tmp_path / "good_roads.geojson").is_file()


def test_an_l2a_export_without_the_offset_is_read_right(tmp_path: Path, model_dir: Path):
    """A 12-band int16 L2A export in EPSG:4326 without band descriptions, scale tags nor the
    +1000 offset (what Google Earth Engine or Sentinel Hub give): read by band count, and with
    ``--offset 0``, or by its dark pixels without it, predicted as the same reflectance in the
    course's own encoding; an explicit offset is obeyed."""
    rng = np.random.default_rng(2)
    reflectance = rng.uniform(0.02, 0.4, (12, 40, 60))
    grid = {"driver": "GTiff", "width": 60, "height": 40, "count": 12, "crs": "EPSG:4326",
            "transform": from_origin(3.0, 47.8, 0.0001, 0.0001), "nodata": 0}  # fmt: skip
    export, encoded = tmp_path / "export.tif", tmp_path / "encoded.tif"
    with rasterio.open(export, "w", dtype="int16", **grid) as dst:
        dst.write(np.round(reflectance * 10000).astype(np.int16))
    with rasterio.open(encoded, "w", dtype="uint16", **grid) as dst:  # DN + 1000, as L2A
        dst.write(np.round(reflectance * 10000 + 1000).astype(np.uint16))
        dst.scales, dst.offsets = [1e-4] * 12, [-0.1] * 12
    status = main(["roads", "predict", str(export), "--model", str(model_dir), "--out",
                   str(tmp_path / "export"), "--offset", "0", "--quiet"])  # fmt: skip
    assert status == 0
    reference = predict_scene(encoded, model_dir, tmp_path / "encoded", progress=False)
    with (
        rasterio.open(tmp_path / "export_probability.tif") as a,
        rasterio.open(reference.probability) as b,
    ):
        assert np.allclose(a.read(1), b.read(1), atol=1e-4)
    with pytest.warns(OffsetAssumed, match="carry no offset"):  # its dark pixels tell
        guessed = predict_scene(export, model_dir, tmp_path / "guessed", progress=False)
    assert guessed.warped and guessed.band_mapping.startswith("Sentinel-2 L2A")  # by count
    with rasterio.open(guessed.probability) as a, rasterio.open(reference.probability) as b:
        assert np.allclose(a.read(1), b.read(1), atol=1e-4)
    told = predict_scene(export, model_dir, tmp_path / "told", offset=-0.1, progress=False)
    with rasterio.open(told.probability) as a, rasterio.open(reference.probability) as b:
        assert not np.allclose(a.read(1), b.read(1), atol=1e-4)  # as told: 0.1 low


def _aerial(ci_world: Path, folder: Path, **split):
    from eotdl_tutorials.roads import read_aerial_roads, write_aerial_roads
    from eotdl_tutorials.world import open_world

    write_aerial_roads(open_world(ci_world), folder, progress=False, **split)
    return read_aerial_roads(folder)


def test_aerial_roads_of_the_ci_world_follow_the_massachusetts_layout(
    ci_world: Path, tmp_path: Path
):
    import pandas as pd

    from eotdl_tutorials.roads import SPLIT_FOLDERS

    aerial = _aerial(ci_world, tmp_path / "aerial", test_regions=["rhine-east"])
    root = tmp_path / "aerial"
    for name in ("train", "val", "test"):
        assert (root / "tiff" / name).is_dir() and (root / "tiff" / f"{name}_labels").is_dir()
    assert set(SPLIT_FOLDERS.values()) == {"train", "val", "test"}
    assert not list(tmp_path.glob(".aerial.*"))  # the temporary folder is gone
    index = aerial.index
    assert len(index) == len(pd.read_parquet(ci_world / "roads" / "images.parquet"))
    # split by place: a region is in one split only, the held-out one is the test split
    assert (index.groupby("region")["split"].nunique() == 1).all()
    assert set(index.loc[index["split"] == "test", "region"]) == {"rhine-east"}
    for row in index.itertuples():
        image, label = Path(row.image), Path(row.label)
        folder = SPLIT_FOLDERS[row.split]
        assert image.parent == root / "tiff" / folder and image.suffix == ".tiff"
        assert label.parent == root / "tiff" / f"{folder}_labels" and label.name == f"{row.id}.tif"
        with rasterio.open(image) as img, rasterio.open(label) as lab:
            assert img.count == 3 and lab.count == 1 and lab.dtypes[0] == "uint8"
            assert img.crs is not None and img.crs == lab.crs and img.transform == lab.transform
            assert img.res == (1.0, 1.0) and (img.width, img.height) == (1500, 1500)
            values = np.unique(lab.read(1))
        assert set(values.tolist()) == {0, 255}
    metadata = pd.read_csv(root / "metadata.csv")
    assert {"image_id", "split", "tiff_image_path", "tif_label_path"} <= set(metadata.columns)
    assert all((root / p).is_file() for p in metadata["tif_label_path"])
    roads = aerial.read_roads()
    assert roads.crs.to_epsg() == 4326 and (roads["width"] > 0).all()
    # the mask is the road vectors buffered to their width
    row = index.iloc[0]
    with rasterio.open(row["label"]) as lab:
        mask = lab.read(1) > 0
        grid = ChipGrid(int(row["epsg"]), tuple(lab.bounds), lab.width, lab.height)
    burnt = vector_labels(roads, grid, all_touched=False).astype(bool)
    assert (mask & burnt).sum() / (mask | burnt).sum() > 0.99


def test_aerial_roads_incomplete_or_ungeoreferenced_fail_clearly(ci_world: Path, tmp_path: Path):
    from eotdl_tutorials.roads import AerialRoadsError, read_aerial_roads

    aerial = _aerial(ci_world, tmp_path / "aerial")
    Path(aerial.index["label"].iloc[0]).unlink()
    with pytest.raises(AerialRoadsError, match="incomplete.*no partner"):
        read_aerial_roads(tmp_path / "aerial")
    (tmp_path / "aerial" / "tiff" / "val_labels").rmdir()
    with pytest.raises(AerialRoadsError, match="no tiff/val_labels"):
        read_aerial_roads(tmp_path / "aerial")
    with pytest.raises(AerialRoadsError, match="no tiff/ folder"):
        read_aerial_roads(tmp_path)
    plain = tmp_path / "plain"
    for name in ("train", "val", "test"):
        (plain / "tiff" / name).mkdir(parents=True)
        (plain / "tiff" / f"{name}_labels").mkdir()
    array = np.zeros((3, 8, 8), np.uint8)
    for path, count in ((plain / "tiff/train/a.tiff", 3), (plain / "tiff/train_labels/a.tif", 1)):
        with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=count,
                           dtype="uint8") as dst:  # fmt: skip
            dst.write(array[:count])
    with pytest.raises(AerialRoadsError, match="not georeferenced"):
        read_aerial_roads(plain)


def test_graded_road_masks_are_road_above_127_and_said_so(ci_world: Path, tmp_path: Path):
    """A lossy or resampled copy of the release holds mask values between 0 and 255: road
    above 127, with a warning naming how many masks; the transfers read it so."""
    from eotdl_tutorials.roads import GradedMasks, read_aerial_roads

    aerial = _aerial(ci_world, tmp_path / "aerial")
    row = aerial.index.iloc[0]
    with rasterio.open(row["label"]) as src:
        clean, profile = src.read(1), src.profile
        grid = ChipGrid(int(row["epsg"]), tuple(src.bounds), src.width // 10, src.height // 10)
    before = road_fraction(row["label"], grid)
    graded = np.where(clean > 0, 200, 30).astype(np.uint8)  # road 200, background 30
    with rasterio.open(row["label"], "w", **profile) as dst:
        dst.write(graded, 1)
    with pytest.warns(GradedMasks, match=f"1 of the {len(aerial.index)} road masks"):
        read_aerial_roads(tmp_path / "aerial")
    assert np.array_equal(road_fraction(row["label"], grid), before)


def test_road_dataset_of_the_ci_world(ci_world: Path, tmp_path: Path):
    from eotdl_tutorials.roads import build_road_dataset, read_road_dataset
    from eotdl_tutorials.world import open_world

    world = open_world(ci_world)
    aerial = _aerial(ci_world, tmp_path / "aerial", test_regions=["rhine-east"])
    dataset = build_road_dataset(aerial, world, tmp_path / "roads", progress=False)
    n = len(dataset.index)
    assert n >= 4 and dataset.images.shape == (n, 10, 150, 150)
    assert set(dataset.index["mask"]) <= set(aerial.index["label"])
    test_rows = dataset.split("test")
    assert set(dataset.index["region"].iloc[test_rows]) == {"rhine-east"}
    assert "rhine-east" not in set(dataset.index["region"].iloc[dataset.split("train")])
    assert (dataset.index["dt_days"].abs() <= 30).all()
    assert np.isfinite(dataset.images).mean() > 0.99
    shares = {k: v.mean() for k, v in dataset.labels.items()}
    assert 0 < shares["nearest"] < shares["area_fraction"] < shares["vector_width"] < 0.3
    again = read_road_dataset(tmp_path / "roads")
    assert np.array_equal(again.labels["vector_width"], dataset.labels["vector_width"])
    with pytest.raises(ValueError, match="no road images in regions"):
        _aerial(ci_world, tmp_path / "other", test_regions=["atlantis"])
    assert not (tmp_path / "other").exists()


def test_the_unet_can_start_from_a_use_case_a_encoder(tmp_path: Path):
    from eotdl_tutorials.data import BandStats
    from eotdl_tutorials.models.encoder import SensorEncoder
    from eotdl_tutorials.models.encoder_io import save_encoder
    from eotdl_tutorials.roads import init_from_encoder

    torch.manual_seed(1)
    stats = BandStats(("blue", "green", "red"), (0.1,) * 3, (0.05,) * 3)
    encoder = SensorEncoder("s2", stats, arch="resnet18", input_size=32)
    save_encoder(encoder, tmp_path / "bt", onnx=False)
    model = _model()  # reads red, green, blue, nir
    missing = init_from_encoder(model, tmp_path / "bt")
    assert missing == ["nir"]
    conv = model.unet.encoder.state_dict()["conv1.weight"]
    source = encoder.backbone.state_dict()["conv1.weight"]
    assert torch.equal(conv[:, 0], source[:, 2]) and torch.equal(conv[:, 2], source[:, 0])
    assert not conv[:, 3].any()
    layer = "layer1.0.conv1.weight"
    assert torch.equal(model.unet.encoder.state_dict()[layer], encoder.backbone.state_dict()[layer])


def test_iou_gap_recomputes_the_dataset_iou_of_each_draw():
    rng = np.random.default_rng(0)
    truth = rng.random((6, 16, 16)) < 0.1
    good = truth.copy()
    good[:, 0] = True  # a row of false roads on every image
    poor = rng.random((6, 16, 16)) < 0.1
    gap = iou_gap(good, poor, truth, places=np.repeat(["a", "b", "c"], 2))
    assert gap.estimate == pytest.approx(
        dataset_scores(good, truth).iou - dataset_scores(poor, truth).iou
    )
    assert gap.verdict == "beyond noise" and gap.low > 0
    assert iou_gap(poor, good, truth).high < 0  # A minus B: the sign follows the order
    same = iou_gap(good, good, truth)
    assert (same.estimate, same.low, same.high) == (0, 0, 0) and same.verdict == "within noise"


def test_road_chips_share_a_place_when_their_centres_share_a_split_block():
    import pandas as pd
    from pyproj import Transformer

    from eotdl_tutorials.roads import RoadDataset
    from eotdl_tutorials.tiling import SPLIT_BLOCK_M

    def chip(x: float, y: float, epsg: int = EPSG, size: float = 1500.0) -> dict:
        return {"epsg": epsg, "minx": x, "miny": y, "maxx": x + size, "maxy": y + size}

    lon, lat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform(X0 + 750, Y0 + 750)
    rows = [
        chip(X0, Y0),  # centre in the block (250, 2650)
        chip(X0 + 200, Y0 + 100),  # overlaps it: the same place
        chip(X0 + SPLIT_BLOCK_M, Y0),  # the next block east
        chip(lon - 0.001, lat - 0.001, epsg=4326, size=0.002),  # the first's centre, in degrees
    ]
    dataset = RoadDataset(
        np.zeros((4, 1, 2, 2), np.float32), np.zeros((4, 2, 2)), {}, pd.DataFrame(rows), ("B04",),
        {},
    )  # fmt: skip
    places = dataset.places(np.arange(4))
    assert places[0] == places[1] == places[3] == f"{EPSG}/250_2650"
    assert places[2] == f"{EPSG}/251_2650"
    assert list(dataset.places(np.array([2]))) == [places[2]]
    blocks, drawn = dataset.interval_places(np.arange(4))
    assert list(blocks) == list(places) and drawn == "2 places"
    assert dataset.interval_places(np.array([0, 1])) == (None, "2 images of 1 place")
