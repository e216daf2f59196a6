"""How good a super-resolved image is, and what it invents.

- **PSNR and SSIM** (torchmetrics) against the target, per band and over all bands, on the model's
  scale (reflectance / 0.4, data range 1: EOTDL's DN / 4000), averaged over images.
- **Consistency** with the input, which a learner can check without any target: the super-resolved
  image averaged back to 10 m must give the input again (reflectance consistency: mean absolute
  difference, reflectance units) and the same spectrum (spectral angle, degrees).
- **Correctness** of the high-frequency detail, as opensr-test defines it (Aybar et al. 2024,
  IEEE GRSL, "A comprehensive benchmark for optical remote sensing image super-resolution"):
  per pixel, the distances (L1 over bands) of the super-resolved image to the target, ``d_im``, and
  to the bilinear upsampled input, ``d_om``, each divided by the input's distance to the target,
  ``d_ref``, give three scores (improvement ``d_im + d_om (1 - exp(-0.8 H))``, omission
  ``d_om + d_im (1 - exp(-0.8 H))`` with ``H = d_im + d_om - 1``, hallucination
  ``exp(-0.4 d_im d_om)``); each pixel goes to the lowest, and the shares are reported over the
  pixels where the target has detail the input lacks (here: where ``d_ref`` is above its median).
  The ``opensr-test`` package itself pulls in perceptual models whose weights it downloads, so it
  does not run offline: these are its definitions, computed here.
- **Gains over bicubic** (:func:`gains_over`): each model's mean PSNR and SSIM gain per pair,
  with its 95 % interval over held-out places (pairs of one place drawn together,
  ``intervals.mean_gap``): a gain is beyond noise only where its interval excludes zero.
- **Error budget** of bicubic (:func:`error_budget`): how much of its error is the 10 m
  radiometry (the other sensor's calibration, the time gap: fixed by moving each 10 m block of the
  bicubic image to the target's mean) and how much is the detail inside each 10 m pixel (the
  target with each block moved to bicubic's mean: all the detail, the input's radiometry).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import (
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from eotdl_tutorials.intervals import Interval, mean_gap
from eotdl_tutorials.superres.models import upsample_bicubic
from eotdl_tutorials.superres.pairs import REFLECTANCE_DIVISOR, PairSet, area_resize

#: opensr-test's calibrated constants (improvement, omission, hallucination).
IM_SCORE, OM_SCORE, HA_SCORE = 0.8, 0.8, 0.4


def psnr(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of each image (N,) on the model's scale, data range 1."""
    return peak_signal_noise_ratio(
        sr / REFLECTANCE_DIVISOR, hr / REFLECTANCE_DIVISOR, data_range=1.0,
        reduction="none", dim=(1, 2, 3),
    )  # fmt: skip


def ssim(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """SSIM of each image (N,) on the model's scale, data range 1."""
    return structural_similarity_index_measure(
        sr / REFLECTANCE_DIVISOR, hr / REFLECTANCE_DIVISOR, data_range=1.0, reduction="none"
    )


def reflectance_l1(sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Mean |SR averaged to 10 m - input| of each image (N,), reflectance units."""
    return (area_resize(sr, tuple(lr.shape[-2:])) - lr).abs().mean(dim=(1, 2, 3))


def spectral_angle_deg(sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Mean spectral angle (degrees) between SR averaged to 10 m and the input, per image (N,)."""
    coarse = area_resize(sr, tuple(lr.shape[-2:]))
    cos = F.cosine_similarity(coarse, lr, dim=1, eps=1e-8).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos)).mean(dim=(1, 2))


