"""Use case C on a small synthetic land-cover set: models, metrics, export, active learning."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from eotdl_tutorials.models import onnx_session, read_card
from eotdl_tutorials.models.export import load_model
from eotdl_tutorials.multitask import (
    RANDOM_WEIGHTS,
    STRATEGIES,
    ActiveLearningResult,
    Comparison,
    LandCoverNet,
    LandCoverSet,
    acquire,
    dataset_iou,
    ensure_exported_models,
    export_landcover_model,
    init_from_encoder,
    label_savings,
    labelled_and_pool,
    labels_to_reach,
    model_inputs,
    multitask_settings,
    predict,
    run_active_learning,
    score,
    strategy_gaps,
    train_model,
)
from eotdl_tutorials.multitask.evaluation import Predictions, tile_counts
from eotdl_tutorials.multitask.models import SEGMENTATION

CLASSES = ("water", "forest", "cropland")


@pytest.fixture(scope="module")
def landcover() -> LandCoverSet:
    """40 tiles of 32 px: each pixel's class sets its bands' values (plus noise)."""
    rng = np.random.default_rng(0)
    n, size = 40, 32
    masks = np.ones((n, size, size), np.uint8)
    for i in range(n):
        masks[i, rng.integers(0, 16) :, :] = 2
        masks[i, :, rng.integers(8, 32) :] = 3 if i % 2 else 2
    spectra = np.array([[400, 500, 300, 100], [300, 600, 200, 3000], [900, 1000, 1100, 2500]])
    images = spectra[masks - 1].transpose(0, 3, 1, 2) + rng.integers(0, 200, (n, 4, size, size))
    index = pd.DataFrame(
        {"id": [f"t{i}" for i in range(n)], "split": ["train"] * 28 + ["val"] * 4 + ["test"] * 8}
    )
    bands = ("red", "green", "blue", "nir")
    return LandCoverSet(images.astype(np.uint16), masks, index, CLASSES, bands, 1e-4)


def test_presence_follows_the_masks(landcover: LandCoverSet) -> None:
    presence = landcover.presence
    assert presence.shape == (40, 3)
    assert presence[0, 0] == (landcover.masks[0] == 1).any()


def test_dataset_iou_sums_over_tiles() -> None:
    target = np.array([[[1, 1], [2, 2]], [[1, 2], [2, 2]]])
    predicted = np.array([[[1, 2], [2, 2]], [[1, 1], [1, 1]]])
    miou, per_class = dataset_iou(predicted, target, 2)
    # class 1: TP 2, FP 3, FN 1; class 2: TP 2, FP 1, FN 3 (summed over both tiles); the mean
    # of per-tile IoUs would be (1/2 + 1/4) / 2 and (2/3 + 0) / 2 instead
    assert per_class == pytest.approx([2 / 6, 2 / 6])
    assert miou == pytest.approx(2 / 6)


@pytest.mark.parametrize("deterministic", [True, False])
def test_dataset_iou_counts_the_same_in_deterministic_mode_and_restores_it(
    deterministic: bool,
) -> None:
    rng = np.random.default_rng(0)
    target, predicted = rng.integers(0, 5, (2, 6, 16, 16))
    expected = dataset_iou(predicted, target, 4)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic)  # as Lightning leaves it after a CPU fit
    try:
        miou, per_class = dataset_iou(predicted, target, 4)
        assert torch.are_deterministic_algorithms_enabled() is deterministic
    finally:
        torch.use_deterministic_algorithms(previous)
    assert miou == expected[0]
    np.testing.assert_array_equal(per_class, expected[1])


def test_every_model_beats_its_random_weights(landcover: LandCoverSet) -> None:
    split = labelled_and_pool(landcover, 20)
    test_x = model_inputs(landcover, split.test)
    masks, presence = landcover.masks[split.test], landcover.presence[split.test]
    for tasks in [("classification",), ("segmentation",), ("classification", "segmentation")]:
        torch.manual_seed(0)
        trained = train_model(
            landcover, split.labelled, split.val, tasks, steps=25, batch_size=8, lr=3e-3,
            depth=3, decoder_channels=(32, 16, 8),
        )  # fmt: skip
        random_model = LandCoverNet.from_settings(trained.model.settings)
        after = score(predict(trained.model, test_x), masks, presence, CLASSES)
        before = score(predict(random_model, test_x), masks, presence, CLASSES)
        key = "miou" if "segmentation" in tasks else "f1"
        assert after[key] > before[key], (tasks, after[key], before[key])


def test_export_round_trip_and_onnx(landcover: LandCoverSet, tmp_path: Path) -> None:
    split = labelled_and_pool(landcover, 20)
    for preprocessing in ("none", "SATRGB"):
        trained = train_model(
            landcover, split.labelled, None, ("classification", "segmentation"), steps=2,
            batch_size=8, preprocessing=preprocessing, depth=3, decoder_channels=(32, 16, 8),
        )  # fmt: skip
        exported = export_landcover_model(trained, tmp_path / preprocessing, CLASSES, 32)
        assert exported.onnx_max_abs_diff <= 1e-4
        card = read_card(tmp_path / preprocessing)
        assert card.task == "multitask" and card.classes == CLASSES
        assert card.preprocessing == preprocessing
        assert card.output_indices("segmentation")["water"] == 1
        values = torch.from_numpy(model_inputs(landcover, split.test[:2], preprocessing))
        with torch.no_grad():
            segmentation, classification = load_model(tmp_path / preprocessing)(values)
            expected = trained.model(values)
        assert torch.allclose(segmentation, expected["segmentation"], atol=1e-4)
        assert torch.allclose(classification, expected["classification"], atol=1e-4)
        session = onnx_session(tmp_path / preprocessing)
        outputs = session.run(None, {"input": card.normalise(values.numpy())})
        assert np.abs(outputs[0] - expected["segmentation"].numpy()).max() <= 1e-4


def test_ensure_exported_models_names_an_unknown_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown exported models \\['landcover-typo'\\]"):
        ensure_exported_models("ci", tmp_path, names=["landcover-classifier", "landcover-typo"])


def test_init_from_encoder_copies_the_backbone(landcover: LandCoverSet) -> None:
    from eotdl_tutorials.data import BandStats
    from eotdl_tutorials.models.encoder import SensorEncoder

    stats = BandStats(landcover.bands, [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5])
    encoder = SensorEncoder("hr", stats, arch="resnet18")
    model = LandCoverNet(("segmentation",), landcover.bands, 3, [0] * 4, [1] * 4, depth=3)
    copied = init_from_encoder(model, encoder)
    assert copied > 10
    key = "conv1.weight"
    assert torch.equal(model.encoder.model.state_dict()[key], encoder.backbone.state_dict()[key])
    assert model.settings["mean"] == pytest.approx([0.1, 0.2, 0.3, 0.4])


class KnownUncertainty(torch.nn.Module):
    """A segmentation model whose uncertainty on each tile is known: input channel 0 pushes
    class 1 with no dropout, channel 1 pushes class 1 through dropout. A tile of zeros is
    uniform in every sample (unsure, but no disagreement); a tile on channel 0 is sure in every
    sample; a tile on channel 1 is sure in one deterministic pass but, with MC dropout, sure in
    some samples and uniform in others (the disagreement BALD looks for)."""

    def __init__(self) -> None:
        super().__init__()
        self.dropout = torch.nn.Dropout(0.5)
        self.push = torch.nn.Parameter(torch.tensor([0.0, 8.0, -4.0, -4.0]).view(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        drive = x[:, :1] + self.dropout(x[:, 1:2])
        return {SEGMENTATION: drive * self.push}


def test_acquisition_uses_baal_heuristics() -> None:
    """Entropy and margin take the tiles the model is unsure of, BALD the tiles its MC dropout
    samples disagree on, random neither: a selection that ignored the heuristics fails."""
    unsure, disagreeing = [2, 5, 7], [1, 6, 9]
    images = np.zeros((10, 2, 8, 8), dtype=np.float32)
    images[[0, 3, 4, 8], 0] = 1.0  # sure in every sample
    images[disagreeing, 1] = 1.0
    model = KnownUncertainty()
    torch.manual_seed(0)
    picks = {s: acquire(s, model, images, 3, mc_iterations=8) for s in STRATEGIES}
    assert sorted(picks["entropy"]) == sorted(picks["margin"]) == unsure
    assert sorted(picks["bald"]) == disagreeing
    assert sorted(picks["random"]) not in (unsure, disagreeing)
    assert len(set(picks["random"].tolist())) == 3 and picks["random"].max() < 10
    assert sorted(acquire("random", model, images, 3, 8, random_seed=1)) != sorted(picks["random"])
    with pytest.raises(ValueError, match="unknown strategy"):
        acquire("coreset", model, images, 4, 3)


def test_active_learning_loop_and_savings(landcover: LandCoverSet) -> None:
    config = dataclasses.replace(
        multitask_settings("ci"), al_initial=4, al_batch=4, al_rounds=1, al_seeds=(0,),
        al_steps=2, mc_iterations=2, al_batch_size=4, al_pool_sample=12,
    )  # fmt: skip
    split = labelled_and_pool(landcover, 10)
    result = run_active_learning(landcover, split, config, progress=False)
    curves = result.curves()
    assert set(curves) == {"random", "entropy", "margin", "bald"}
    assert [point[0] for point in curves["random"]] == [4, 8]
    taken = result.chosen[("bald", 0)]
    assert len(np.unique(np.concatenate(taken))) == 8


def test_label_savings_interpolates() -> None:
    random = [[10, 0.2, 0], [20, 0.3, 0], [30, 0.4, 0]]
    entropy = [[10, 0.2, 0], [20, 0.35, 0], [30, 0.45, 0]]
    margin = [[10, 0.2, 0], [20, 0.25, 0], [30, 0.3, 0]]
    assert labels_to_reach(entropy, 0.4) == pytest.approx(25)
    assert labels_to_reach(margin, 0.4) is None
    assert label_savings(entropy, random) == pytest.approx(1 - 25 / 30)
    # never reached: counted as needing its last round's labels, so no saving
    assert label_savings(margin, random) == pytest.approx(0.0)
    # random already at its final value on its first point: it needs only that point
    flat = [[8, 0.3, 0], [16, 0.25, 0]]
    assert label_savings([[8, 0.3, 0], [16, 0.2, 0]], flat) == pytest.approx(0.0)
    assert label_savings([[8, 0.1, 0], [16, 0.2, 0]], flat) == pytest.approx(1 - 16 / 8)


def test_strategy_gaps_pair_the_seeds_and_say_when_a_gap_is_noise() -> None:
    records = []
    for run_seed, (lift, wobble) in enumerate([(0.05, 0.01), (0.06, -0.02), (0.04, 0.01)]):
        for strategy, extra in (("random", 0.0), ("entropy", lift), ("margin", wobble)):
            for labels, base in ((8, 0.2), (16, 0.3), (24, 0.4)):
                miou = base + (extra if labels > 8 else 0.0) + 0.1 * run_seed
                records.append((strategy, run_seed, labels // 8 - 1, labels, miou))
    rounds = pd.DataFrame(records, columns=["strategy", "seed", "round", "labels", "miou"])
    gaps = strategy_gaps(ActiveLearningResult(rounds, {}))
    assert set(gaps) == {"entropy", "margin"}
    assert set(gaps["margin"]) == {"label_savings", "minus_random_final_miou"}
    # paired by seed: the seeds' common offset (0.1 per seed) does not widen the interval
    final = gaps["entropy"]["minus_random_final_miou"]
    assert final.estimate == pytest.approx(0.05)
    assert final.verdict == "beyond noise" and 0.039 <= final.low <= final.high <= 0.061
    assert gaps["margin"]["minus_random_final_miou"].verdict == "within noise"
    # entropy reaches random's final mean IoU before the last round on every seed
    assert gaps["entropy"]["label_savings"].low > 0


def test_tile_counts_recompute_the_dataset_scores_of_any_draw() -> None:
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (6, 8, 8)).astype(np.uint8)
    masks[0] = 1  # one tile with a single class, and no code 3 anywhere in the predictions
    presence = (masks.reshape(6, -1)[:, :, None] == np.arange(1, 4)).any(1)
    predicted = Predictions(
        rng.random((6, 3)).astype(np.float32), rng.integers(1, 3, (6, 8, 8)).astype(np.uint8), 0
    )
    counts = tile_counts(predicted, masks, presence)
    for rows in (np.arange(6), np.array([0, 0, 3, 5, 5, 5])):
        expected = score(
            Predictions(predicted.presence[rows], predicted.masks[rows], 0),
            masks[rows], presence[rows], CLASSES,
        )  # fmt: skip
        got = counts.scores(rows)
        assert got == pytest.approx({k: expected[k] for k in ("f1", "accuracy", "miou")})


def test_comparison_gap_is_a_minus_b_in_points() -> None:
    rng = np.random.default_rng(1)
    masks = rng.integers(1, 4, (8, 8, 8)).astype(np.uint8)
    presence = (masks.reshape(8, -1)[:, :, None] == np.arange(1, 4)).any(1)
    perfect = Predictions(presence.astype(np.float32), masks, 0)
    noisy = Predictions(presence.astype(np.float32), rng.integers(1, 4, masks.shape), 0)
    counts = {
        ("u-net", "random"): tile_counts(perfect, masks, presence),
        ("u-net", RANDOM_WEIGHTS): tile_counts(noisy, masks, presence),
    }
    places = np.repeat(["a", "b", "c", "d"], 2)
    comparison = Comparison(pd.DataFrame(), {}, counts, places)
    gap = comparison.gap(("u-net", "random"), ("u-net", RANDOM_WEIGHTS), "miou")
    expected = 100 * (1 - dataset_iou(noisy.masks, masks, 3)[0])
    assert gap.estimate == pytest.approx(expected) and gap.verdict == "beyond noise"
    reverse = comparison.gap(("u-net", RANDOM_WEIGHTS), ("u-net", "random"), "miou")
    assert reverse.estimate == pytest.approx(-expected) and reverse.high < 0
    same = comparison.gap(("u-net", "random"), ("u-net", "random"), "f1")
    assert (same.low, same.high) == (0, 0) and same.verdict == "within noise"


# --- the full profile: the land-cover set from a real SCANEO export ---------------------------


def _export_image(path: Path, bands: int, west: float) -> Path:
    """A 64 px GeoTIFF on a 1 m UTM grid: 4-band uint16 (red, green, blue, nir) or 3-band
    8-bit RGB without band descriptions."""
    import rasterio
    from rasterio.transform import from_origin

    dtype = "uint16" if bands == 4 else "uint8"
    top = 255 if bands == 3 else 4000
    data = np.random.default_rng(int(west)).integers(1, top, (bands, 64, 64)).astype(dtype)
    profile = {
        "driver": "GTiff", "width": 64, "height": 64, "count": bands, "dtype": dtype,
        "crs": "EPSG:32631", "transform": from_origin(west, 5_300_000, 1.0, 1.0),
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if bands == 4:
            dst.descriptions = ("red", "green", "blue", "nir")
    return path


def _write_export(folder: Path, bands: int, layout: str, labelled: int = 6) -> Path:
    from eotdl_tutorials.labels import write_scaneo_export

    sources = folder / "sources"
    sources.mkdir(parents=True)
    images = {
        f"img{i}": _export_image(sources / f"img{i}.tif", bands, 500_000 + 3000 * i)
        for i in range(labelled + 2)
    }
    masks = {}
    for i in range(labelled):
        mask = np.full((64, 64), 1 + i % 2, np.uint8)
        mask[:20, :] = 3
        mask[32:, 32:] = 0  # no label in the bottom-right tile
        masks[f"img{i}"] = mask
    labels = ("meadow", "pine", "lake")  # not the sample world's legend
    write_scaneo_export(folder / "export", images, masks, labels, layout=layout)
    return folder / "export"


@pytest.mark.parametrize(("bands", "layout"), [(4, "spai.json"), (3, "labels.json")])
def test_full_set_from_a_scaneo_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bands: int, layout: str
) -> None:
    """Classes from the export, bands from its images (3 or 4), tiles split by place, the
    export's unlabelled images as the pool; C2 to C4 then open the same set."""
    from eotdl_tutorials.multitask import ensure_landcover_set
    from eotdl_tutorials.multitask.real import build_real_landcover_set

    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(tmp_path / "data"))
    export = _write_export(tmp_path, bands, layout)
    dataset = build_real_landcover_set(export, tile_size=32, progress=False)
    assert dataset.classes == ("meadow", "pine", "lake")
    assert dataset.bands == (
        ("red", "green", "blue", "nir") if bands == 4 else ("red", "green", "blue")
    )
    assert dataset.images.shape[1:] == (bands, 32, 32)
    assert dataset.dn_scale == pytest.approx(1e-4 if bands == 4 else 1 / 255)
    split = dataset.index["split"]
    assert (split == "unlabelled").sum() == 2 * 4  # 2 unlabelled images of 4 tiles each
    assert not dataset.masks[split.to_numpy() == "unlabelled"].any()
    assert (split != "unlabelled").sum() == 6 * 4 - 6  # the corner tile has no label: left out
    assert {"train", "test"} <= set(split)
    for _, rows in dataset.index[split != "unlabelled"].groupby("image"):
        assert rows["split"].nunique() == 1  # an image's tiles never straddle the splits
    reopened = ensure_landcover_set("full")
    assert reopened.classes == dataset.classes and len(reopened) == len(dataset)
    chosen = labelled_and_pool(reopened, None)
    assert len(chosen.pool) == 0 and len(chosen.unlabelled) == 8
    assert len(chosen.labelled) == (split == "train").sum()


