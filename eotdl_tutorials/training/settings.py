"""Per-profile training settings: what ``ci``, ``default`` and ``full`` mean for training.

``ci`` finishes a notebook in about a minute on 2 CPU cores, ``default`` in a few minutes with
meaningful results, ``full`` is the paper-sized recipe for a GPU (projector 8192-8192-8192).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from eotdl_tutorials.profiles import check_profile


@dataclass(frozen=True)
class TrainingSettings:
    """Training knobs of one profile (override fields with :func:`dataclasses.replace`).

    Pre-training stops after ``epochs`` or ``max_steps`` optimizer steps, whichever comes
    first: the small profiles are budgets of steps (a tiny store needs many epochs), ``full``
    is a number of epochs (``max_steps`` None). ``train_minutes`` also caps the steps at what
    fits in that much training time on this machine (measured on the first steps, see
    :class:`~eotdl_tutorials.training.TimeBudget`): ``default`` promises its notebooks in
    10 min on 2 cores, and CPUs differ several times in training speed.
    """

    epochs: int
    max_steps: int | None
    batch_size: int
    projector_dims: tuple[int, ...]
    lr: float
    view_sizes: dict[str, int]
    supervised_steps: int
    num_workers: int
    train_minutes: float | None = None
    #: Trained rows of the few-label evaluation: epochs over the labelled chips (at least
    #: ``min_steps`` optimizer steps), and the learning rates from scratch and for fine-tuning.
    finetune_epochs: int = 30
    min_steps: int = 20
    #: The most time the trained rows may take on this machine: their epochs are lowered to fit
    #: (:func:`~eotdl_tutorials.training.fit_trained_budget`). None: no limit.
    finetune_minutes: float | None = None
    scratch_lr: float = 3e-3
    finetune_lr: float = 5e-4
    arch: str = "resnet18"
    weight_decay: float = 1e-4
    label_ratios: tuple[float, ...] = (0.01, 0.1, 1.0)
    label_draws: int = 10
    knn_k: int = 5

    def input_size(self, sensor: str, chip_size: int) -> int:
        """Size in pixels of the ``sensor`` encoder's input: its view size, at most the chip's.

        Small views keep CPU profiles fast (a 39 px Sentinel-2 chip is seen at 24 px in ``ci``
        and ``default``); ``full`` sees chips at their own size.
        """
        return min(chip_size, self.view_sizes.get(sensor, chip_size))


SETTINGS = {
    "ci": TrainingSettings(
        epochs=200,
        max_steps=50,
        batch_size=64,
        projector_dims=(512, 512, 512),
        lr=3e-3,
        view_sizes={"hr": 48, "s2": 24, "s1": 24},
        supervised_steps=30,
        num_workers=0,
        finetune_epochs=5,  # A3 within 90 s on a 2-core AVX2 machine (8 epochs: 93-108 s)
        min_steps=8,
        label_draws=5,
    ),
    "default": TrainingSettings(
        epochs=500,
        max_steps=1500,  # 395 s on one 2-core machine; 1,492 s on an AMD EPYC (AVX2)
        train_minutes=8.0,  # so A2 stays within 10 min where 1,500 steps do not fit
        batch_size=64,
        projector_dims=(1024, 1024, 1024),
        lr=3e-3,
        view_sizes={"hr": 96, "s2": 24, "s1": 24},
        supervised_steps=100,
        num_workers=1,
        finetune_epochs=10,  # A3's 60 trained models in its 10 min (20 epochs: 18 min)
        min_steps=15,
        finetune_minutes=7.0,  # so A3 stays within 10 min where 10 epochs do not fit
    ),
    "full": TrainingSettings(
        epochs=200,
        max_steps=None,
        batch_size=256,
        projector_dims=(8192, 8192, 8192),
        lr=1e-3,
        view_sizes={"hr": 384, "s2": 64, "s1": 64},
        supervised_steps=2000,
        num_workers=8,
        finetune_epochs=20,
        min_steps=100,
    ),
}


def settings(profile: str, **overrides: object) -> TrainingSettings:
    """The settings of ``profile``, with any field replaced by ``overrides`` that are not None.

    An explicit ``epochs`` means that many epochs: the profile's step cap and time budget are
    dropped (a ``train_minutes`` given with it still applies). Likewise an explicit
    ``finetune_epochs`` drops the profile's ``finetune_minutes``.
    """
    base = SETTINGS[check_profile(profile)]
    given = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in given:
        base = dataclasses.replace(base, max_steps=None, train_minutes=None)
    if "finetune_epochs" in given:
        base = dataclasses.replace(base, finetune_minutes=None)
    return dataclasses.replace(base, **given)
