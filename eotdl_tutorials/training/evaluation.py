"""What embeddings are worth with few labels, like EOTDL's EuroSAT benchmark.

Land-cover classification of the held-out ("test") chips from labels of a stratified, seeded
fraction of the training split (1 %, 10 %, 100 %; at least one chip per class):

- a frozen pre-trained encoder + a linear probe (logistic regression on embeddings standardised
  with statistics of the whole training split, which need no labels) and k-NN;
- the same architecture with random weights (the same probes): what pre-training adds;
- the same architecture trained from scratch with the same labels (supervised baseline);
- the majority class of the labelled subset (chance level).
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from tqdm.auto import tqdm

from eotdl_tutorials.data import ChipDataModule, ChipDataset, ChipStore, make_loader, resize_to
from eotdl_tutorials.models import ClassifierTask, SensorEncoder, check_bands
from eotdl_tutorials.training.settings import TrainingSettings, settings
from eotdl_tutorials.training.trainer import fit, resolve_accelerator, seed

PRETRAINED = "Barlow Twins"
RANDOM = "random weights"
SUPERVISED = "supervised from scratch"
MAJORITY = "majority class"
#: The methods' names in the results file (EOTDL's comparison table).
RESULT_METHODS = {
    MAJORITY: "majority",
    SUPERVISED: "scratch",
    f"{PRETRAINED} + linear probe": "ssl_probe",
    f"{PRETRAINED} + k-NN": "ssl_knn",
    f"{RANDOM} + linear probe": "random_probe",
    f"{RANDOM} + k-NN": "random_knn",
}


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


def random_encoder(like: SensorEncoder, random_seed: int = 0) -> SensorEncoder:
    """An encoder with ``like``'s architecture, bands and normalisation but random weights."""
    with torch.random.fork_rng():
        torch.manual_seed(random_seed)
        return SensorEncoder.from_config(like.config()).eval()


def label_subset(labels: np.ndarray, ratio: float, random_seed: int = 0) -> np.ndarray:
    """Positions of a stratified, seeded ``ratio`` of ``labels``: at least one per class."""
    if not 0 < ratio <= 1:
        raise ValueError(f"label ratio must be in (0, 1], got {ratio}")
    rng = np.random.default_rng(random_seed)
    chosen = []
    for code in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == code))
        chosen.append(members[: max(1, round(ratio * members.size))])
    return np.sort(np.concatenate(chosen))


def linear_probe_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    unlabelled_x: np.ndarray | None = None,
) -> float:
    """Accuracy of a logistic regression on standardised embeddings.

    The standardisation is fitted on ``unlabelled_x`` when given (e.g. the embeddings of the
    whole training split: no labels needed, far less noisy than a handful of labelled chips),
    else on ``train_x``.
    """
    scaler = StandardScaler().fit(train_x if unlabelled_x is None else unlabelled_x)
    probe = LogisticRegression(max_iter=2000).fit(scaler.transform(train_x), train_y)
    return float(probe.score(scaler.transform(test_x), test_y))


def knn_accuracy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> float:
    """Accuracy of a cosine-distance k-nearest-neighbour vote.

    ``k`` is capped by the smallest class count, so one label per class means 1-NN.
    """
    k = max(1, min(k, int(np.bincount(train_y)[np.unique(train_y)].min())))
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine")
    return float(knn.fit(train_x, train_y).score(test_x, test_y))


