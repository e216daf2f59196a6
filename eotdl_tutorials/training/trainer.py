"""Lightning helpers shared by every use case: one call gives a Trainer set up for the machine.

- device: ``accelerator="auto"`` picks CUDA when present, else the CPU;
- on CUDA: bf16 autocast (``precision="bf16-mixed"``), channels-last weights and inputs, pinned
  memory (the datamodules pin when the trainer runs on CUDA);
- several GPUs: ``devices=N`` with ``strategy="ddp"`` (Lightning's DistributedDataParallel);
- a progress bar, CSV metrics (``metrics.csv`` in the run folder) and a checkpoint
  (``checkpoints/last.ckpt``, refreshed every minute and at the end; resumed with
  ``ckpt_path="last"`` or a path);
- repeatable CPU runs: seed with :func:`lightning.seed_everything` (see :func:`seed`) and
  deterministic algorithms (the default on the CPU).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger

from eotdl_tutorials.files import check_writable

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")


def resolve_accelerator(accelerator: str = "auto") -> str:
    """``"cuda"`` or ``"cpu"`` (or ``"mps"``) for ``accelerator``; ``"auto"`` prefers CUDA."""
    if accelerator not in ACCELERATORS:
        raise ValueError(
            f"unknown accelerator {accelerator!r}: use one of {', '.join(ACCELERATORS)}"
        )
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            raise ValueError("accelerator='cuda' was asked for but no CUDA GPU is available")
        return "cuda"
    return accelerator


def default_precision(accelerator: str) -> str:
    """bf16 autocast on CUDA GPUs that support it, else full float32."""
    if accelerator == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def seed(value: int) -> int:
    """Seed Python, NumPy and torch (and loader workers) for a repeatable run."""
    return L.seed_everything(value, workers=True, verbose=False)


class LastCheckpoint(Callback):
    """Keep ``checkpoints/last.ckpt`` current: at most every ``every_seconds`` of training and
    when training ends (also after an interruption), written under a temporary name first."""

    def __init__(self, folder: Path, every_seconds: float = 60.0) -> None:
        self.path = folder / "last.ckpt"
        self.every_seconds = every_seconds
        self._saved_at = time.monotonic()

    def save(self, trainer: L.Trainer) -> None:
        """Write the checkpoint (every rank calls this; rank 0 writes and renames)."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        self._saved_at = time.monotonic()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if time.monotonic() - self._saved_at >= self.every_seconds:
            self.save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.save(trainer)

    def on_exception(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step > 0:
            self.save(trainer)


class ChannelsLast(Callback):
    """On CUDA, store convolution weights channels-last (the datamodule sends NHWC inputs)."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if pl_module.device.type == "cuda":
            pl_module.to(memory_format=torch.channels_last)


def quiet_lightning() -> None:
    """Silence Lightning's start-up chatter (device lines, tips) and known harmless warnings."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    # make_trainer logs a fresh run into its folder on purpose (resumed runs use resumed-N).
    warnings.filterwarnings("ignore", message=r".*Previous log files in this directory will be.*")


def make_trainer(
    out_dir: str | os.PathLike[str],
    max_epochs: int,
    accelerator: str = "auto",
    devices: int | str = 1,
    strategy: str = "auto",
    precision: str | None = None,
    deterministic: bool | None = None,
    progress: bool = True,
    log_every_n_steps: int = 1,
    callbacks: Sequence[Callback] = (),
    log_version: str = "",
    checkpoint: bool = True,
    checkpoint_seconds: float = 60.0,
    **trainer_kwargs: object,
) -> L.Trainer:
    """A Trainer writing ``metrics.csv`` and ``checkpoints/last.ckpt`` under ``out_dir``.

    ``precision`` defaults to :func:`default_precision`; ``deterministic`` defaults to True on
    the CPU (repeatable with a seed) and False on GPUs (faster kernels). ``log_version`` names a
    sub-folder for the CSV metrics (a resumed run logs into ``resumed-N``). With ``checkpoint``,
    ``last.ckpt`` is refreshed every ``checkpoint_seconds`` of training and at the end. Extra
    keyword arguments go to :class:`lightning.Trainer` (e.g. ``limit_val_batches``).
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be at least 1, got {max_epochs}")
    out_dir = check_writable(out_dir)
    device = resolve_accelerator(accelerator)
    quiet_lightning()
    return L.Trainer(
        accelerator=device,
        devices=devices,
        strategy=strategy,
        precision=precision or default_precision(device),
        deterministic=(device == "cpu") if deterministic is None else deterministic,
        max_epochs=max_epochs,
        logger=CSVLogger(out_dir, name="", version=log_version),
        callbacks=[
            *([LastCheckpoint(out_dir / "checkpoints", checkpoint_seconds)] if checkpoint else []),
            ChannelsLast(),
            *callbacks,
        ],
        enable_progress_bar=progress,
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=log_every_n_steps,
        default_root_dir=out_dir,
        **trainer_kwargs,
    )


def resolve_checkpoint(ckpt_path: str | os.PathLike[str] | None, out_dir: Path) -> Path | None:
    """``"last"`` -> ``out_dir/checkpoints/last.ckpt``; checks that the file exists."""
    if ckpt_path is None:
        return None
    path = out_dir / "checkpoints" / "last.ckpt" if str(ckpt_path) == "last" else Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist: nothing to resume from")
    return path


def check_checkpoint(path: str | os.PathLike[str], task: L.LightningModule) -> None:
    """Raise a clear ``ValueError`` unless the checkpoint at ``path`` fits ``task``'s weights."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        raise ValueError(f"{path} is not a readable Lightning checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is not a Lightning checkpoint (no state_dict)")
    saved = {key: tuple(value.shape) for key, value in checkpoint["state_dict"].items()}
    wanted = {key: tuple(value.shape) for key, value in task.state_dict().items()}
    problems = [f"missing {key}" for key in wanted.keys() - saved.keys()]
    problems += [f"unexpected {key}" for key in saved.keys() - wanted.keys()]
    problems += [
        f"{key} has shape {saved[key]}, the model needs {wanted[key]}"
        for key in wanted.keys() & saved.keys()
        if saved[key] != wanted[key]
    ]
    if problems:
        hparams = checkpoint.get("hyper_parameters", {})
        origin = ", ".join(f"{k}={hparams[k]}" for k in ("sensor", "arch") if k in hparams)
        raise ValueError(
            f"checkpoint {path} ({origin or 'unknown model'}) does not fit "
            f"{type(task).__name__}: {'; '.join(sorted(problems)[:3])}"
            f"{' ...' if len(problems) > 3 else ''}"
        )


def fit(
    task: L.LightningModule,
    datamodule: L.LightningDataModule,
    out_dir: str | os.PathLike[str],
    max_epochs: int,
    ckpt_path: str | os.PathLike[str] | None = None,
    **trainer_kwargs: object,
) -> L.Trainer:
    """Train ``task`` on ``datamodule`` with :func:`make_trainer`; resume from ``ckpt_path``.

    A resumed run keeps the earlier ``metrics.csv`` and logs into ``out_dir/resumed-N``
    (:func:`~eotdl_tutorials.training.figures.read_metrics` joins them).

    Seed with :func:`seed` before building the task for a repeatable run.
    """
    resume = resolve_checkpoint(ckpt_path, Path(out_dir))
    version = ""
    if resume is not None:
        check_checkpoint(resume, task)
        version = f"resumed-{len(list(Path(out_dir).glob('resumed-*')))}"
    trainer = make_trainer(out_dir, max_epochs, log_version=version, **trainer_kwargs)
    trainer.fit(task, datamodule=datamodule, ckpt_path=resume)
    return trainer
