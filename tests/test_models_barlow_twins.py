"""Barlow Twins loss and task, the per-sensor encoder and the supervised classifier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from eotdl_tutorials.data import BandStats, ChipDataModule, write_synthetic_store
from eotdl_tutorials.facts.classes import SCENE_CLASSES
from eotdl_tutorials.models.barlow_twins import (
    PAPER_LAMBDA,
    BarlowTwinsTask,
    Projector,
    barlow_twins_loss,
)
from eotdl_tutorials.models.classifier import ClassifierTask
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.training import fit, seed

#: timm's tiny test ResNet: the same code paths as resnet18 at a fraction of the cost.
TINY = "test_resnet"


def paper_loss(z1: torch.Tensor, z2: torch.Tensor, lambd: float) -> torch.Tensor:
    """The paper's pseudo-code (Algorithm 1), written independently with BatchNorm1d."""
    n, d = z1.shape
    bn = nn.BatchNorm1d(d, affine=False)
    c = bn(z1).T @ bn(z2) / n
    loss = torch.zeros(())
    for i in range(d):
        for j in range(d):
            loss = loss + ((1 - c[i, j]) ** 2 if i == j else lambd * c[i, j] ** 2)
    return loss


def test_loss_matches_the_paper_formula():
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 6), torch.randn(32, 6)
    expected = paper_loss(z1, z2, PAPER_LAMBDA)
    assert torch.allclose(barlow_twins_loss(z1, z2), expected, rtol=1e-4)
    assert torch.allclose(barlow_twins_loss(z1, z2, 0.5), paper_loss(z1, z2, 0.5), rtol=1e-4)


def test_loss_is_zero_for_identical_decorrelated_views_and_grows_otherwise():
    z = torch.linalg.qr(torch.randn(64, 8))[0] * 8  # orthogonal columns
    z = z - z.mean(0)
    same = barlow_twins_loss(z, z)
    other = barlow_twins_loss(z, torch.randn(64, 8))
    assert same < 0.05 < other


def test_loss_rejects_bad_batches():
    with pytest.raises(ValueError, match="at least 2 chips"):
        barlow_twins_loss(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="same shape"):
        barlow_twins_loss(torch.randn(8, 4), torch.randn(8, 5))


def test_projector_has_the_paper_structure():
    projector = Projector(512, (64, 32, 16))
    linears = [m for m in projector if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [64, 32, 16]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in projector) == 2
    assert projector(torch.randn(4, 512)).shape == (4, 16)


def _stats(bands: int) -> BandStats:
    return BandStats(tuple(f"b{i}" for i in range(bands)), (0.1,) * bands, (0.05,) * bands)


def test_encoder_normalises_with_its_buffers_and_checks_band_count():
    encoder = SensorEncoder("s2", _stats(12), input_size=16)
    assert encoder.embed_dim == 512 and not encoder.state_dict()["mean"].requires_grad
    assert encoder(torch.full((2, 12, 16, 16), 0.1)).shape == (2, 512)
    with pytest.raises(ValueError, match="expects \\(batch, 12, height, width\\).*got shape"):
        encoder(torch.zeros(2, 4, 16, 16))
    with pytest.raises(ValueError, match="unknown sensor"):
        SensorEncoder("landsat", _stats(3))
    with pytest.raises(ValueError, match="unknown timm architecture"):
        SensorEncoder("s2", _stats(12), arch="resnet-9000")


def test_encoder_runs_channels_last_with_the_same_outputs_and_gradients():
    """The encoder keeps its convolutions channels-last (faster on a CPU); a plain NCHW copy
    with the same weights computes the same embeddings and weight gradients, and the
    channels-last state dict loads into it."""
    torch.manual_seed(0)
    encoder = SensorEncoder("s2", _stats(12), input_size=24)
    weights = [p for p in encoder.backbone.parameters() if p.ndim == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    plain = SensorEncoder("s2", _stats(12), input_size=24)
    plain.backbone.to(memory_format=torch.contiguous_format)
    plain.load_state_dict(encoder.state_dict())
    images = torch.rand(8, 12, 24, 24) * 0.3
    for model in (encoder, plain):
        model.zero_grad()
        model(images).pow(2).mean().backward()
    torch.testing.assert_close(encoder(images), plain(images), rtol=1e-4, atol=1e-5)
    for a, b in zip(encoder.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-6)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    return write_synthetic_store(tmp_path_factory.mktemp("tiny"), count=48, s2_size=16, hr_size=16)


@pytest.mark.parametrize("sensor", ["s2", "s1", "hr"])
def test_task_trains_each_sensor_and_logs_its_loss(tmp_path, tiny_store, sensor):
    datamodule = ChipDataModule(tiny_store, sensor, batch_size=8, with_labels=False, drop_last=True)
    seed(0)
    task = BarlowTwinsTask(
        sensor, datamodule.stats.to_dict(), arch=TINY, input_size=16, projector_dims=(32,) * 3
    )
    before = {k: v.clone() for k, v in task.encoder.state_dict().items()}
    trainer = fit(task, datamodule, tmp_path, max_epochs=1, max_steps=2, progress=False)
    assert trainer.global_step == 2
    assert torch.isfinite(trainer.callback_metrics["train_loss_step"])
    changed = [k for k, v in task.encoder.state_dict().items() if not torch.equal(v, before[k])]
    assert "backbone.conv1.0.weight" in changed and "mean" not in changed
    assert task.hparams["sensor"] == sensor and task.hparams["lambd"] == PAPER_LAMBDA


def test_resuming_from_another_models_checkpoint_is_a_clear_error(tmp_path, tiny_store):
    datamodule = ChipDataModule(tiny_store, "s2", batch_size=8)
    stats = datamodule.stats.to_dict()
    classifier = ClassifierTask(
        "s2", stats, num_classes=len(SCENE_CLASSES), arch=TINY, input_size=16
    )
    fit(classifier, datamodule, tmp_path, max_epochs=1, max_steps=1, progress=False)
    pretraining = BarlowTwinsTask("s2", stats, arch=TINY, input_size=16, projector_dims=(16,) * 3)
    with pytest.raises(ValueError, match="does not fit BarlowTwinsTask"):
        fit(pretraining, datamodule, tmp_path, max_epochs=1, ckpt_path="last", progress=False)
    s1_stats = BandStats(("vv", "vh"), (-10.0, -17.0), (5.0, 5.0)).to_dict()
    other_bands = ClassifierTask(
        "s1", s1_stats, num_classes=len(SCENE_CLASSES), arch=TINY, input_size=16
    )
    with pytest.raises(ValueError, match="shape"):
        fit(other_bands, datamodule, tmp_path, max_epochs=1, ckpt_path="last", progress=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        fit(classifier, datamodule, tmp_path / "fresh", max_epochs=1, ckpt_path="last")


def test_classifier_learns_land_cover_from_labels(tmp_path, tiny_store):
    datamodule = ChipDataModule(tiny_store, "s2", batch_size=16)
    seed(0)
    stats = datamodule.stats.to_dict()
    task = ClassifierTask(
        "s2", stats, num_classes=len(SCENE_CLASSES), arch=TINY, input_size=16, lr=3e-3
    )
    trainer = fit(task, datamodule, tmp_path, max_epochs=10, limit_val_batches=0, progress=False)
    assert float(trainer.logged_metrics["train_loss_epoch"]) < 1.0  # chance level is ln 10 = 2.3
