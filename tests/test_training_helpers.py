"""The Lightning helpers: device choice, seeds, CSV metrics and curves, checkpoints and resume."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from fake_clock import FakeClock
from lightning.pytorch.callbacks import Callback
from matplotlib.figure import Figure

from eotdl_tutorials.data import ChipDataModule, write_synthetic_store
from eotdl_tutorials.facts.classes import SCENE_CLASSES
from eotdl_tutorials.models.classifier import ClassifierTask
from eotdl_tutorials.training import (
    TimeBudget,
    default_precision,
    fit,
    make_trainer,
    resolve_accelerator,
    seed,
    settings,
)
from eotdl_tutorials.training.budget import StepClock, most_that_fit
from eotdl_tutorials.training.figures import plot_metrics, read_metrics

TINY = "test_resnet"


@pytest.fixture(scope="module")
def datamodule(tmp_path_factory):
    store = write_synthetic_store(
        tmp_path_factory.mktemp("chips"), count=40, s2_size=16, sensors=("s2",)
    )
    return ChipDataModule(store, "s2", batch_size=8)


def _task(datamodule: ChipDataModule) -> ClassifierTask:
    return ClassifierTask(
        "s2", datamodule.stats.to_dict(), num_classes=len(SCENE_CLASSES), arch=TINY, input_size=16
    )


def test_device_and_precision_choice():
    assert resolve_accelerator("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert default_precision("cpu") == "32-true"
    with pytest.raises(ValueError, match="unknown accelerator"):
        resolve_accelerator("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_accelerator("cuda")


def test_cpu_trainer_is_deterministic_and_logs_to_csv(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1, accelerator="cpu", progress=False)
    assert torch.are_deterministic_algorithms_enabled()
    assert trainer.precision == "32-true"
    assert trainer.logger.log_dir.rstrip("/") == str(tmp_path)
    with pytest.raises(ValueError, match="max_epochs"):
        make_trainer(tmp_path, max_epochs=0)


def test_same_seed_same_weights(tmp_path, datamodule):
    weights = []
    for run in range(2):
        seed(7)
        task = _task(datamodule)
        fit(task, datamodule, tmp_path / str(run), max_epochs=1, max_steps=3, progress=False)
        weights.append(torch.cat([p.detach().flatten() for p in task.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_metrics_curves_checkpoint_and_resume(tmp_path, datamodule):
    seed(0)
    trainer = fit(_task(datamodule), datamodule, tmp_path, max_epochs=2, progress=False)
    steps_per_epoch = trainer.num_training_batches
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    metrics = read_metrics(tmp_path)
    assert {"train_loss_step", "train_loss_epoch", "val_loss", "val_acc"} <= set(metrics.columns)
    figure = plot_metrics(tmp_path, ["train_loss_step", "val_acc"], title="run")
    assert isinstance(figure, Figure) and figure._suptitle.get_text() == "run"
    for ax, key in zip(figure.axes, ["train_loss_step", "val_acc"], strict=True):
        logged = metrics[["step", key]].dropna()  # each panel draws its metric as logged
        (line,) = ax.lines
        assert ax.get_title() == key and line.get_xdata().tolist() == logged["step"].tolist()
        assert np.allclose(line.get_ydata(), logged[key])
    resumed = fit(
        _task(datamodule), datamodule, tmp_path, max_epochs=3, ckpt_path="last", progress=False
    )
    assert resumed.global_step == 3 * steps_per_epoch
    assert read_metrics(tmp_path)["epoch"].max() == 2
    with pytest.raises(ValueError, match="no metric"):
        plot_metrics(tmp_path, ["nonsense"])
    with pytest.raises(FileNotFoundError, match="no metrics"):
        read_metrics(tmp_path / "nowhere")


class CountedSteps(Callback):
    """Steps that each cost ``fast`` seconds of a fake clock for the first ``count``, then
    ``slow`` (a machine that slows down after the budget's first estimate, or costs the first
    steps do not show): the budget's decisions follow from counted steps, not from this
    machine's speed."""

    def __init__(self, clock: FakeClock, fast: float, slow: float, count: int) -> None:
        self.clock, self.fast, self.slow, self.count = clock, fast, slow, count

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self.clock.advance(self.fast if trainer.global_step <= self.count else self.slow)

    def seconds(self, steps: int) -> float:
        """The fake seconds of ``steps`` steps."""
        fast = min(steps, self.count)
        return fast * self.fast + (steps - fast) * self.slow


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The time budgets' clock, advanced only by :class:`CountedSteps`."""
    fake = FakeClock()
    monkeypatch.setattr("eotdl_tutorials.training.budget.time", fake.module())
    return fake


def _last_lr(trainer: L.Trainer) -> float:
    return trainer.optimizers[0].param_groups[0]["lr"]