def supervised_accuracy(
    store: ChipStore,
    encoder: SensorEncoder,
    train_rows: np.ndarray,
    config: TrainingSettings,
    work_dir: str | os.PathLike[str],
    random_seed: int = 0,
    accelerator: str = "auto",
) -> float:
    """Test accuracy of ``encoder``'s architecture trained from scratch on ``train_rows``.

    Trains for ``config.supervised_steps`` steps whatever the number of labels.
    """
    seed(random_seed)
    num_classes = max(len(store.classes), int(store.labels.max()) + 1)
    batch_size = min(config.batch_size, len(train_rows))
    datamodule = ChipDataModule(
        store.root, encoder.sensor, batch_size, train_rows=train_rows, stats=encoder.stats
    )
    task = ClassifierTask(
        encoder.sensor,
        encoder.stats.to_dict(),
        num_classes,
        arch=encoder.arch,
        input_size=encoder.input_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    steps = config.supervised_steps
    trainer = fit(
        task,
        datamodule,
        work_dir,
        max_epochs=math.ceil(steps / math.ceil(len(train_rows) / batch_size)),
        max_steps=steps,
        limit_val_batches=0,
        accelerator=accelerator,
        progress=False,
        checkpoint=False,
    )
    return float(trainer.test(task, datamodule=datamodule, verbose=False)[0]["test_acc"])


@dataclass
class FewLabelResult:
    """The accuracy table and the embeddings behind it (per encoder: "Barlow Twins",
    "random weights")."""

    table: pd.DataFrame
    train_embeddings: dict[str, np.ndarray]
    train_labels: np.ndarray
    test_embeddings: dict[str, np.ndarray]
    test_labels: np.ndarray
    classes: tuple[str, ...]

    def embeddings(self, encoder: str = PRETRAINED) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings and labels of the training and test chips of ``encoder``, together."""
        stacked = np.concatenate([self.train_embeddings[encoder], self.test_embeddings[encoder]])
        return stacked, np.concatenate([self.train_labels, self.test_labels])

    def results_rows(self) -> list[dict]:
        """The table as results-file rows: ``method`` (short names, e.g. ``ssl_probe``),
        ``labels_percent``, ``labels``, ``accuracy_mean``, ``accuracy_sd`` and ``draws``."""
        return [
            {
                "method": RESULT_METHODS.get(row.method, row.method),
                "labels_percent": round(100 * row.label_ratio, 3),
                "labels": int(row.labels),
                "accuracy_mean": row.accuracy,
                "accuracy_sd": row.accuracy_std,
                "draws": int(row.draws),
            }
            for row in self.table.itertuples()
        ]

    def pivot(self) -> pd.DataFrame:
        """Accuracy with one row per method and one column per label ratio."""
        return self.table.pivot(index="method", columns="label_ratio", values="accuracy")


def _row(method: str, ratio: float, labels: int, accuracies: list[float]) -> dict:
    return {
        "method": method,
        "label_ratio": ratio,
        "labels": labels,
        "draws": len(accuracies),
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
    }


def evaluate_label_ratios(
    store: str | os.PathLike[str] | ChipStore,
    encoder: SensorEncoder,
    profile: str = "ci",
    ratios: tuple[float, ...] | None = None,
    draws: int | None = None,
    random_seed: int = 0,
    supervised: bool = True,
    accelerator: str = "auto",
    work_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> FewLabelResult:
    """Accuracy on the test split for each method and label ratio (see the module docstring).

    Probes and the majority class are averaged over ``draws`` seeded label subsets (seeds
    ``random_seed``, ``random_seed + 1``, ...; one at ratio 1); the supervised baseline, costly,
    trains once per ratio on the first subset. The table has ``accuracy`` (mean),
    ``accuracy_std`` (over draws), ``labels`` (labelled chips) and ``draws``.
    """
    chips = store if isinstance(store, ChipStore) else ChipStore(store)
    config = settings(profile)
    ratios = ratios or config.label_ratios
    draws = draws or config.label_draws
    labelled = chips.labels >= 0  # chips without a label (-1) take no part
    if not labelled.any():
        raise ValueError(
            f"chip store {chips.root} has no land-cover labels (every label is -1, as for chips "
            "of real EarthView tiles): give it labels from a land-cover raster with "
            "eotdl_tutorials.data.label_store_from_raster (notebook A3: -p label_source "
            "PATH_OR_URL, e.g. an ESA WorldCover tile)"
        )
    train_rows, test_rows = chips.split_indices("train"), chips.split_indices("test")
    train_rows, test_rows = train_rows[labelled[train_rows]], test_rows[labelled[test_rows]]
    for split, rows in (("train", train_rows), ("test", test_rows)):
        if rows.size == 0:
            raise ValueError(
                f"chip store {chips.root} has no {split!r} chips with a label to evaluate with"
            )
    train_y, test_y = chips.labels[train_rows], chips.labels[test_rows]
    encoders = {PRETRAINED: encoder, RANDOM: random_encoder(encoder, random_seed)}
    train_x = {
        name: embed(e, chips, train_rows, accelerator=accelerator) for name, e in encoders.items()
    }
    test_x = {
        name: embed(e, chips, test_rows, accelerator=accelerator) for name, e in encoders.items()
    }
    rows = []
    with tempfile.TemporaryDirectory(dir=work_dir) as scratch:
        for ratio in tqdm(ratios, desc="label ratios", disable=not progress):
            count = 1 if ratio >= 1 else draws  # every draw of all labels is the same
            subsets = [label_subset(train_y, ratio, random_seed + d) for d in range(count)]
            labels = subsets[0].size
            for name in encoders:
                linear = functools.partial(linear_probe_accuracy, unlabelled_x=train_x[name])
                knn = functools.partial(knn_accuracy, k=config.knn_k)
                for method, probe in (("linear probe", linear), ("k-NN", knn)):
                    accuracies = [
                        probe(train_x[name][sub], train_y[sub], test_x[name], test_y)
                        for sub in subsets
                    ]
                    rows.append(_row(f"{name} + {method}", ratio, labels, accuracies))
            if supervised:
                run_dir = Path(scratch) / f"supervised-{ratio}"
                accuracy = supervised_accuracy(
                    chips,
                    encoder,
                    train_rows[subsets[0]],
                    config,
                    run_dir,
                    random_seed,
                    accelerator,
                )
                rows.append(_row(SUPERVISED, ratio, labels, [accuracy]))
            majority = [
                float(np.mean(test_y == np.bincount(train_y[sub]).argmax())) for sub in subsets
            ]
            rows.append(_row(MAJORITY, ratio, labels, majority))
    return FewLabelResult(pd.DataFrame(rows), train_x, train_y, test_x, test_y, chips.classes)


def summarize(result: FewLabelResult) -> str:
    """Plain sentences built from the computed table (no figure is written by hand)."""
    table = result.pivot()
    lowest, highest = min(table.columns), max(table.columns)
    pretrained = table.loc[f"{PRETRAINED} + linear probe"]
    random = table.loc[f"{RANDOM} + linear probe"]
    labels = result.table.set_index(["method", "label_ratio"])["labels"].xs(MAJORITY, level=0)
    gap = (pretrained[lowest] - random[lowest]) * 100
    verdict = "above" if gap > 0 else "below" if gap < 0 else "level with"
    lines = [
        f"Held-out test chips: {len(result.test_labels)}; one chip is "
        f"{100 / len(result.test_labels):.1f} accuracy points.",
        f"With {labels[lowest]} labels ({lowest:.0%} of the training split) the pre-trained "
        f"encoder's linear probe reaches {pretrained[lowest]:.1%}, {abs(gap):.1f} points {verdict} "
        f"the same network with random weights ({random[lowest]:.1%}).",
        f"With all {labels[highest]} training labels: pre-trained {pretrained[highest]:.1%}, "
        f"random weights {random[highest]:.1%}.",
    ]
    if SUPERVISED in table.index:
        supervised = table.loc[SUPERVISED]
        versus = (supervised[lowest] - pretrained[lowest]) * 100
        side = "above" if versus > 0 else "below" if versus < 0 else "level with"
        lines.append(
            f"Training the whole network from scratch on the same labels gives "
            f"{supervised[lowest]:.1%} at {lowest:.0%} ({abs(versus):.1f} points {side} the "
            f"pre-trained probe) and {supervised[highest]:.1%} at {highest:.0%}."
        )
    lines.append(f"Always answering the majority class gives {table.loc[MAJORITY][lowest]:.1%}.")
    return "\n".join(lines)
