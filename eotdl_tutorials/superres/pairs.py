"""Super-resolution pairs: a Sentinel-2 10 m chip and the co-registered 1 m tile on the target grid.

Pairs come from any chip store with ``hr`` and ``s2`` chips. On the sample world
(:func:`ensure_pair_store`, ``ci`` and ``default``) the store is cut from use case A's matches,
keeping only chips without SCL cloud; in the ``full`` profile it is the chip store A1 wrote from
real data (:func:`~eotdl_tutorials.data.ensure_chip_store`), and no sample world is opened. Of
any store, :func:`build_pairs` keeps the chips whose Sentinel-2 window has no SCL cloud or cloud
shadow (the ``s2_cloud_percent`` the tiler records per chip), splits them as the store does (by
place) and reads each pair's time gap from the items' datetimes. The input is the S2 chip's red,
green, blue and NIR (10 m); the target is the 1 m tile averaged to 10 m / ``factor``.

Real pairs are not two views of one instant by one instrument. Each pair here carries, like real
ones, with the magnitude published for it:

- **Time gap**: the S2 scene is the clearest one the matcher found within EOTDL's 30-day window
  (+-15 days, EOTDL's Sentinel-2 search around each EarthView tile). It is what the match gives,
  not drawn (the S2 item's datetime minus the 1 m tile's, as the store records them): the ground
  changes in between (crops grow, grass dries).
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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eotdl_tutorials.data import ChipStore, ensure_chip_store, open_chip_store
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
#: The most SCL cloud and cloud shadow (percent) a pair's Sentinel-2 chip may hold: none.
PAIR_MAX_CLOUD_PERCENT = 0.0
#: The sensors a chip store needs for pairs.
PAIR_SENSORS = ("hr", "s2")


def pair_store_dir(profile: str = "ci") -> Path:
    """``data_dir()/datasets/superres-{profile}``: the cloud-free hr + s2 chip store."""
    return data_dir() / "datasets" / f"superres-{check_profile(profile)}"


def ensure_pair_store(profile: str = "ci", seed: int = 0, progress: bool = True) -> Path:
    """The chip store of 1 m tiles and Sentinel-2 chips for pairs, built first if missing.

    Same world and matches as use case A (:func:`eotdl_tutorials.matching.match` with the sample
    world's windows); the tiler keeps only S2 chips with no SCL cloud or cloud shadow pixel.
    ``full`` reads real data: the chip store notebook A1 wrote
    (:func:`~eotdl_tutorials.data.ensure_chip_store`; :func:`build_pairs` leaves its cloudy chips
    out); without it, a FileNotFoundError says what to run or set, and no sample world is opened.
    """
    from eotdl_tutorials.matching import match
    from eotdl_tutorials.tiling import ensure_published, tile
    from eotdl_tutorials.world import ensure_world

    if WORLD_PROFILE[check_profile(profile)] is None:
        return ensure_chip_store(profile, seed=seed, progress=progress)
    out = pair_store_dir(profile)
    if (out / "meta.json").is_file():
        return ensure_published(out)  # README and catalog of an older store too
    world = ensure_world(WORLD_PROFILE[profile], seed=seed, progress=progress)
    matches = match(
        world.earthview_index,
        world.items_parquet,
        collections=["sentinel-2-l2a"],
        time_buffer_days=SAMPLE_TIME_BUFFER_DAYS,
    )
    tile(matches, out, sensors=("hr", "s2"), max_cloud_percent=0.0, progress=progress)
    return out


def time_gaps(index: pd.DataFrame) -> np.ndarray:
    """Days from each 1 m acquisition to its Sentinel-2 scene (+: the scene is later): the
    store's ``s2_datetime`` minus ``hr_datetime`` (or ``datetime``), the items' datetimes; else
    the matcher's ``s2_dt_days`` (the same difference)."""
    hr = next((c for c in ("hr_datetime", "datetime") if c in index), None)
    if "s2_datetime" in index and hr is not None:
        s2_time = pd.to_datetime(index["s2_datetime"], utc=True)
        hr_time = pd.to_datetime(index[hr], utc=True)
        gaps = ((s2_time - hr_time) / pd.Timedelta(days=1)).to_numpy(dtype=float)
        if "s2_dt_days" in index:  # rows whose datetimes are missing keep the matcher's gap
            gaps = np.where(np.isnan(gaps), index["s2_dt_days"].to_numpy(dtype=float), gaps)
        return gaps
    if "s2_dt_days" in index:
        return index["s2_dt_days"].to_numpy(dtype=float)
    raise ValueError(
        "the chip store records no Sentinel-2 datetime (s2_datetime) nor time gap (s2_dt_days): "
        "pairs need the time between the two acquisitions"
    )


def cloud_free_rows(
    index: pd.DataFrame, max_cloud_percent: float | None = PAIR_MAX_CLOUD_PERCENT
) -> tuple[np.ndarray, int, int]:
    """Positions of the chips whose Sentinel-2 window holds at most ``max_cloud_percent`` SCL
    cloud and cloud shadow (the tiler's ``s2_cloud_percent``), the number left out as cloudy and
    the number left out as never checked (NaN: tiled without a cloud check or an SCL asset).

    A store that records no cloud figure (written before the tiler did) is taken as tiled, with a
    warning; ``max_cloud_percent=None`` keeps every chip."""
    everything = np.arange(len(index))
    if max_cloud_percent is None:
        return everything, 0, 0
    if "s2_cloud_percent" not in index:
        warnings.warn(
            "the chip store records no SCL cloud figure per chip (s2_cloud_percent; tiled by an "
            "older version): its chips are taken as cloud-free as tiled",
            stacklevel=2,
        )
        return everything, 0, 0
    cloud = index["s2_cloud_percent"].to_numpy(dtype=float)
    unchecked = np.isnan(cloud)
    cloudy = ~unchecked & (cloud > max_cloud_percent)
    return np.flatnonzero(~unchecked & ~cloudy), int(cloudy.sum()), int(unchecked.sum())


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
    time gap, drawn offset and gains). ``cloudy`` and ``unchecked``: the store's chips left out
    for SCL cloud or cloud shadow, and for having no cloud figure."""

    lr: np.ndarray
    hr: np.ndarray
    table: pd.DataFrame
    factor: int
    histogram_matched: bool
    bands: tuple[str, ...] = PAIR_BANDS
    store: Path | None = field(default=None, repr=False)
    cloudy: int = 0
    unchecked: int = 0

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
    max_cloud_percent: float | None = PAIR_MAX_CLOUD_PERCENT,
) -> PairSet:
    """Pairs of the cloud-free chips of ``store`` (see the module docstring for what each pair
    carries), a chip store with ``hr`` and ``s2`` chips.

    ``lr_size``: input size in 10 m pixels (centred crop of the S2 chip); the target is
    ``lr_size * factor`` pixels of ``10 / factor`` m. ``limit`` keeps the first pairs only.
    ``max_cloud_percent``: the most SCL cloud and cloud shadow a pair's S2 chip may hold
    (:func:`cloud_free_rows`; None: every chip).
    """
    if factor not in (2, 4):
        raise ValueError(f"factor must be 2 or 4 (10 m to 5 m or 2.5 m), got {factor}")
    chips = store if isinstance(store, ChipStore) else open_chip_store(store)
    missing = [s for s in PAIR_SENSORS if s not in chips.sensors]
    if missing:
        raise ValueError(
            f"chip store {chips.root} has no {' or '.join(missing)} chips (it has "
            f"{', '.join(chips.sensors)}): pairs need a store tiled with the sensors "
            f"{' and '.join(PAIR_SENSORS)} (the store parameter)"
        )
    s2_info, hr_info = chips.sensor("s2"), chips.sensor("hr")
    s2_pos = [s2_info.bands.index(b) for b in PAIR_BANDS]
    hr_pos = [hr_info.bands.index(b) for b in PAIR_BANDS]
    start, hr_start = _crop_starts(chips, lr_size)
    extent = int(lr_size * INPUT_GSD)
    margin = min(hr_start, hr_info.shape[1] - hr_start - extent)
    index = chips.index
    places = place_keys(index).to_numpy()
    gaps = time_gaps(index)
    kept, cloudy, unchecked = cloud_free_rows(index, max_cloud_percent)
    if len(index) and not len(kept):
        raise ValueError(
            f"no pair in chip store {chips.root}: of its {len(index)} chips, {cloudy} hold more "
            f"than {max_cloud_percent:g} % SCL cloud or cloud shadow and {unchecked} have no "
            "cloud figure (tiled without a cloud check: tile with max_cloud_percent set)"
        )
    count = len(kept) if limit is None else min(limit, len(kept))
    s2, hr = chips.array("s2"), chips.array("hr")
    lrs = np.empty((count, len(PAIR_BANDS), lr_size, lr_size), np.float32)
    hrs = np.empty((count, len(PAIR_BANDS), lr_size * factor, lr_size * factor), np.float32)
    rows = []
    for k in range(count):
        i = int(kept[k])
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
        lrs[k], hrs[k] = lr, target
        rows.append(
            {
                "id": chip_id,
                "split": index["split"].iloc[i],
                "place": str(places[i]),
                "time_gap_days": float(gaps[i]),
                "offset_x_m": int(dx),
                "offset_y_m": int(dy),
                **{f"gain_{b}": float(g) for b, g in zip(PAIR_BANDS, gains, strict=True)},
            }
        )
    return PairSet(
        lrs,
        hrs,
        pd.DataFrame(rows),
        factor,
        histogram_match_target,
        store=chips.root,
        cloudy=cloudy,
        unchecked=unchecked,
    )


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
