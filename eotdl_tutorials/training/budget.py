"""Time budgets: how much training fits in a given time on this machine, one rule for all runs.

Both budgets measure their pace the same way (:class:`StepClock`: the mean seconds per step
after the first, which also starts loaders and warms caches) and decide the same way
(:func:`most_that_fit`: the most of what was planned whose predicted time fits, never more than
planned):

- :class:`TimeBudget`, a Lightning callback, fits a run's steps (A2's pre-training), timing the
  run itself and checking again as it goes;
- :func:`fit_trained_budget` fits the epochs of the few-label evaluation's trained rows (A3),
  timing a few steps before they train.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.training.finetune import (
    crop_augment,
    new_classifier,
    train_classifier,
    training_steps,
)
from eotdl_tutorials.training.settings import TrainingSettings
from eotdl_tutorials.training.trainer import resolve_accelerator


class StepClock:
    """The pace of training here: mean seconds per step since the first :meth:`tick`."""

    def __init__(self) -> None:
        self._first: tuple[int, float] | None = None
        self._last: tuple[int, float] | None = None

    def tick(self, step: int) -> float:
        """Note that ``step`` steps have ended; returns the time now (``time.monotonic``)."""
        now = time.monotonic()
        self._first = self._first or (step, now)
        self._last = (step, now)
        return now

    @property
    def timed(self) -> int:
        """Steps timed: those since the first tick."""
        return 0 if self._first is None else self._last[0] - self._first[0]

    def seconds_per_step(self) -> float:
        return (self._last[1] - self._first[1]) / self.timed


def most_that_fit(most: int, least: int, seconds: Callable[[int], float], budget: float) -> int:
    """The largest count from ``most`` down to ``least`` whose predicted ``seconds(count)`` fit
    in ``budget``; ``least`` where none does."""
    for count in range(most, least, -1):
        if seconds(count) <= budget:
            return count
    return least


class TimeBudget(Callback):
    """Fit a run's steps into ``seconds`` of training on this machine.

    It times ``calibration_steps`` optimizer steps after the first (which also starts the data
    loaders), and if the planned steps do not fit in what is left of ``seconds`` it lowers the
    trainer's ``max_steps`` to those that do and shortens the task's learning-rate schedule to
    match (tasks with ``set_schedule_steps``), so the run still warms up and decays fully. Every
    ``calibration_steps`` steps after that it checks again with the mean step time so far, which
    includes what a few steps do not show (epoch ends, validation, checkpoints, a slower
    machine), and lowers the steps again where the run would overshoot. It never adds steps.
    ``planned`` and ``steps`` say what was planned and what was kept; a resumed run keeps the
    step count of the first.
    """

    def __init__(self, seconds: float, calibration_steps: int = 20) -> None:
        if seconds <= 0:
            raise ValueError(f"a time budget must be positive, got {seconds} s")
        self.seconds = seconds
        self.calibration_steps = max(1, calibration_steps)
        self.planned: int | None = None
        self.steps: int | None = None
        self._started = 0.0
        self._clock = StepClock()
        self._resumed = False

    def state_dict(self) -> dict[str, int | None]:
        return {"planned": self.planned, "steps": self.steps}

    def load_state_dict(self, state_dict: dict[str, int | None]) -> None:
        self.planned, self.steps = state_dict["planned"], state_dict["steps"]

    def _apply(self, trainer: L.Trainer, pl_module: L.LightningModule, steps: int) -> None:
        self.steps = steps
        trainer.fit_loop.epoch_loop.max_steps = steps
        if hasattr(pl_module, "set_schedule_steps"):
            pl_module.set_schedule_steps(steps)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._resumed = self.steps is not None
        if self._resumed:  # keep the first run's decision
            self._apply(trainer, pl_module, self.steps)
            return
        self.planned = int(trainer.estimated_stepping_batches)
        self._started = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if self._resumed:
            return
        step = trainer.global_step
        now = self._clock.tick(step)
        timed = self._clock.timed
        if timed < self.calibration_steps or timed % self.calibration_steps:
            return
        elapsed, pace = now - self._started, self._clock.seconds_per_step()
        kept = most_that_fit(
            self.steps or self.planned,
            step + 1,
            lambda steps: elapsed + (steps - step) * pace,
            self.seconds,
        )
        self._apply(trainer, pl_module, kept)


@dataclass(frozen=True)
class TrainedBudget:
    """How the trained rows' epochs fit a time budget on this machine.

    ``epochs`` and ``min_steps`` are what the rows train with, ``planned_epochs`` what the
    profile asks for; ``predicted_seconds`` is the time the rows are expected to take with them
    (from the measured ``step_seconds`` of a full batch and of a ``SMALL_BATCH``-chip batch).
    """

    epochs: int
    min_steps: int
    planned_epochs: int
    predicted_seconds: float
    budget_seconds: float | None
    step_seconds: tuple[float, float]

    @property
    def shortened(self) -> bool:
        return self.epochs < self.planned_epochs

    def describe(self) -> str:
        """One sentence on the trained rows' budget."""
        if self.budget_seconds is None:
            return f"Trained rows: {self.epochs} epochs (no time budget)."
        kept = (
            f"{self.epochs} of the profile's {self.planned_epochs} epochs"
            if self.shortened
            else f"all the profile's {self.planned_epochs} epochs"
        )
        return (
            f"Trained rows: {kept} fit the {self.budget_seconds / 60:g} min budget on this "
            f"machine (a full batch step takes {self.step_seconds[0]:.2f} s; predicted "
            f"{self.predicted_seconds / 60:.1f} min)."
        )