def test_time_budget_keeps_the_steps_that_fit_and_a_whole_schedule(tmp_path, datamodule, clock):
    seed(0)
    task = _task(datamodule)
    budget = TimeBudget(seconds=1.5, calibration_steps=5)
    steps = CountedSteps(clock, 0.125, 0.125, 0)
    trainer = fit(
        task,
        datamodule,
        tmp_path,
        max_epochs=20,
        callbacks=[budget, steps],
        progress=False,
        limit_val_batches=0,
    )
    assert budget.planned == 20 * trainer.num_training_batches
    # The budget times the steps after the first (whose cost it leaves out) and keeps the most
    # whose time fits: 12 steps of 0.125 s are the 1.5 s, the 13th step is the untimed first.
    assert budget.steps == 13 and steps.seconds(budget.steps - 1) == 1.5
    assert trainer.global_step == budget.steps == task.schedule_steps
    assert _last_lr(trainer) < 0.01 * task.hparams["lr"]  # the cosine decayed to its end
    resumed = fit(
        _task(datamodule),
        datamodule,
        tmp_path,
        max_epochs=20,
        ckpt_path="last",
        callbacks=[TimeBudget(seconds=100.0)],
        progress=False,
        limit_val_batches=0,
    )
    assert resumed.global_step == budget.steps  # a resumed run keeps the first run's steps


def test_time_budget_lowers_the_steps_again_when_the_run_slows_down(tmp_path, datamodule, clock):
    task = _task(datamodule)
    budget = TimeBudget(seconds=2.0, calibration_steps=3)
    steps = CountedSteps(clock, 0.015625, 0.125, 5)
    trainer = fit(
        task,
        datamodule,
        tmp_path,
        max_epochs=40,
        callbacks=[budget, steps],
        progress=False,
        limit_val_batches=0,
        checkpoint=False,
    )
    first_estimate = 4 + int(2.0 / 0.015625)  # what the first three fast steps promised
    assert budget.steps < min(budget.planned, first_estimate)
    # The kept steps fit the budget but for one re-check's worth of slow steps (the callback
    # without its re-checks kept the first estimate or the plan, over 10 s of steps).
    assert steps.seconds(min(budget.planned, first_estimate)) > 10
    assert (
        2.0 - steps.slow
        < steps.seconds(budget.steps)
        <= 2.0 + budget.calibration_steps * steps.slow
    )
    assert trainer.global_step == budget.steps == task.schedule_steps
    assert _last_lr(trainer) < 0.01 * task.hparams["lr"]  # the cosine still decayed to its end


def test_time_budget_never_adds_steps(tmp_path, datamodule):
    budget = TimeBudget(seconds=600.0, calibration_steps=2)
    trainer = fit(
        _task(datamodule), datamodule, tmp_path, max_epochs=2, callbacks=[budget], progress=False
    )
    assert budget.steps == budget.planned == trainer.global_step == 2 * trainer.num_training_batches
    with pytest.raises(ValueError, match="positive"):
        TimeBudget(seconds=0)


def test_the_budget_rule_keeps_the_most_that_fit():
    def seconds(count: int) -> float:
        return 2.0 + 0.5 * count

    assert most_that_fit(10, 1, seconds, 5.0) == 6  # 2 + 0.5 * 6 = 5 fits, 7 does not
    assert most_that_fit(10, 1, seconds, 100.0) == 10  # never more than planned
    assert most_that_fit(10, 3, seconds, 1.0) == 3  # nothing fits: the least
    assert most_that_fit(4, 5, seconds, 100.0) == 5


def test_the_step_clock_leaves_out_the_first_step(monkeypatch):
    times = iter([10.0, 13.0, 14.0, 15.0])  # the first step (loaders, warm-up) took 10 s
    monkeypatch.setattr("eotdl_tutorials.training.budget.time.monotonic", lambda: next(times))
    clock = StepClock()
    assert clock.timed == 0
    for step in (1, 3, 4, 5):
        clock.tick(step)
    assert clock.timed == 4 and clock.seconds_per_step() == 5.0 / 4


def test_profile_settings():
    ci, default, full = settings("ci"), settings("default"), settings("full")
    assert full.projector_dims == (8192, 8192, 8192)
    assert ci.max_steps < default.max_steps and full.max_steps is None
    assert settings("ci", epochs=3, batch_size=None).epochs == 3
    # explicit epochs: no step cap, no time budget (what A2 shows is what it trains)
    three = settings("default", epochs=3)
    assert (three.epochs, three.max_steps, three.train_minutes) == (3, None, None)
    assert settings("default", epochs=3, train_minutes=2.0).train_minutes == 2.0
    assert settings("default").train_minutes == 8.0
    # explicit epochs of A3's trained rows: no time budget for them either
    forty = settings("default", finetune_epochs=40)
    assert (forty.finetune_epochs, forty.finetune_minutes) == (40, None)
    assert settings("default", finetune_epochs=40, finetune_minutes=3.0).finetune_minutes == 3.0
    assert settings("default").finetune_minutes == 7.0
    assert (ci.train_minutes, ci.finetune_minutes) == (None, None)  # ci: no budget cuts anything
    assert ci.input_size("hr", 384) == ci.view_sizes["hr"] and ci.input_size("s2", 16) == 16
    assert full.input_size("s2", 39) == 39
    with pytest.raises(ValueError, match="unknown profile"):
        settings("huge")
