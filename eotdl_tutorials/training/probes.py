"""Frozen features and the probes scored on them: embeddings, band statistics, random weights,
logistic regression and k-NN, each scored as the correctness of every test chip."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from eotdl_tutorials.data import ChipDataset, ChipStore, make_loader, resize_to
from eotdl_tutorials.models.encoder import SensorEncoder, check_bands
from eotdl_tutorials.training.trainer import resolve_accelerator

#: Inverse regularisation strengths tried for the probes (chosen on the validation split).
PROBE_C = (0.01, 0.1, 1.0, 10.0, 100.0)


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


def linear_probe_correct(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    unlabelled_x: np.ndarray | None = None,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Whether a logistic regression on standardised features classifies each test chip right
    (a boolean per chip: its mean is the accuracy).

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
    return best.predict(scaler.transform(test_x)) == test_y


def knn_correct(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 5
) -> np.ndarray:
    """Whether a cosine-distance k-nearest-neighbour vote classifies each test chip right.

    ``k`` is capped by the smallest class count, so one label per class means 1-NN.
    """
    k = max(1, min(k, int(np.bincount(train_y)[np.unique(train_y)].min())))
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine")
    return knn.fit(train_x, train_y).predict(test_x) == test_y
