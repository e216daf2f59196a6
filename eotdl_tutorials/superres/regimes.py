"""Training regimes for super-resolution: which pairs can teach a model anything.

The cross-sensor pairs of :func:`~eotdl_tutorials.superres.pairs.build_pairs` carry a time gap,
another sensor's calibration and a geolocation offset up to a pixel, and on them a learnt model
barely beats bicubic. Three other regimes take those away, one or all at once:

- **coregistered**: each pair's offset measured by phase correlation (sub-pixel,
  :func:`~eotdl_tutorials.superres.pairs.measured_offsets`) and removed from the target by a
  Fourier shift (:func:`coregister`); the residual offset is measured again afterwards. The time
  gap and the calibration stay.
- **wald**: Wald's protocol (Wald, Ranchin and Mangolini 1997, Photogramm. Eng. Remote Sens. 63;
  as DSen2 trains, Lanaras et al. 2018, ISPRS J. 146): the Sentinel-2 10 m bands degraded by the
  factor with a Gaussian PSF whose MTF at the coarse grid's Nyquist frequency is Sentinel-2's
  (:data:`~eotdl_tutorials.facts.sensors.S2_MTF_NYQUIST`), and the model learns 20 m -> 10 m
  against the real 10 m (:func:`wald_pairs`). One sensor, one instant, no offset; the model is
  then applied one scale down, 10 m -> 5 m, assuming the detail behaves alike across scales.
- **synthetic**: the 1 m target (brought to the target grid) degraded to 10 m with the same PSF
  and Sentinel-2's noise (:func:`synthetic_pairs`): perfect pairs at the right scale, but the
  input is not a real Sentinel-2 image, so the model is scored on held-out synthetic pairs and
  then on the real cross-sensor pairs (the domain gap).

The PSF: a Gaussian of standard deviation ``sigma`` pixels has the MTF
``exp(-2 pi^2 sigma^2 f^2)``; at the Nyquist frequency ``f = 0.5`` cycles per pixel of the coarse
grid, ``sigma = sqrt(-ln(MTF) / (2 pi^2 f^2))`` (:func:`gaussian_sigma_for_mtf`): MTF 0.25 gives
0.53 coarse pixels. Filtering and shifting are done in the Fourier domain on an image padded by
reflection (no wrap-around at the edges), and the coarse pixel is sampled at its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from eotdl_tutorials.facts.sensors import S2_MTF_NYQUIST, s2_noise_sd
from eotdl_tutorials.intervals import Interval
from eotdl_tutorials.profiles import check_profile
from eotdl_tutorials.superres.metrics import evaluate, gains_over
from eotdl_tutorials.superres.models import SuperResolver
from eotdl_tutorials.superres.pairs import INPUT_GSD, PairSet, measured_offsets
from eotdl_tutorials.superres.training import SR_SETTINGS, SuperResSettings, train_superres

#: The regimes, in the order the notebook and the results file give them.
REGIMES = ("cross_sensor", "coregistered", "wald", "synthetic")
#: The models of every regime (bicubic is the baseline).
REGIME_MODELS = ("bicubic", "cnn", "esrt")
#: Nyquist frequency of a pixel grid, cycles per pixel.
NYQUIST = 0.5
#: Reflection padding (pixels) around an image before a Fourier filter or shift.
PAD = 8
#: The longest offset (metres) taken as measured: the two sensors' geolocation errors differ by
#: about a 10 m pixel at most (:mod:`.pairs`); phase correlation on a chip with little texture
#: (water, a uniform field) or much change can peak far away, and such a peak is not applied.
MAX_OFFSET_M = 2 * INPUT_GSD
#: The per-model figures of a regime in the results file (B2's keys).
RESULT_METRICS = ("psnr", "ssim", "reflectance_l1", "spectral_angle_deg", "hallucination")


def gaussian_sigma_for_mtf(mtf: float, frequency: float = NYQUIST) -> float:
    """Standard deviation (pixels) of the Gaussian PSF whose MTF at ``frequency`` (cycles per
    pixel) is ``mtf``: ``MTF(f) = exp(-2 pi^2 sigma^2 f^2)`` solved for sigma."""
    if not 0 < mtf < 1:
        raise ValueError(f"an MTF value is between 0 and 1 (exclusive), got {mtf}")
    return math.sqrt(-math.log(mtf) / (2 * math.pi**2 * frequency**2))


def gaussian_mtf(sigma: float, frequency: float = NYQUIST) -> float:
    """MTF at ``frequency`` (cycles per pixel) of a Gaussian PSF of ``sigma`` pixels."""
    return math.exp(-2 * math.pi**2 * sigma**2 * frequency**2)


def fourier_filter(
    images: np.ndarray,
    sigma: float | np.ndarray = 0.0,
    shifts: np.ndarray | tuple[float, float] = (0.0, 0.0),
    pad: int = PAD,
) -> np.ndarray:
    """``images`` (N, C, H, W) blurred by a Gaussian of ``sigma`` pixels (one value, or one per
    band) and moved by ``shifts`` pixels (rows down, columns right; one pair, or one per image:
    (N, 2)), sub-pixel, in the Fourier domain on the images padded by reflection."""
    images = np.asarray(images, dtype=np.float32)
    n, c, h, w = images.shape
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (c,))
    moves = np.broadcast_to(np.asarray(shifts, dtype=np.float64), (n, 2))
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    fy = np.fft.fftfreq(h + 2 * pad)[:, None]
    fx = np.fft.fftfreq(w + 2 * pad)[None, :]
    blur = np.exp(-2 * math.pi**2 * sigmas[:, None, None] ** 2 * (fy**2 + fx**2))  # (C, h, w)
    phase = np.exp(
        -2j * math.pi * (fy[None] * moves[:, 0, None, None] + fx[None] * moves[:, 1, None, None])
    )  # (N, h, w)
    spectrum = np.fft.fft2(padded) * blur[None] * phase[:, None]
    out = np.fft.ifft2(spectrum).real[..., pad : pad + h, pad : pad + w]
    return out.astype(np.float32)


def band_mtf(bands: tuple[str, ...]) -> np.ndarray:
    """Sentinel-2's MTF at Nyquist for each of ``bands`` (:data:`S2_MTF_NYQUIST`)."""
    return np.array([S2_MTF_NYQUIST[b] for b in bands])


