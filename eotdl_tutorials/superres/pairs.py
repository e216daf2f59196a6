"""Super-resolution pairs: a Sentinel-2 10 m chip and the co-registered 1 m tile on the target grid.

Pairs come from use case A's matches and chip store (:func:`ensure_pair_store` tiles the
matched footprints' 1 m tiles and Sentinel-2 windows, keeping only chips without SCL cloud). The
input is the S2 chip's red, green, blue and NIR (10 m); the target is the 1 m tile averaged to
10 m / ``factor``.

Real pairs are not two views of one instant by one instrument. Each pair here carries, like real
ones, with the magnitude published for it:

- **Time gap**: the S2 scene is the clearest one the matcher found within EOTDL's 30-day window
  (+-15 days, EOTDL's Sentinel-2 search around each EarthView tile). It is what the match gives,
  not drawn: the ground changes in between (crops grow, grass dries).
- **Spectral response and calibration**: a different instrument with wider bands and its own
  calibration sees other reflectances. Cross-calibrations of smallsat constellations against
  Sentinel-2 find per-band differences of a few percent up to about 10 % (PlanetScope: Houborg and
  McCabe 2018, Remote Sens. Environ. 209; the HLS bandpass adjustment of Landsat 8 to Sentinel-2,
  whose bands are close, is already 1 to 4 %: Claverie et al. 2018, Remote Sens. Environ. 219).
  Each 1 m acquisition gets a per-band gain drawn around 1 with a 5 % standard deviation and an
  offset of 0.005 reflectance standard deviation (:data:`GAIN_SD`, :data:`OFFSET_SD`).
- **Geolocation offset**: Sentinel-2 L1C is geolocated to a few metres (better than one 10 m pixel
  at 95 % since the Global Reference Image refinement: ESA Sentinel-2 MPC data quality reports), and
  the commercial tile carries its own error of similar size; their difference is sub-pixel to about
  a pixel. Each pair's target is shifted by an offset drawn with :data:`OFFSET_SD_M` = 4 m per axis
  (95 % of offsets under about 10 m, one S2 pixel). The chip store's nearest-neighbour cut of the S2
  window adds up to half a pixel more; :func:`measured_offsets` measures the total.

Histogram matching of the target to the input (what EOTDL does) is an option
(``histogram_match``) whose effect the notebooks show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eotdl_tutorials.data import ChipStore, open_chip_store
from eotdl_tutorials.data.sample import SAMPLE_TIME_BUFFER_DAYS
from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir
from eotdl_tutorials.tiling import place_keys

#: The bands of a pair, in the 1 m sensor's order (EarthView: red, green, blue, nir).
PAIR_BANDS = ("red", "green", "blue", "nir")
#: Model input scaling: reflectance / 0.4 (EOTDL's DN / 4000).
REFLECTANCE_DIVISOR = 0.4
#: Cross-sensor calibration: per-band gain standard deviation and offset standard deviation.
GAIN_SD = 0.05
OFFSET_SD = 0.005
#: Geolocation offset between the two sensors: standard deviation per axis, metres.
OFFSET_SD_M = 4.0
#: Sentinel-2 pixel size of the input (metres).
INPUT_GSD = 10.0


def pair_store_dir(profile: str = "ci") -> Path:
    """``data_dir()/datasets/superres-{profile}``: the cloud-free hr + s2 chip store."""
    return data_dir() / "datasets" / f"superres-{check_profile(profile)}"


def ensure_pair_store(profile: str = "ci", seed: int = 0, progress: bool = True) -> Path:
    """The chip store of 1 m tiles and Sentinel-2 chips for pairs, built first if missing.

    Same world and matches as use case A (:func:`eotdl_tutorials.matching.match` with the sample
    world's windows); the tiler keeps only S2 chips with no SCL cloud pixel (classes 8, 9, 10).
    """
    from eotdl_tutorials.matching import match
    from eotdl_tutorials.tiling import ensure_published, tile
    from eotdl_tutorials.world import ensure_world

    out = pair_store_dir(profile)
    if (out / "meta.json").is_file():
        return ensure_published(out)  # README and catalog of an older store too
    world = ensure_world(WORLD_PROFILE[profile] or "default", seed=seed, progress=progress)
    matches = match(
        world.earthview_index,
        world.items_parquet,
        collections=["sentinel-2-l2a"],
        time_buffer_days=SAMPLE_TIME_BUFFER_DAYS,
    )
    tile(matches, out, sensors=("hr", "s2"), max_cloud_percent=0.0, progress=progress)
    return out


def _rng(key: str, seed: int) -> np.random.Generator:
    digest = hashlib.blake2b(f"{seed}/{key}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def histogram_match(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``source`` (C, H, W) with each band's values mapped to ``reference``'s distribution
    (quantile mapping; the sizes may differ)."""
    out = np.empty_like(source)
    for b in range(source.shape[0]):
        values = source[b].ravel()
        order = np.argsort(values, kind="stable")
        ranks = np.empty(values.size)
        ranks[order] = (np.arange(values.size) + 0.5) / values.size
        ref = np.sort(reference[b].ravel())
        ref_q = (np.arange(ref.size) + 0.5) / ref.size
        out[b] = np.interp(ranks, ref_q, ref).reshape(source[b].shape)
    return out


def area_resize(image: np.ndarray | torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average over pixel areas to ``size`` (works for non-integer ratios): what a coarser
    sensor with square pixels records."""
    tensor = torch.as_tensor(image, dtype=torch.float32)
    batched = tensor[None] if tensor.ndim == 3 else tensor
    out = F.adaptive_avg_pool2d(batched, size)
    return out[0] if tensor.ndim == 3 else out


@dataclass
class PairSet:
    """Pairs as arrays of reflectance: ``lr`` (N, 4, h, w) at 10 m, ``hr`` (N, 4, h*f, w*f), and
    one row per pair in ``table`` (id, split, place: the spatial block that decided the split,
    time gap, drawn offset and gains)."""

    lr: np.ndarray
    hr: np.ndarray
    table: pd.DataFrame
    factor: int
    histogram_matched: bool
    bands: tuple[str, ...] = PAIR_BANDS
    store: Path | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.lr)

    def split(self, name: str) -> np.ndarray:
        """Row positions of split ``name``."""
        return np.flatnonzero(self.table["split"].to_numpy() == name)

    @property
    def target_gsd(self) -> float:
        """Pixel size of the target (metres)."""
        return INPUT_GSD / self.factor


def _crop_starts(store: ChipStore, lr_size: int) -> tuple[int, int]:
    """Start of the centred ``lr_size`` crop in the S2 chip, and where the same ground starts in
    the 1 m tile (the two chips share their centre)."""
    s2_h = store.sensor("s2").shape[1]
    hr_h = store.sensor("hr").shape[1]
    if lr_size > s2_h:
        raise ValueError(f"lr_size {lr_size} is larger than the S2 chips ({s2_h} px)")
    start = (s2_h - lr_size) // 2
    hr_start = hr_h / 2 - s2_h * INPUT_GSD / 2 + start * INPUT_GSD
    return start, int(round(hr_start))


def build_pairs(
    store: str | Path | ChipStore,
    factor: int = 2,
    lr_size: int = 32,
    histogram_match_target: bool = False,
    seed: int = 0,
    limit: int | None = None,
) -> PairSet:
    """Pairs of every chip in ``store`` (see the module docstring for what each pair carries).

    ``lr_size``: input size in 10 m pixels (centred crop of the S2 chip); the target is
    ``lr_size * factor`` pixels of ``10 / factor`` m. ``limit`` keeps the first pairs only.
    """
    if factor not in (2, 4):
        raise ValueError(f"factor must be 2 or 4 (10 m to 5 m or 2.5 m), got {factor}")
    chips = store if isinstance(store, ChipStore) else open_chip_store(store)
    s2_info, hr_info = chips.sensor("s2"), chips.sensor("hr")
    s2_pos = [s2_info.bands.index(b) for b in PAIR_BANDS]
    hr_pos = [hr_info.bands.index(b) for b in PAIR_BANDS]
    start, hr_start = _crop_starts(chips, lr_size)
    extent = int(lr_size * INPUT_GSD)
    margin = min(hr_start, hr_info.shape[1] - hr_start - extent)
    index = chips.index
    places = place_keys(index).to_numpy()
    count = len(index) if limit is None else min(limit, len(index))
    s2, hr = chips.array("s2"), chips.array("hr")
    lrs = np.empty((count, len(PAIR_BANDS), lr_size, lr_size), np.float32)
    hrs = np.empty((count, len(PAIR_BANDS), lr_size * factor, lr_size * factor), np.float32)
    rows = []
    for i in range(count):
        chip_id = str(index["id"].iloc[i])
        rng = _rng(chip_id, seed)
        dx, dy = np.clip(np.round(rng.normal(0, OFFSET_SD_M, 2)), -margin, margin).astype(int)
        gains = rng.normal(1.0, GAIN_SD, len(PAIR_BANDS)).astype(np.float32)
        offsets = rng.normal(0.0, OFFSET_SD, len(PAIR_BANDS)).astype(np.float32)
        lr = chips.to_physical(
            "s2", s2[i, s2_pos, start : start + lr_size, start : start + lr_size]
        )
        r0, c0 = hr_start - dy, hr_start + dx  # +dy: the target is shifted north
        window = hr[i, hr_pos, r0 : r0 + extent, c0 : c0 + extent]
        target = chips.to_physical("hr", window) * gains[:, None, None] + offsets[:, None, None]
        target = area_resize(target, (lr_size * factor, lr_size * factor)).numpy()
        if histogram_match_target:
            target = histogram_match(target, lr)
        lrs[i], hrs[i] = lr, target
        rows.append(
            {
                "id": chip_id,
                "split": index["split"].iloc[i],
                "place": str(places[i]),
                "time_gap_days": float(index["s2_dt_days"].iloc[i]),
                "offset_x_m": int(dx),
                "offset_y_m": int(dy),
                **{f"gain_{b}": float(g) for b, g in zip(PAIR_BANDS, gains, strict=True)},
            }
        )
    return PairSet(lrs, hrs, pd.DataFrame(rows), factor, histogram_match_target, store=chips.root)


def measured_offsets(pairs: PairSet, upsample: int = 20) -> pd.DataFrame:
    """The offset between each input and its target brought to 10 m, measured by phase
    correlation on the NIR band (metres, x east and y north): what a co-registration check sees."""
    from skimage.registration import phase_cross_correlation

    nir = pairs.bands.index("nir")
    size = pairs.lr.shape[-2:]
    shifts = []
    for lr, hr in zip(pairs.lr, pairs.hr, strict=True):
        coarse = area_resize(hr[nir : nir + 1], size).numpy()[0]
        shift, _, _ = phase_cross_correlation(lr[nir], coarse, upsample_factor=upsample)
        shifts.append((shift[1] * INPUT_GSD, -shift[0] * INPUT_GSD))
    return pd.DataFrame(shifts, columns=["measured_x_m", "measured_y_m"])
