"""Benchmark: the Lightning helpers' training loop against a bare PyTorch loop, same run.

Both loops train the same model (:class:`ClassifierTask`, same seed) on the same loader of the
same chip store for the same number of steps; throughput is timed after a few warm-up steps.
The data pipeline alone is timed too, to show the loader outpaces the model.

- ``overhead = 1 - helper / bare`` (goal: under 10 %);
- ``loader_to_model_ratio = loader / helper`` samples per second (goal: at least 3).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from eotdl_tutorials.data import ChipDataModule, ChipStore, write_synthetic_store
from eotdl_tutorials.models.base import adamw
from eotdl_tutorials.models.classifier import ClassifierTask
from eotdl_tutorials.training.trainer import (
    default_precision,
    make_trainer,
    resolve_accelerator,
    seed,
)


class _StepTimer(L.Callback):
    """Wall time from the start of step ``warmup`` to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = self.end = 0.0
        self.samples = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.global_step == self.warmup:
            _sync(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if trainer.global_step > self.warmup:
            self.samples += batch["image"].shape[0]
            _sync(pl_module.device)
            self.end = time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _make_task(datamodule: ChipDataModule, random_seed: int) -> ClassifierTask:
    seed(random_seed)
    store = datamodule.store
    size = store.sensor(datamodule.sensor).shape[1]
    return ClassifierTask(
        datamodule.sensor,
        datamodule.stats.to_dict(),
        num_classes=max(len(store.classes), int(store.labels.max()) + 1),
        input_size=min(size, 64),
    )


def _helper_rate(
    datamodule: ChipDataModule,
    steps: int,
    warmup: int,
    accelerator: str,
    random_seed: int,
    out_dir: Path,
) -> float:
    task = _make_task(datamodule, random_seed)
    timer = _StepTimer(warmup)
    trainer = make_trainer(
        out_dir,
        max_epochs=10_000,
        max_steps=warmup + steps,
        accelerator=accelerator,
        limit_val_batches=0,
        progress=False,
        callbacks=[timer],
    )
    trainer.fit(task, datamodule=datamodule)
    return timer.samples / (timer.end - timer.start)


def _bare_rate(
    datamodule: ChipDataModule, steps: int, warmup: int, accelerator: str, random_seed: int
) -> float:
    device = torch.device(resolve_accelerator(accelerator))
    torch.use_deterministic_algorithms(device.type == "cpu")  # as make_trainer's default
    task = _make_task(datamodule, random_seed).to(device).train()
    bf16 = default_precision(device.type) == "bf16-mixed"
    if device.type == "cuda":
        task.to(memory_format=torch.channels_last)
    optimizer = adamw(task.parameters(), task.hparams["lr"], task.hparams["weight_decay"])
    step, samples, start = 0, 0, 0.0
    while step < warmup + steps:
        for batch in datamodule.train_dataloader():
            if step == warmup:
                _sync(device)
                start = time.perf_counter()
            images = batch["image"].to(device, non_blocking=True)
            labels = batch["label"].to(device, non_blocking=True)
            if device.type == "cuda":
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(task(task.augment(images)), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step > warmup:
                samples += images.shape[0]
            if step == warmup + steps:
                break
    _sync(device)
    return samples / (time.perf_counter() - start)


def _loader_rate(datamodule: ChipDataModule, samples: int) -> float:
    seen, start = 0, time.perf_counter()
    while seen < samples:
        for batch in datamodule.train_dataloader():
            seen += batch["image"].shape[0]
    return seen / (time.perf_counter() - start)


def bench_training(
    store: str | os.PathLike[str] | None = None,
    sensor: str = "s2",
    batch_size: int = 64,
    steps: int = 30,
    warmup: int = 3,
    repeats: int = 3,
    accelerator: str = "auto",
    num_workers: int = 0,
    random_seed: int = 0,
) -> dict[str, float | int | str]:
    """Samples per second of the helper loop, the bare loop and the loader alone.

    Without ``store`` a synthetic 32 px store of 640 chips is written to a temporary folder.
    Each loop runs ``repeats`` times, alternating, and its best rate is kept (less noise from
    other processes on a shared machine).
    """
    if steps < 1 or warmup < 1 or repeats < 1:
        raise ValueError("steps, warmup and repeats must be at least 1")
    with tempfile.TemporaryDirectory(prefix="eotdl-bench-") as scratch:
        root = (
            Path(store)
            if store is not None
            else write_synthetic_store(Path(scratch) / "store", count=640, sensors=(sensor,))
        )
        datamodule = ChipDataModule(ChipStore(root).root, sensor, batch_size, num_workers)
        helper, bare = [], []
        for repeat in range(repeats):
            bare.append(_bare_rate(datamodule, steps, warmup, accelerator, random_seed))
            run_dir = Path(scratch) / f"helper-{repeat}"
            helper.append(
                _helper_rate(datamodule, steps, warmup, accelerator, random_seed, run_dir)
            )
        loader = _loader_rate(datamodule, samples=max(20 * batch_size, 2000))
    helper_rate, bare_rate = max(helper), max(bare)
    return {
        "device": resolve_accelerator(accelerator),
        "sensor": sensor,
        "batch_size": batch_size,
        "steps": steps,
        "helper_samples_per_s": helper_rate,
        "bare_samples_per_s": bare_rate,
        "overhead": 1 - helper_rate / bare_rate,
        "loader_samples_per_s": loader,
        "loader_to_model_ratio": loader / helper_rate,
    }


def format_report(result: dict[str, float | int | str]) -> str:
    """A readable table of :func:`bench_training`'s result."""
    lines = [
        f"training loop benchmark ({result['device']}, sensor {result['sensor']}, "
        f"batch {result['batch_size']}, {result['steps']} timed steps)",
        f"  {'helper loop (Lightning)':<28}{result['helper_samples_per_s']:>12.1f} samples/s",
        f"  {'bare PyTorch loop':<28}{result['bare_samples_per_s']:>12.1f} samples/s",
        f"  {'overhead (goal < 10%)':<28}{result['overhead']:>12.1%}",
        f"  {'data pipeline alone':<28}{result['loader_samples_per_s']:>12.1f} samples/s",
        f"  {'loader / model (goal >= 3)':<28}{result['loader_to_model_ratio']:>12.1f}x",
    ]
    return "\n".join(lines)


#: The encoder variants :func:`bench_encoder_step` times, in order: each adds one change.
ENCODER_VARIANTS = {
    "plain": "timm's ResNet, plain convolutions (NCHW)",
    "small_conv": "+ small-input weight gradients",
    "channels_last": "+ channels-last (the course's encoder)",
}


def bench_encoder_step(
    arch: str = "resnet18",
    bands: int = 12,
    size: int = 24,
    batch_size: int = 64,
    steps: int = 10,
    repeats: int = 3,
) -> dict[str, float | int | str]:
    """A CPU training step of ``arch`` at ``size`` px, as timm builds it and as
    :class:`~eotdl_tutorials.models.encoder.SensorEncoder` runs it: first with
    :func:`~eotdl_tutorials.models.small_conv.speed_up_small_convolutions`, then also with
    channels-last weights and inputs. Same weights, same batch, variants alternated.

    Keys: ``<variant>_step_ms`` for each of :data:`ENCODER_VARIANTS` (the best of ``repeats``
    means over ``steps``), ``<variant>_speedup`` (plain over that variant) and
    ``max_grad_rel_diff`` (the largest difference of a weight gradient between plain and the
    course's encoder, relative to that gradient's largest value).
    """
    import timm

    from eotdl_tutorials.models.small_conv import speed_up_small_convolutions

    torch.manual_seed(0)
    plain = timm.create_model(arch, in_chans=bands, num_classes=0)
    models = {"plain": plain}
    for name in ("small_conv", "channels_last"):
        model = speed_up_small_convolutions(timm.create_model(arch, in_chans=bands, num_classes=0))
        model.load_state_dict(plain.state_dict())
        models[name] = model
    models["channels_last"].to(memory_format=torch.channels_last)
    images = torch.randn(batch_size, bands, size, size)
    inputs = {name: images for name in models}
    inputs["channels_last"] = images.contiguous(memory_format=torch.channels_last)
    grads = {}
    for name in ("plain", "channels_last"):
        models[name].zero_grad()
        models[name](inputs[name]).pow(2).mean().backward()
        grads[name] = [p.grad.clone() for p in models[name].parameters()]
    diff = max(
        float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
        for a, b in zip(grads["plain"], grads["channels_last"], strict=True)
    )

    def step_ms(name: str) -> float:
        model, batch = models[name], inputs[name]
        optimizer = torch.optim.AdamW(model.parameters())
        for step in range(steps + 2):  # two warm-up steps
            if step == 2:
                started = time.perf_counter()
            optimizer.zero_grad()
            model(batch).pow(2).mean().backward()
            optimizer.step()
        return (time.perf_counter() - started) / steps * 1000

    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats):  # alternate, keep the best of each
        for name in models:
            times[name].append(step_ms(name))
    result: dict[str, float | int | str] = {
        "arch": arch,
        "size": size,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
    }
    plain_ms = min(times["plain"])
    for name in models:
        result[f"{name}_step_ms"] = min(times[name])
        result[f"{name}_speedup"] = plain_ms / min(times[name])
    result["max_grad_rel_diff"] = diff
    return result


def format_encoder_step_report(result: dict[str, float | int | str]) -> str:
    """A readable table of :func:`bench_encoder_step`'s result."""
    lines = [
        f"CPU training step, {result['arch']} at {result['size']} px, batch "
        f"{result['batch_size']}, {result['threads']} threads",
    ]
    for name, label in ENCODER_VARIANTS.items():
        lines.append(
            f"  {label:<42}{result[f'{name}_step_ms']:>9.1f} ms{result[f'{name}_speedup']:>8.2f}x"
        )
    lines.append(f"  {'largest gradient difference':<42}{result['max_grad_rel_diff']:>9.1e}")
    return "\n".join(lines)
