"""The trained rows' loop: an encoder and a new linear head trained on few labels, then scored.

A plain loop: the few-label evaluation trains dozens of small models, where a Lightning
``Trainer``'s set-up per run would cost more than training.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eotdl_tutorials.data import ChipAugment, resize_to
from eotdl_tutorials.models.base import adamw, warmup_cosine
from eotdl_tutorials.models.encoder import SensorEncoder
from eotdl_tutorials.training.settings import TrainingSettings
from eotdl_tutorials.training.trainer import resolve_accelerator, seed


class Classifier(nn.Module):
    """An encoder and a linear head on its embedding."""

    def __init__(self, encoder: SensorEncoder, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.embed_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images))


def new_classifier(encoder: SensorEncoder, num_classes: int, device: str) -> Classifier:
    """A :class:`Classifier` on a copy of ``encoder``, on ``device``, in training mode."""
    return Classifier(copy.deepcopy(encoder), num_classes).to(device).train()


def crop_augment(encoder: SensorEncoder) -> ChipAugment:
    """The trained rows' random views: crops of 60 to 100 % of a chip at the encoder's input
    size, with jitter or speckle half the time."""
    return ChipAugment(encoder.sensor, encoder.input_size, (0.6, 1.0), jitter=0.5)


def train_classifier(
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


def training_steps(labels: int, epochs: int, config: TrainingSettings) -> int:
    """Optimizer steps of a trained row: ``epochs`` passes over ``labels`` chips (batches of
    ``config.batch_size``), at least ``config.min_steps``."""
    return max(epochs * math.ceil(labels / min(config.batch_size, labels)), config.min_steps)


def trained_correct(
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
) -> np.ndarray:
    """Whether ``encoder`` + a new linear head, every weight trained on the labels, classifies
    each test chip right (a boolean per chip).

    AdamW with a warm-up cosine schedule for ``epochs`` passes over the labelled chips (at
    least ``config.min_steps`` steps), random crops, flips and rotations as in pre-training;
    bf16 autocast and channels-last on CUDA.
    """
    seed(random_seed)
    device = resolve_accelerator(accelerator)
    model = new_classifier(encoder, num_classes, device)
    steps = training_steps(len(labels), epochs, config)
    train_classifier(
        model, crop_augment(encoder), images, labels, steps, lr, config, random_seed, device
    )
    model.eval()
    predicted = []
    with torch.no_grad(), torch.autocast(device, torch.bfloat16, enabled=device == "cuda"):
        for start in range(0, len(test_labels), 256):
            batch = resize_to(test_images[start : start + 256].to(device), encoder.input_size)
            predicted.append(model(batch).argmax(1).cpu())
    return (torch.cat(predicted) == test_labels).numpy()