def degrade(
    images: np.ndarray,
    factor: int,
    mtf: np.ndarray | float,
    noise_sd: np.ndarray | float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """``images`` (N, C, H, W) as a sensor ``factor`` times coarser sees them: a Gaussian PSF
    whose MTF at the coarse grid's Nyquist frequency is ``mtf`` (per band), each coarse pixel
    sampled at its centre, plus Gaussian noise of ``noise_sd`` (reflectance, per band)."""
    _, c, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"image sides {h} x {w} are not multiples of the factor {factor}")
    mtfs = np.broadcast_to(np.asarray(mtf, dtype=np.float64), (c,))
    sigma = np.array([gaussian_sigma_for_mtf(m) for m in mtfs]) * factor  # fine pixels
    centre = -(factor - 1) / 2  # the coarse pixel's centre comes to the fine pixel sampled
    blurred = fourier_filter(images, sigma, (centre, centre))[..., ::factor, ::factor]
    noise = np.broadcast_to(np.asarray(noise_sd, dtype=np.float64), (c,))
    if noise.any():
        rng = np.random.default_rng(seed)
        blurred = blurred + rng.normal(size=blurred.shape) * noise[None, :, None, None]
    return np.ascontiguousarray(blurred, dtype=np.float32)


def _offsets_px(pairs: PairSet, upsample: int) -> np.ndarray:
    """Each pair's measured offset as the shift (rows, columns, 10 m pixels) that registers its
    target onto its input."""
    metres = measured_offsets(pairs, upsample=upsample)
    return np.stack([-metres["measured_y_m"], metres["measured_x_m"]], 1) / INPUT_GSD