def test_full_set_pool_from_a_folder_and_from_a_label_catalog(tmp_path: Path) -> None:
    from eotdl_tutorials.labels import read_scaneo_export, write_label_catalog
    from eotdl_tutorials.multitask.real import build_real_landcover_set

    export = _write_export(tmp_path, 4, "spai.json")
    pool = tmp_path / "pool"
    pool.mkdir()
    for i in range(3):
        _export_image(pool / f"p{i}.tif", 4, 600_000 + 1000 * i)
    catalog = tmp_path / "catalog"
    write_label_catalog(read_scaneo_export(export), catalog)
    dataset = build_real_landcover_set(
        label_catalog=catalog, pool_dir=pool, tile_size=32, pool_size=5, out=tmp_path / "set",
        progress=False,
    )  # fmt: skip
    assert dataset.classes == ("meadow", "pine", "lake")
    assert (dataset.index["split"] == "unlabelled").sum() == 5  # of 12 candidates
    assert (
        dataset.index.loc[dataset.index["split"] == "unlabelled", "image"]
        .str.contains("pool")
        .all()
    )
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    _export_image(rgb / "x.tif", 3, 700_000)
    with pytest.raises(ValueError, match="every image of the set needs the same bands"):
        build_real_landcover_set(export, pool_dir=rgb, tile_size=32, out=tmp_path / "s2")


def test_full_profile_without_labels_stops_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eotdl_tutorials.labels import ScaneoFormatError
    from eotdl_tutorials.multitask import ensure_landcover_set
    from eotdl_tutorials.multitask.real import build_real_landcover_set

    data = tmp_path / "data"
    monkeypatch.setenv("EOTDL_TUTORIALS_DATA", str(data))
    with pytest.raises(FileNotFoundError, match="set -p scaneo_dir FOLDER"):
        build_real_landcover_set()
    with pytest.raises(FileNotFoundError, match="run C1 first with -p profile full -p scaneo_dir"):
        ensure_landcover_set("full")
    with pytest.raises(FileNotFoundError, match="-p scaneo_dir .*missing: no such file"):
        build_real_landcover_set(tmp_path / "missing")
    not_an_export = tmp_path / "images"
    not_an_export.mkdir()
    _export_image(not_an_export / "a.tif", 4, 500_000)
    with pytest.raises(ScaneoFormatError, match="not a SCANEO export"):
        build_real_landcover_set(not_an_export)
    assert not data.exists()  # nothing written, no sample world