def correctness(sr: torch.Tensor, hr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Shares of improved, omitted and hallucinated detail pixels per image (N, 3), opensr-test's
    definitions (see the module docstring)."""
    lr_up = F.interpolate(lr, size=hr.shape[-2:], mode="bilinear", align_corners=False)
    d_ref = (lr_up - hr).abs().mean(1)
    d_im = (sr - hr).abs().mean(1) / d_ref.clamp_min(1e-6)
    d_om = (sr - lr_up).abs().mean(1) / d_ref.clamp_min(1e-6)
    h = d_im + d_om - 1
    scores = torch.stack(
        [
            d_im + d_om * (1 - torch.exp(-h * IM_SCORE)),
            d_om + d_im * (1 - torch.exp(-h * OM_SCORE)),
            torch.exp(-d_im * d_om * HA_SCORE),
        ]
    )
    kind = scores.argmin(0)
    detail = d_ref >= d_ref.flatten(1).median(1).values[:, None, None]
    counts = torch.stack([((kind == k) & detail).sum(dim=(1, 2)) for k in range(3)], 1)
    return counts.float() / detail.sum(dim=(1, 2), keepdim=False)[:, None].float()


def with_block_means(image: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """``image`` with each block of pixels under one pixel of ``means`` shifted so that its
    average (:func:`area_resize`, as the consistency metric takes it) is that pixel: the closest
    such image in L2."""
    size = tuple(means.shape[-2:])
    error = means - area_resize(image, size)
    return image + F.interpolate(error, size=tuple(image.shape[-2:]), mode="nearest")


def error_budget(pairs: PairSet, split: str = "test") -> dict[str, float]:
    """Mean PSNR (dB) on ``split`` of ``bicubic``; of ``target_radiometry``: bicubic with the
    target's 10 m means (the radiometry right, no new detail); of ``target_detail``: the target
    with bicubic's 10 m means (every detail right, the input's radiometry kept: the best a model
    that does not change the 10 m image can score)."""
    rows = pairs.split(split)
    hr, lr = torch.from_numpy(pairs.hr[rows]), torch.from_numpy(pairs.lr[rows])
    bicubic = upsample_bicubic(lr, pairs.factor)
    coarse = tuple(lr.shape[-2:])
    images = {
        "bicubic": bicubic,
        "target_radiometry": with_block_means(bicubic, area_resize(hr, coarse)),
        "target_detail": with_block_means(hr, area_resize(bicubic, coarse)),
    }
    return {name: float(psnr(image, hr).mean()) for name, image in images.items()}


def predict(
    model: Callable[[torch.Tensor], torch.Tensor], lr: np.ndarray, batch: int = 32
) -> torch.Tensor:
    """``model`` on every input (reflectance), in batches, without gradients."""
    with torch.no_grad():
        parts = [model(torch.from_numpy(lr[i : i + batch])) for i in range(0, len(lr), batch)]
    return torch.cat(parts)


def per_pair_metrics(sr: torch.Tensor, pairs: PairSet, rows: np.ndarray) -> pd.DataFrame:
    """One row per pair: its place, PSNR, SSIM, consistency, correctness shares, the time gap."""
    hr, lr = torch.from_numpy(pairs.hr[rows]), torch.from_numpy(pairs.lr[rows])
    shares = correctness(sr, hr, lr).numpy()
    return pd.DataFrame(
        {
            "id": pairs.table["id"].to_numpy()[rows],
            "place": pairs.table["place"].to_numpy()[rows],
            "time_gap_days": pairs.table["time_gap_days"].to_numpy()[rows],
            "psnr": psnr(sr, hr).numpy(),
            "ssim": ssim(sr, hr).numpy(),
            "reflectance_l1": reflectance_l1(sr, lr).numpy(),
            "spectral_angle_deg": spectral_angle_deg(sr, lr).numpy(),
            "improvement": shares[:, 0],
            "omission": shares[:, 1],
            "hallucination": shares[:, 2],
        }
    )


def per_band_metrics(sr: torch.Tensor, pairs: PairSet, rows: np.ndarray) -> pd.DataFrame:
    """PSNR and SSIM of each band (mean over images)."""
    hr = torch.from_numpy(pairs.hr[rows])
    records = []
    for b, band in enumerate(pairs.bands):
        one_sr, one_hr = sr[:, b : b + 1], hr[:, b : b + 1]
        records.append(
            {
                "band": band,
                "psnr": float(psnr(one_sr, one_hr).mean()),
                "ssim": float(ssim(one_sr, one_hr).mean()),
            }
        )
    return pd.DataFrame(records).set_index("band")


def evaluate(
    models: dict[str, torch.nn.Module], pairs: PairSet, split: str = "test"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score every model on ``split``: overall table (one row per model, with ``params``),
    per-band table (model, band) and per-pair table (model, pair)."""
    rows = pairs.split(split)
    if len(rows) == 0:
        raise ValueError(f"the pairs have no {split!r} split: build more pairs")
    overall, bands, per_pair = [], [], []
    for name, model in models.items():
        model.eval()
        sr = predict(model, pairs.lr[rows])
        pair_table = per_pair_metrics(sr, pairs, rows).assign(model=name)
        band_table = per_band_metrics(sr, pairs, rows).assign(model=name)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        summary = pair_table.drop(columns=["id", "place", "model"]).mean(numeric_only=True)
        overall.append({"model": name, **summary.drop("time_gap_days").to_dict(), "params": params})
        bands.append(band_table.reset_index())
        per_pair.append(pair_table)
    return (
        pd.DataFrame(overall).set_index("model"),
        pd.concat(bands).set_index(["model", "band"]),
        pd.concat(per_pair, ignore_index=True),
    )


def gains_over(
    per_pair: pd.DataFrame, baseline: str = "bicubic", metrics: tuple[str, ...] = ("psnr", "ssim")
) -> dict[str, dict[str, Interval]]:
    """Each other model's mean gain over ``baseline`` in each of ``metrics``, per model and
    metric, with its 95 % interval: the per-pair differences (same pair, both models) with
    whole places drawn again (the per-pair table of :func:`evaluate`)."""
    base = per_pair[per_pair["model"] == baseline].set_index("id")
    if base.empty:
        raise ValueError(f"no {baseline!r} rows in the per-pair table")
    gains = {}
    for name, rows in per_pair[per_pair["model"] != baseline].groupby("model", sort=False):
        paired = rows.set_index("id").loc[base.index]
        gains[name] = {
            metric: mean_gap(paired[metric], base[metric], groups=base["place"])
            for metric in metrics
        }
    return gains