def coregister(
    pairs: PairSet, upsample: int = 20, max_offset_m: float = MAX_OFFSET_M
) -> tuple[PairSet, pd.DataFrame]:
    """``pairs`` with each target moved (Fourier shift, sub-pixel) by the offset phase
    correlation measures between it and its input, and one row per pair of the offset measured
    before and after (metres, x east and y north, and their length; ``moved``: False where the
    measured offset was longer than ``max_offset_m``, a failed measurement left unapplied)."""
    before = measured_offsets(pairs, upsample=upsample)
    shifts = _offsets_px(pairs, upsample) * pairs.factor  # target pixels
    applied = np.hypot(before["measured_x_m"], before["measured_y_m"]).to_numpy() <= max_offset_m
    shifts = shifts * applied[:, None]
    moved = replace(pairs, hr=fourier_filter(pairs.hr, 0.0, shifts), table=pairs.table.copy())
    after = measured_offsets(moved, upsample=upsample)
    report = pd.DataFrame(
        {
            "id": pairs.table["id"].to_numpy(),
            "before_x_m": before["measured_x_m"].to_numpy(),
            "before_y_m": before["measured_y_m"].to_numpy(),
            "after_x_m": after["measured_x_m"].to_numpy(),
            "after_y_m": after["measured_y_m"].to_numpy(),
        }
    )
    report["before_m"] = np.hypot(report["before_x_m"], report["before_y_m"])
    report["after_m"] = np.hypot(report["after_x_m"], report["after_y_m"])
    report["moved"] = applied
    return moved, report


def wald_pairs(pairs: PairSet) -> PairSet:
    """Wald's protocol: the inputs (Sentinel-2 at 10 m) degraded by the pairs' factor with
    Sentinel-2's PSF become the inputs, and the real 10 m inputs the targets (same places, same
    split)."""
    lr = degrade(pairs.lr, pairs.factor, band_mtf(pairs.bands))
    return replace(pairs, lr=lr, hr=pairs.lr.copy(), table=pairs.table.copy())


def synthetic_pairs(pairs: PairSet, seed: int = 0) -> PairSet:
    """The targets degraded to 10 m with Sentinel-2's PSF and noise (:func:`s2_noise_sd`) become
    the inputs: pairs whose input is exactly what the target looks like to Sentinel-2."""
    noise = np.array([s2_noise_sd(b) for b in pairs.bands])
    lr = degrade(pairs.hr, pairs.factor, band_mtf(pairs.bands), noise, seed=seed)
    return replace(pairs, lr=lr, hr=pairs.hr.copy(), table=pairs.table.copy())


#: Training budget per model of each regime (four regimes, two learnt models each: eight fits
#: where B2 has two). ESRT costs about ten times the CNN per step on a CPU (0.17 s a step of 8
#: patches of 16 px on 2 cores). ``default`` spends it where the pairs can teach: measured on the
#: default world (2 cores, the fits alone), ESRT's PSNR gain over bicubic on held-out places was
#: -0.08 dB at 30 steps, +0.86 [+0.83, +0.91] at 300 and +2.9 [+2.7, +3.1] at 900 under Wald's
#: protocol, and -0.06, +0.28 [+0.23, +0.33] and +1.21 [+1.13, +1.27] on synthetic pairs; 900
#: steps take 157 s. The cross-sensor pairs get fewer (:data:`REGIME_STEPS`: B2 measured 4,000
#: steps there to gain nothing), the co-registered ones 300. ``ci`` trains two steps: it checks
#: that everything runs. ``full`` is B2's recipe, for a GPU.
REGIME_SETTINGS = {
    "ci": SuperResSettings(steps=2, batch_size=4, patch=16, lr=3e-4),
    "default": SuperResSettings(steps=900, batch_size=8, patch=16, lr=1e-3),
    "full": SR_SETTINGS["full"],
}
#: Steps per fit of the regimes a profile trains for less than its settings' (see above).
REGIME_STEPS = {"default": {"cross_sensor": 150, "coregistered": 300}}
#: Validation pairs per fit (all of them under ``full``).
REGIME_VAL_LIMIT = {"ci": 2, "default": 8, "full": None}


def regime_settings(
    profile: str, regime: str | None = None, **overrides: object
) -> SuperResSettings:
    """The settings of ``profile``'s fits in ``regime`` (:data:`REGIME_STEPS`; None: the
    profile's own) with any non-None ``overrides``."""
    base = REGIME_SETTINGS[check_profile(profile)]
    steps = REGIME_STEPS.get(profile, {}).get(regime)
    base = base if steps is None else replace(base, steps=steps)
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def _fitted(settings: SuperResSettings, pairs: PairSet) -> SuperResSettings:
    """``settings`` with the patch no larger than the pairs' input (Wald's inputs are half as
    wide)."""
    return replace(settings, patch=min(settings.patch, pairs.lr.shape[-1]))