#: The small batch timed by :func:`fit_trained_budget` (batch normalisation needs two chips).
SMALL_BATCH = 2


def _step_seconds(
    encoder: SensorEncoder,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch: int,
    config: TrainingSettings,
    device: str,
) -> float:
    """Seconds of one trained-row step at ``batch`` chips: the pace of three steps after one."""
    config = dataclasses.replace(config, batch_size=batch)
    model = new_classifier(encoder, int(labels.max()) + 1, device)
    augment = crop_augment(encoder)
    clock = StepClock()
    for step in range(4):
        train_classifier(model, augment, images[:batch], labels[:batch], 1, 1e-4, config, 0, device)
        if device == "cuda":
            torch.cuda.synchronize()
        clock.tick(step)
    return clock.seconds_per_step()


def fit_trained_budget(
    encoder: SensorEncoder,
    images: torch.Tensor,
    labels: torch.Tensor,
    label_counts: list[int],
    runs_per_count: int,
    config: TrainingSettings,
    accelerator: str = "auto",
) -> TrainedBudget:
    """The epochs the trained rows can have within ``config.finetune_minutes`` on this machine.

    Times a training step at a full batch and at ``SMALL_BATCH`` chips (a step costs a fixed
    part plus a part per chip), predicts the time of ``runs_per_count`` models at each of
    ``label_counts`` and keeps the most epochs (the minimum steps lowered with them) whose
    prediction fits. The epochs stay the same for every label ratio, so the training still
    grows with the labels.
    """
    planned = config.finetune_epochs
    if config.finetune_minutes is None:
        return TrainedBudget(planned, config.min_steps, planned, math.nan, None, (math.nan,) * 2)
    device = resolve_accelerator(accelerator)
    full = min(config.batch_size, len(labels))
    full_step, small_step = (
        _step_seconds(encoder, images, labels, b, config, device) for b in (full, SMALL_BATCH)
    )
    per_chip = max(0.0, (full_step - small_step) / max(1, full - SMALL_BATCH))
    fixed = max(0.0, small_step - SMALL_BATCH * per_chip)

    def min_steps(epochs: int) -> int:
        return max(1, math.ceil(config.min_steps * epochs / planned))

    def predicted(epochs: int) -> float:
        limits = dataclasses.replace(config, finetune_epochs=epochs, min_steps=min_steps(epochs))
        seconds = 0.0
        for count in label_counts:
            steps = training_steps(count, epochs, limits)
            chips_per_step = count / math.ceil(count / min(config.batch_size, count))
            seconds += steps * (fixed + per_chip * chips_per_step)
        return seconds * runs_per_count

    budget = config.finetune_minutes * 60
    epochs = most_that_fit(planned, 1, predicted, budget)
    return TrainedBudget(
        epochs, min_steps(epochs), planned, predicted(epochs), budget, (full_step, small_step)
    )
