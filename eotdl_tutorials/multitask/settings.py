"""What ``ci``, ``default`` and ``full`` mean for use case C (sizes, steps, rounds, seeds)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from eotdl_tutorials.profiles import check_profile


@dataclass(frozen=True)
class MultitaskSettings:
    """Knobs of one profile (override fields with :func:`multitask_settings`).

    ``labelled``: the labelled training tiles (EOTDL labelled about 100; None: every training
    tile, as ``full`` does with a real export); ``steps``: optimiser
    steps per model; ``al_*``: the active-learning loop (initial labelled tiles, tiles taken
    per round, rounds, seeds, steps and batch size per training, pool tiles scored per round
    (None: all), test tiles that score every training (None: all; a fixed random sample, the
    same for every strategy and seed), MC-dropout samples for BALD).
    """

    labelled: int | None
    steps: int
    batch_size: int
    al_initial: int
    al_batch: int
    al_rounds: int
    al_seeds: tuple[int, ...]
    al_steps: int
    mc_iterations: int
    al_batch_size: int = 8
    al_pool_sample: int | None = None
    al_test_sample: int | None = None
    lr: float = 2e-3
    arch: str = "resnet18"
    depth: int = 4
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16)
    al_depth: int = 3
    al_decoder_channels: tuple[int, ...] = (64, 32, 16)
    seg_weight: float = 1.0
    cls_weight: float = 1.0
    #: Barlow Twins pre-training budget of the 1 m encoder when use case A has not made it.
    pretrain: dict = field(default_factory=dict)

    def model_kwargs(self) -> dict:
        return {"arch": self.arch, "depth": self.depth, "decoder_channels": self.decoder_channels}

    def al_model_kwargs(self) -> dict:
        return {
            "arch": self.arch,
            "depth": self.al_depth,
            "decoder_channels": self.al_decoder_channels,
        }


SETTINGS = {
    "ci": MultitaskSettings(
        labelled=32,
        steps=24,
        batch_size=8,
        al_initial=8,
        al_batch=8,
        al_rounds=2,
        al_seeds=(0, 1),
        al_steps=10,
        mc_iterations=4,
        pretrain={"epochs": 2, "batch_size": 32},
    ),
    "default": MultitaskSettings(
        labelled=100,
        steps=100,  # C2 in about 8 min on 2 idle cores, with the 1 m encoder's pre-training
        batch_size=16,
        al_initial=16,
        al_batch=16,
        al_rounds=5,
        al_seeds=(0, 1, 2),
        al_steps=18,
        mc_iterations=4,
        al_pool_sample=96,
        al_test_sample=144,
        pretrain={"epochs": 3, "batch_size": 32},
    ),
    "full": MultitaskSettings(
        labelled=None,  # every labelled training tile of the SCANEO export
        steps=3000,
        batch_size=32,
        al_initial=20,
        al_batch=20,
        al_rounds=10,
        al_seeds=(0, 1, 2),
        al_steps=1000,
        mc_iterations=20,
        al_batch_size=32,
        depth=5,
        decoder_channels=(256, 128, 64, 32, 16),
        al_depth=5,
        al_decoder_channels=(256, 128, 64, 32, 16),
    ),
}


def multitask_settings(profile: str, **overrides: object) -> MultitaskSettings:
    """The settings of ``profile`` with the ``overrides`` that are not None."""
    base = SETTINGS[check_profile(profile)]
    return dataclasses.replace(base, **{k: v for k, v in overrides.items() if v is not None})