def train_regime(
    pairs: PairSet,
    out_dir: str | Path,
    settings: SuperResSettings,
    accelerator: str = "auto",
    random_seed: int = 0,
    progress: bool = True,
    val_limit: int | None = None,
) -> dict[str, torch.nn.Module]:
    """Bicubic, and the CNN and ESRT trained on ``pairs`` (runs in ``out_dir/<arch>``;
    ``val_limit``: validation pairs per fit, None: all)."""
    models: dict[str, torch.nn.Module] = {
        "bicubic": SuperResolver("bicubic", pairs.bands, pairs.factor)
    }
    fitted = _fitted(settings, pairs)
    for arch in ("cnn", "esrt"):
        models[arch] = train_superres(
            pairs, arch, Path(out_dir) / arch, fitted, accelerator=accelerator,
            random_seed=random_seed, progress=progress, val_limit=val_limit,
        )  # fmt: skip
    return models


@dataclass
class RegimeScore:
    """A regime's scores on held-out places: :func:`~eotdl_tutorials.superres.metrics.evaluate`'s
    three tables and each model's gains over bicubic with their 95 % intervals."""

    table: pd.DataFrame
    per_band: pd.DataFrame
    per_pair: pd.DataFrame
    gains: dict[str, dict[str, Interval]]

    def results(self) -> dict[str, dict]:
        """``{model: {psnr, ssim, ..., params, psnr_gain, psnr_gain_ci95, ssim_gain, ...}}``,
        B2's keys."""
        out = {}
        for name in self.table.index:
            row = self.table.loc[name]
            out[name] = {m: float(row[m]) for m in RESULT_METRICS} | {"params": int(row["params"])}
            if name in self.gains:
                out[name] |= self.gains[name]["psnr"].fields("psnr_gain")
                out[name] |= self.gains[name]["ssim"].fields("ssim_gain", 5)
        return out


def score_regime(
    models: dict[str, torch.nn.Module], pairs: PairSet, split: str = "test"
) -> RegimeScore:
    """Every model scored on ``split`` of ``pairs``, and the gains over bicubic (95 % intervals,
    held-out places drawn again)."""
    table, per_band, per_pair = evaluate(models, pairs, split)
    return RegimeScore(table, per_band, per_pair, gains_over(per_pair))


def scores_on_real_pairs(
    models: dict[str, dict[str, torch.nn.Module]],
    pairs: PairSet,
    split: str = "test",
    scored: dict[str, RegimeScore] | None = None,
) -> dict[str, RegimeScore]:
    """Each regime's models (``{regime: {model: network}}``) scored on ``split`` of the real
    cross-sensor ``pairs``: what a model trained on any regime does on real Sentinel-2 at 10 m
    to 5 m (Wald's one scale down, the synthetic one across the domain gap). ``scored``: regimes
    already scored on those pairs (the cross-sensor one), taken as they are."""
    scored = scored or {}
    return {
        name: scored[name] if name in scored else score_regime(networks, pairs, split)
        for name, networks in models.items()
    }


def best_regime(scores: dict[str, RegimeScore], model: str = "esrt") -> str:
    """The regime whose ``model`` has the largest mean PSNR gain over bicubic in ``scores``
    (computed on the same pairs, e.g. :func:`scores_on_real_pairs`; a tie: the first)."""
    return max(scores, key=lambda name: scores[name].gains[model]["psnr"].estimate)


def gains_table(scores: dict[str, RegimeScore], metric: str = "psnr") -> pd.DataFrame:
    """One row per regime and learnt model: its mean ``metric``, bicubic's, the gain with the
    ends of its 95 % interval, and whether the interval excludes zero (``verdict``)."""
    records = []
    for regime, score in scores.items():
        for name, gain in score.gains.items():
            interval = gain[metric]
            records.append(
                {
                    "regime": regime,
                    "model": name,
                    metric: float(score.table.loc[name, metric]),
                    f"bicubic_{metric}": float(score.table.loc["bicubic", metric]),
                    "gain": interval.estimate,
                    "low": interval.low,
                    "high": interval.high,
                    "verdict": interval.verdict,
                }
            )
    return pd.DataFrame(records).set_index(["regime", "model"])
