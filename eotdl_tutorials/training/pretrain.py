"""Barlow Twins pre-training of one sensor's encoder on a chip store, and its model folder.

The encoder lands in a known place (:func:`model_dir_for`: ``data_dir()/models/
barlow-twins-{sensor}-{profile}``) so the evaluation notebook can load it, or pre-train it with
the same function when it is missing (:func:`load_or_pretrain`).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from eotdl_tutorials.data import ChipDataModule, ChipStore
from eotdl_tutorials.models import CONFIG_NAME
from eotdl_tutorials.models.barlow_twins import BarlowTwinsTask
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.models.encoder_io import encoder_card, load_encoder, save_encoder
from eotdl_tutorials.profiles import check_profile, data_dir
from eotdl_tutorials.training.budget import TimeBudget
from eotdl_tutorials.training.settings import settings
from eotdl_tutorials.training.trainer import fit, seed

#: About how many times a pre-training run computes its validation loss.
VALIDATIONS = 10


def model_dir_for(sensor: str, profile: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the pre-trained ``sensor`` encoder of ``profile`` is kept (under ``data_dir()``)."""
    return Path(root or data_dir()) / "models" / f"barlow-twins-{sensor}-{check_profile(profile)}"


def publish_encoder(
    encoder: SensorEncoder,
    model_dir: str | os.PathLike[str],
    store: ChipStore,
    extra: dict | None = None,
    onnx: bool = True,
) -> Path:
    """Export the encoder (weights, ONNX graph, card, STAC MLM Item) into ``model_dir``."""
    info = store.sensor(encoder.sensor)
    dates = pd.to_datetime(store.index["datetime"], utc=True) if "datetime" in store.index else None
    card = encoder_card(
        encoder,
        dn_scale=info.scale,
        dn_offset=info.offset,
        units=info.units,
        name=f"barlow-twins-{encoder.sensor}-{encoder.arch}",
        description=f"{encoder.arch} encoder of {encoder.sensor} chips pre-trained with "
        f"Barlow Twins on {store.root.name}",
    )
    save_encoder(
        encoder,
        model_dir,
        card,
        onnx=onnx,
        extra=extra,
        bbox=store.bounds(),
        start=dates.min().to_pydatetime() if dates is not None else None,
        end=dates.max().to_pydatetime() if dates is not None else None,
        pretrained_source="Barlow Twins self-supervised pre-training",
    )
    return Path(model_dir)


def pretrain_encoder(
    store: str | os.PathLike[str],
    sensor: str = "s2",
    profile: str = "ci",
    model_dir: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    pretrained: bool = False,
    random_seed: int = 0,
    ckpt_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    onnx: bool = True,
    num_workers: int | None = None,
    train_minutes: float | None = None,
    projector_dims: tuple[int, ...] | None = None,
) -> Path:
    """Pre-train the ``sensor`` encoder with Barlow Twins on the store's training split.

    Settings come from :func:`~eotdl_tutorials.training.settings` for ``profile``; ``epochs``
    (then without the profile's step and time budgets), ``batch_size``, ``num_workers``,
    ``train_minutes`` (the most training time; the steps that fit are measured, see
    :class:`~eotdl_tutorials.training.TimeBudget`) and ``projector_dims`` override them.
    The run (``metrics.csv``, checkpoints) goes to ``model_dir/run``; the encoder, its ONNX
    export and STAC Item to ``model_dir`` (default :func:`model_dir_for`).
    ``ckpt_path="last"`` resumes an interrupted run. Returns ``model_dir``.
    """
    config = settings(
        profile,
        epochs=epochs,
        batch_size=batch_size,
        num_workers=num_workers,
        train_minutes=train_minutes,
        projector_dims=tuple(projector_dims) if projector_dims else None,
    )
    chips = ChipStore(store)
    info = chips.sensor(sensor)
    model_dir = Path(model_dir) if model_dir is not None else model_dir_for(sensor, profile)
    seed(random_seed)
    datamodule = ChipDataModule(
        chips.root,
        sensor,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        with_labels=False,
        drop_last=True,
    )
    task = BarlowTwinsTask(
        sensor,
        datamodule.stats.to_dict(),
        arch=config.arch,
        input_size=config.input_size(sensor, info.shape[1]),
        projector_dims=config.projector_dims,
        lr=config.lr,
        weight_decay=config.weight_decay,
        pretrained=pretrained,
    )
    batches = max(1, len(datamodule.train_rows) // config.batch_size)
    planned_epochs = config.epochs
    if config.max_steps is not None:
        planned_epochs = min(planned_epochs, math.ceil(config.max_steps / batches))
    budget = [TimeBudget(config.train_minutes * 60)] if config.train_minutes else []
    trainer = fit(
        task,
        datamodule,
        model_dir / "run",
        max_epochs=config.epochs,
        check_val_every_n_epoch=max(1, planned_epochs // VALIDATIONS),
        max_steps=config.max_steps or -1,
        ckpt_path=ckpt_path,
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        progress=progress,
        callbacks=budget,
    )
    if trainer.is_global_zero:
        training = {"store": str(chips.root), "profile": profile, "seed": random_seed}
        training |= {"epochs": config.epochs, "batch_size": config.batch_size}
        training |= {"steps": trainer.global_step, "train_minutes": config.train_minutes}
        if budget:
            training["planned_steps"] = budget[0].planned
        extra = {"training": training}
        publish_encoder(task.encoder.cpu().eval(), model_dir, chips, extra, onnx=onnx)
    return model_dir


def load_or_pretrain(
    store: str | os.PathLike[str],
    sensor: str = "s2",
    profile: str = "ci",
    model_dir: str | os.PathLike[str] | None = None,
    **pretrain_kwargs: object,
) -> SensorEncoder:
    """The encoder saved in ``model_dir``; pre-trained first with :func:`pretrain_encoder`
    (same arguments) if the folder holds none."""
    model_dir = Path(model_dir) if model_dir is not None else model_dir_for(sensor, profile)
    if not (model_dir / CONFIG_NAME).is_file():
        pretrain_encoder(store, sensor, profile, model_dir, **pretrain_kwargs)
    return load_encoder(model_dir)
