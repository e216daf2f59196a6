"""What embeddings are worth with few labels: EOTDL's EuroSAT table, with a protocol that holds.

Scene classification (EuroSAT's ten classes) of the held-out ("test") chips after seeing the
labels of 1 %, 10 % or 100 % of the training split. Methods (``METHODS``, the names the results
file uses):

- ``majority``: always the most frequent class of the training split (its prior);
- ``band_statistics``: logistic regression on each chip's per-band mean and standard deviation,
  the shortcut baseline: where it does well, a class needs no spatial structure;
- ``scratch``: the encoder's architecture trained from random weights on the labels;
- ``random_probe``: the same network with random weights, frozen, and a linear probe;
- ``ssl_probe``: the self-supervised encoder (Barlow Twins, notebook A2), frozen, linear probe;
- ``ssl_knn``: a cosine k-nearest-neighbour vote in the self-supervised embedding space;
- ``ssl_finetune``: the self-supervised encoder and a new head, all trained on the labels.

The protocol:

- "1 %" is 1 % of the training labels, stratified by class; at least one label per class only
  where 1 % gives fewer, and the table reports the real count;
- every row (trained ones included) is a mean and standard deviation over the same seeded label
  draws (at least 5); at 100 % the draws differ only by the training seed;
- trained rows get a budget in epochs (so it grows with the labels) and each its own learning
  rate; probes get their regularisation chosen on the validation split;
- splits are by spatial block (``tiling.store.SPLIT_BLOCK_M``), and cloudy or shadowed chips are
  dropped when the store is cut (``tile(max_cloud_percent=...)``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm.auto import tqdm

from eotdl_tutorials.data import ChipAugment, ChipDataset, ChipStore, make_loader, resize_to
from eotdl_tutorials.models.base import adamw, warmup_cosine
from eotdl_tutorials.models.encoder import SensorEncoder, check_bands
from eotdl_tutorials.training.settings import TrainingSettings, settings
from eotdl_tutorials.training.trainer import resolve_accelerator, seed

METHODS = (
    "majority",
    "band_statistics",
    "scratch",
    "random_probe",
    "ssl_probe",
    "ssl_knn",
    "ssl_finetune",
)
METHOD_TITLES = {
    "majority": "majority class (training prior)",
    "band_statistics": "band statistics + logistic regression",
    "scratch": "trained from scratch",
    "random_probe": "random weights + linear probe",
    "ssl_probe": "self-supervised + linear probe (frozen)",
    "ssl_knn": "self-supervised + k-NN",
    "ssl_finetune": "self-supervised, fine-tuned",
}
#: EOTDL's EuroSAT benchmark (ResNet18, RGB, 20 epochs): accuracy (%) by method and labels (%).
EOTDL_EUROSAT = {
    ("scratch", 1): 11.6,
    ("ssl_probe", 1): 58.7,
    ("ssl_finetune", 1): 76.9,
    ("ssl_probe", 100): 83.4,
    ("ssl_finetune", 100): 93.2,
}
EOTDL_EUROSAT_SOURCE = (
    "EOTDL use case A, self-supervised pre-training evaluated on EuroSAT (ResNet18, RGB, "
    "20 epochs), as quoted in the course's issue #10"
)
#: Inverse regularisation strengths tried for the probes (chosen on the validation split).
PROBE_C = (0.01, 0.1, 1.0, 10.0, 100.0)
# Names of the first version of this module, kept for code that reads them.
PRETRAINED, RANDOM = "ssl", "random"


def label_subset(labels: np.ndarray, ratio: float, random_seed: int = 0) -> np.ndarray:
    """Positions of ``ratio`` of ``labels``, stratified by class and seeded.

    Draws ``round(ratio * len(labels))`` labels spread over the classes in proportion, with at
    least one per class: where that share is smaller than the number of classes, one label per
    class is drawn.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"label ratio must be in (0, 1], got {ratio}")
    codes, sizes = np.unique(labels, return_counts=True)
    target = max(round(ratio * labels.size), codes.size)
    exact = target * sizes / labels.size
    take = np.clip(np.floor(exact).astype(int), 1, sizes)
    while take.sum() < target:  # the classes furthest below their share first
        take[np.argmax(np.where(take < sizes, exact - take, -np.inf))] += 1
    while take.sum() > target:  # the classes furthest above it (never below one)
        take[np.argmax(np.where(take > 1, take - exact, -np.inf))] -= 1
    rng = np.random.default_rng(random_seed)
    chosen = [
        rng.permutation(np.flatnonzero(labels == code))[:count]
        for code, count in zip(codes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def embed(
    encoder: SensorEncoder,
    store: ChipStore,
    rows: np.ndarray,
    batch_size: int = 256,
    accelerator: str = "auto",
) -> np.ndarray:
    """Embeddings (len(rows), D) of the store's chips (resized to the encoder's input size).

    The encoder is moved to the chosen device and put in eval mode; bf16 autocast on CUDA.
    """
    check_bands(encoder, store.sensor(encoder.sensor).bands)
    dataset = ChipDataset(store, encoder.sensor, rows, fill=encoder.stats.mean, with_labels=False)
    device = resolve_accelerator(accelerator)
    encoder = encoder.to(device).eval()
    outputs = []
    with torch.no_grad(), torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
        for batch in make_loader(dataset, batch_size, shuffle=False):
            images = resize_to(batch["image"].to(device, non_blocking=True), encoder.input_size)
            outputs.append(encoder(images).float().cpu())
    return torch.cat(outputs).numpy()


def band_statistics(store: ChipStore, sensor: str, rows: np.ndarray) -> np.ndarray:
    """Per-band mean and standard deviation of each chip's physical values: (len(rows), 2C)."""
    dataset = ChipDataset(store, sensor, rows, with_labels=False)
    images = dataset.read(np.arange(len(rows)))["image"].double()
    return torch.cat([images.mean(dim=(2, 3)), images.std(dim=(2, 3))], dim=1).numpy()


def random_encoder(like: SensorEncoder, random_seed: int = 0) -> SensorEncoder:
    """An encoder with ``like``'s architecture, bands and normalisation but random weights."""
    with torch.random.fork_rng():
        torch.manual_seed(random_seed)
        return SensorEncoder.from_config(like.config()).eval()


def linear_probe_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    unlabelled_x: np.ndarray | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Accuracy of a logistic regression on standardised features.

    The standardisation is fitted on ``unlabelled_x`` when given (e.g. the whole training split:
    no labels needed), else on ``train_x``. With ``val`` (features, labels) the inverse
    regularisation ``C`` is the one of ``PROBE_C`` that scores best there; else ``C = 1``.
    """
    scaler = StandardScaler().fit(train_x if unlabelled_x is None else unlabelled_x)
    fit_x = scaler.transform(train_x)

    def probe(c: float) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=2000).fit(fit_x, train_y)

    if val is None or len(val[1]) == 0:
        best = probe(1.0)
    else:
        val_x = scaler.transform(val[0])
        fitted = [probe(c) for c in PROBE_C]
        best = max(fitted, key=lambda p: p.score(val_x, val[1]))  # ties: the strongest penalty
    return float(best.score(scaler.transform(test_x), test_y))


def knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> float:
    """Accuracy of a cosine-distance k-nearest-neighbour vote.

    ``k`` is capped by the smallest class count, so one label per class means 1-NN.
    """
    k = max(1, min(k, int(np.bincount(train_y)[np.unique(train_y)].min())))
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine")
    return float(knn.fit(train_x, train_y).score(test_x, test_y))


class _Classifier(nn.Module):
    def __init__(self, encoder: SensorEncoder, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def _train_classifier(
    model: nn.Module,
    augment: ChipAugment,
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    lr: float,
    config: TrainingSettings,
    random_seed: int,
    device: str,
) -> None:
    """``steps`` AdamW steps with a warm-up cosine schedule over shuffled batches of the labels."""
    cuda = device == "cuda"
    batch_size = min(config.batch_size, len(labels))
    optimizer = adamw(model.parameters(), lr, config.weight_decay)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, steps, warmup)
    )
    generator = torch.Generator().manual_seed(random_seed)
    images, labels = images.to(device), labels.to(device)
    step = 0
    while step < steps:
        order = torch.randperm(len(labels), generator=generator).to(device)
        for start in range(0, len(labels), batch_size):
            pick = order[start : start + batch_size]
            with torch.autocast(device, torch.bfloat16, enabled=cuda):
                # the encoder makes its input channels-last itself
                loss = F.cross_entropy(model(augment(images[pick])).float(), labels[pick])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step >= steps:
                break


def _classifier(encoder: SensorEncoder, num_classes: int, device: str) -> nn.Module:
    return _Classifier(copy.deepcopy(encoder), num_classes).to(device).train()


def _augment(encoder: SensorEncoder) -> ChipAugment:
    return ChipAugment(encoder.sensor, encoder.input_size, (0.6, 1.0), jitter=0.5)


def training_steps(labels: int, epochs: int, config: TrainingSettings) -> int:
    """Optimizer steps of a trained row: ``epochs`` passes over ``labels`` chips (batches of
    ``config.batch_size``), at least ``config.min_steps``."""
    return max(epochs * math.ceil(labels / min(config.batch_size, labels)), config.min_steps)


def trained_accuracy(
    encoder: SensorEncoder,
    images: torch.Tensor,
    labels: torch.Tensor,
    test_images: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    epochs: int,
    lr: float,
    config: TrainingSettings,
    random_seed: int = 0,
    accelerator: str = "auto",
) -> float:
    """Test accuracy of ``encoder`` + a new linear head, every weight trained on the labels.

    AdamW with a warm-up cosine schedule for ``epochs`` passes over the labelled chips (at
    least ``config.min_steps`` steps), random crops, flips and rotations as in pre-training;
    bf16 autocast and channels-last on CUDA. A plain loop: the evaluation trains dozens of
    small models, where a Lightning ``Trainer``'s set-up per run would cost more than training.
    """
    seed(random_seed)
    device = resolve_accelerator(accelerator)
    model = _classifier(encoder, num_classes, device)
    steps = training_steps(len(labels), epochs, config)
    _train_classifier(
        model, _augment(encoder), images, labels, steps, lr, config, random_seed, device
    )
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
        for start in range(0, len(test_labels), 256):
            batch = resize_to(test_images[start : start + 256].to(device), encoder.input_size)
            predicted = model(batch).argmax(1).cpu()
            correct += int((predicted == test_labels[start : start + 256]).sum())
    return correct / len(test_labels)


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
    """Seconds of one step of :func:`_train_classifier` at ``batch`` chips (the median of
    three, after one to warm up)."""
    config = dataclasses.replace(config, batch_size=batch)
    model = _classifier(encoder, int(labels.max()) + 1, device)
    augment = _augment(encoder)
    times = []
    for _ in range(4):
        started = time.perf_counter()
        _train_classifier(
            model, augment, images[:batch], labels[:batch], 1, 1e-4, config, 0, device
        )
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


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
    ``label_counts`` and lowers the epochs (and the minimum steps with them) until the
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

    def predicted(epochs: int, min_steps: int) -> float:
        limits = dataclasses.replace(config, finetune_epochs=epochs, min_steps=min_steps)
        seconds = 0.0
        for count in label_counts:
            steps = training_steps(count, epochs, limits)
            chips_per_step = count / math.ceil(count / min(config.batch_size, count))
            seconds += steps * (fixed + per_chip * chips_per_step)
        return seconds * runs_per_count

    budget = config.finetune_minutes * 60
    for epochs in range(planned, 0, -1):
        min_steps = max(1, math.ceil(config.min_steps * epochs / planned))
        if predicted(epochs, min_steps) <= budget:
            break
    return TrainedBudget(
        epochs, min_steps, planned, predicted(epochs, min_steps), budget, (full_step, small_step)
    )


@dataclass
class FewLabelResult:
    """The accuracy table and the embeddings behind it (per encoder: ``"ssl"``, ``"random"``)."""

    table: pd.DataFrame
    train_embeddings: dict[str, np.ndarray]
    train_labels: np.ndarray
    test_embeddings: dict[str, np.ndarray]
    test_labels: np.ndarray
    classes: tuple[str, ...]
    #: The trained rows' epochs and time budget (None without trained rows).
    trained_budget: TrainedBudget | None = None

    def embeddings(self, encoder: str = PRETRAINED) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and labels of the training and test chips of ``encoder``, together."""
        stacked = np.concatenate([self.train_embeddings[encoder], self.test_embeddings[encoder]])
        return stacked, np.concatenate([self.train_labels, self.test_labels])

    def pivot(self, column: str = "accuracy_mean") -> pd.DataFrame:
        """``column`` with one row per method (in ``METHODS`` order) and one column per labels
        percentage."""
        table = self.table.pivot(index="method", columns="labels_percent", values=column)
        return table.reindex([m for m in METHODS if m in table.index])

    def rows(self) -> list[dict]:
        """The rows of the results file: method, labels_percent, accuracy mean and sd, draws."""
        keys = ["method", "labels_percent", "labels", "accuracy_mean", "accuracy_sd", "draws"]
        return [
            {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in self.table[keys].to_dict("records")
        ]

    def with_reference(self) -> pd.DataFrame:
        """Mean accuracy (%) beside EOTDL's EuroSAT figures (``EOTDL_EUROSAT``) where it has one."""
        table = self.table[["method", "labels_percent", "labels"]].copy()
        table["accuracy_%"] = (self.table["accuracy_mean"] * 100).round(1)
        table["sd_%"] = (self.table["accuracy_sd"] * 100).round(1)
        table["EOTDL EuroSAT_%"] = [
            EOTDL_EUROSAT.get((m, round(p)), np.nan)
            for m, p in zip(table["method"], table["labels_percent"], strict=True)
        ]
        return table


def _row(method: str, ratio: float, labels: int, accuracies: list[float]) -> dict:
    return {
        "method": method,
        "labels_percent": ratio * 100,
        "labels": labels,
        "draws": len(accuracies),
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
    }


def _images(store: ChipStore, encoder: SensorEncoder, rows: np.ndarray) -> torch.Tensor:
    dataset = ChipDataset(store, encoder.sensor, rows, fill=encoder.stats.mean, with_labels=False)
    return dataset.read(np.arange(len(rows)))["image"]


def evaluate_label_ratios(
    store: str | os.PathLike[str] | ChipStore,
    encoder: SensorEncoder,
    profile: str = "ci",
    ratios: tuple[float, ...] | None = None,
    draws: int | None = None,
    random_seed: int = 0,
    trained: bool = True,
    accelerator: str = "auto",
    progress: bool = True,
    epochs: int | None = None,
    minutes: float | None = None,
) -> FewLabelResult:
    """Accuracy on the test split of every method of ``METHODS`` (see the module docstring) at
    each label ratio, over ``draws`` seeded label draws (seeds ``random_seed + d``).

    ``trained=False`` leaves out ``scratch`` and ``ssl_finetune`` (the slow rows). Their epochs
    are the profile's, lowered to fit its time budget; ``epochs`` trains that many with no
    budget, ``minutes`` sets the budget (see :func:`fit_trained_budget`).
    """
    chips = store if isinstance(store, ChipStore) else ChipStore(store)
    config = settings(profile, finetune_epochs=epochs, finetune_minutes=minutes)
    ratios = ratios or config.label_ratios
    draws = draws or config.label_draws
    if not (chips.labels >= 0).any():
        raise ValueError(
            f"chip store {chips.root} has no land-cover labels (every label is -1, as for chips "
            "of real EarthView tiles): give it labels from a land-cover raster with "
            "eotdl_tutorials.data.label_store_from_raster (notebook A3: -p label_source "
            "PATH_OR_URL, e.g. an ESA WorldCover tile)"
        )
    rows_of = {  # chips without a label (-1) take no part
        split: (r := chips.split_indices(split))[chips.labels[r] >= 0]
        for split in ("train", "val", "test")
    }
    for split in ("train", "test"):
        if rows_of[split].size == 0:
            raise ValueError(
                f"chip store {chips.root} has no {split!r} chips with a label to evaluate with"
            )
    train_y, val_y, test_y = (chips.labels[rows_of[s]] for s in ("train", "val", "test"))
    num_classes = max(len(chips.classes), int(chips.labels.max()) + 1)
    encoders = {PRETRAINED: encoder, RANDOM: random_encoder(encoder, random_seed)}
    splits = [s for s in rows_of if rows_of[s].size]  # a store may have no validation chips
    features = {
        name: {s: embed(e, chips, rows_of[s], accelerator=accelerator) for s in splits}
        for name, e in encoders.items()
    }
    features["bands"] = {s: band_statistics(chips, encoder.sensor, rows_of[s]) for s in splits}
    budget = None
    if trained:
        train_images = _images(chips, encoder, rows_of["train"])
        test_images = resize_to(_images(chips, encoder, rows_of["test"]), encoder.input_size)
        counts = [label_subset(train_y, ratio, random_seed).size for ratio in ratios]
        budget = fit_trained_budget(
            encoder,
            train_images,
            torch.from_numpy(train_y),
            counts,
            2 * draws,
            config,
            accelerator,
        )
        config = dataclasses.replace(
            config, finetune_epochs=budget.epochs, min_steps=budget.min_steps
        )
    prior = int(np.bincount(train_y).argmax())
    table = []
    scored: dict[tuple[str, bytes], float] = {}
    work = [(ratio, d) for ratio in ratios for d in range(draws)]
    bar = tqdm(total=len(work), desc="label draws", disable=not progress)
    for ratio in ratios:
        accuracies: dict[str, list[float]] = {m: [] for m in METHODS}
        labels = 0
        for d in range(draws):
            sub = label_subset(train_y, ratio, random_seed + d)
            labels = sub.size
            accuracies["majority"].append(float(np.mean(test_y == prior)))
            key = sub.tobytes()  # the probes are deterministic: a repeated subset (100 %)
            for method, name in (  # is scored once
                ("band_statistics", "bands"),
                ("random_probe", RANDOM),
                ("ssl_probe", PRETRAINED),
            ):
                x = features[name]
                if (method, key) not in scored:
                    scored[method, key] = linear_probe_accuracy(
                        x["train"][sub],
                        train_y[sub],
                        x["test"],
                        test_y,
                        x["train"],
                        (x["val"], val_y) if "val" in x else None,
                    )
                accuracies[method].append(scored[method, key])
            x = features[PRETRAINED]
            if ("ssl_knn", key) not in scored:
                scored["ssl_knn", key] = knn_accuracy(
                    x["train"][sub], train_y[sub], x["test"], test_y, config.knn_k
                )
            accuracies["ssl_knn"].append(scored["ssl_knn", key])
            if trained:
                images, targets = train_images[sub], torch.from_numpy(train_y[sub])
                test_targets = torch.from_numpy(test_y)
                for method, start, lr in (
                    ("scratch", random_encoder(encoder, random_seed + d), config.scratch_lr),
                    ("ssl_finetune", encoder, config.finetune_lr),
                ):
                    accuracies[method].append(
                        trained_accuracy(
                            start,
                            images,
                            targets,
                            test_images,
                            test_targets,
                            num_classes,
                            config.finetune_epochs,
                            lr,
                            config,
                            random_seed + d,
                            accelerator,
                        )
                    )
            bar.update()
        table += [_row(m, ratio, labels, a) for m, a in accuracies.items() if a]
    bar.close()
    return FewLabelResult(
        pd.DataFrame(table),
        {name: features[name]["train"] for name in encoders},
        train_y,
        {name: features[name]["test"] for name in encoders},
        test_y,
        chips.classes,
        budget,
    )


def summarize(result: FewLabelResult) -> str:
    """Plain sentences built from the computed table (no figure is written by hand)."""
    mean, sd = result.pivot(), result.pivot("accuracy_sd")
    lowest, highest = min(mean.columns), max(mean.columns)
    count = result.table.set_index(["method", "labels_percent"])["labels"]

    def cell(method: str, percent: float) -> str:
        return f"{mean.loc[method, percent]:.1%} (sd {sd.loc[method, percent]:.1%})"

    def gap(a: str, b: str, percent: float) -> str:
        points = (mean.loc[a, percent] - mean.loc[b, percent]) * 100
        side = "above" if points > 0 else "below" if points < 0 else "level with"
        return f"{abs(points):.1f} points {side}"

    draws = int(result.table["draws"].min())
    lines = [
        f"Held-out test chips: {len(result.test_labels)}; one chip is "
        f"{100 / len(result.test_labels):.2f} accuracy points. Means over {draws} label draws.",
        f"With {count['ssl_probe', lowest]} labels ({lowest:g} % of the training split) the "
        f"self-supervised probe reaches {cell('ssl_probe', lowest)}, "
        f"{gap('ssl_probe', 'random_probe', lowest)} the random-weights probe "
        f"({cell('random_probe', lowest)}).",
        f"Band statistics with all {count['band_statistics', highest]} labels: "
        f"{cell('band_statistics', highest)}; the majority class: "
        f"{mean.loc['majority', highest]:.1%}.",
    ]
    if "scratch" in mean.index:
        lines += [
            f"Fine-tuned at {lowest:g} %: {cell('ssl_finetune', lowest)}, "
            f"{gap('ssl_finetune', 'scratch', lowest)} training from scratch "
            f"({cell('scratch', lowest)}).",
            f"At {highest:g} %: from scratch {cell('scratch', highest)}, "
            f"{gap('scratch', 'band_statistics', highest)} band statistics; "
            f"fine-tuned {cell('ssl_finetune', highest)}.",
        ]
    if result.trained_budget is not None:
        lines.append(result.trained_budget.describe())
    return "\n".join(lines)


#: The size (points) each gap of :func:`directions` should have for the course's lesson to hold
#: as it holds on real imagery (EOTDL's EuroSAT gaps at 1 % are 47 and 65 points).
LESSON_GOALS = {
    "ssl_probe_over_random_probe_at_low": 10.0,
    "scratch_over_band_statistics_at_full": 15.0,
    "ssl_finetune_over_scratch_at_low": 10.0,
}


def lesson_report(gaps: dict[str, float]) -> str:
    """One line per gap of :func:`directions`: its size, its sign and the goal it reaches or not."""
    lines = []
    for name, points in gaps.items():
        goal = LESSON_GOALS[name]
        verdict = (
            f"reaches the goal of {goal:g}"
            if points >= goal
            else f"right direction, below the goal of {goal:g}"
            if points > 0
            else "NOT REPRODUCED (wrong direction)"
        )
        lines.append(f"{name}: {points:+.1f} points, {verdict}")
    return "\n".join(lines)


def directions(result: FewLabelResult) -> dict[str, float]:
    """The three gaps (points) the course's lesson rests on: scratch over band statistics at
    100 %, fine-tuned over scratch and the self-supervised probe over random weights at 1 %."""
    mean = result.pivot() * 100
    lowest, highest = min(mean.columns), max(mean.columns)
    gaps = {
        "ssl_probe_over_random_probe_at_low": mean.loc["ssl_probe", lowest]
        - mean.loc["random_probe", lowest]
    }
    if "scratch" in mean.index:
        gaps["scratch_over_band_statistics_at_full"] = (
            mean.loc["scratch", highest] - mean.loc["band_statistics", highest]
        )
        gaps["ssl_finetune_over_scratch_at_low"] = (
            mean.loc["ssl_finetune", lowest] - mean.loc["scratch", lowest]
        )
    return {k: float(v) for k, v in gaps.items()}
