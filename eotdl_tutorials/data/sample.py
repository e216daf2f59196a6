"""The chip store of a profile's sample world, built on first use (world -> match -> tile)."""

from __future__ import annotations

from pathlib import Path

from eotdl_tutorials.profiles import WORLD_PROFILE, check_profile, data_dir

#: Matching windows for the sample world (its Sentinel-1 passes every 24 days in ``ci``).
SAMPLE_TIME_BUFFER_DAYS = {"sentinel-2-l2a": 30, "sentinel-1-grd": 24}


def chip_store_dir(profile: str = "ci") -> Path:
    """``data_dir()/datasets/multisensor-{profile}``: the chip store of ``profile`` (notebook A1
    writes it; :func:`ensure_chip_store` builds it from the sample world when it is missing)."""
    return data_dir() / "datasets" / f"multisensor-{check_profile(profile)}"


def ensure_chip_store(profile: str = "ci", seed: int = 0, progress: bool = True) -> Path:
    """The multi-sensor chip store of ``profile``'s sample world; built first if missing.

    Builds (or reuses) the world with :func:`eotdl_tutorials.world.ensure_world`, matches its
    EarthView footprints with Sentinel-2/-1 scenes and tiles them into :func:`chip_store_dir`.
    ``full`` is never built from the sample world: FileNotFoundError naming what to run or set
    when its store is missing.
    """
    from eotdl_tutorials.matching import match
    from eotdl_tutorials.tiling import CHIP_MAX_CLOUD_PERCENT, ensure_published, tile
    from eotdl_tutorials.world import ensure_world

    out = chip_store_dir(profile)
    if (out / "meta.json").is_file():
        return ensure_published(out)  # README and catalog of an older store too
    if WORLD_PROFILE[profile] is None:
        raise FileNotFoundError(
            f"the {profile} profile trains on real data, and there is no chip store in {out}: "
            f"run notebook A1 with -p profile {profile} -p stac_url URL -p earthview_index PATH "
            "(it writes that store), or pass the store parameter (-p store PATH) of a chip "
            "store you built; the sample world is never used in this profile"
        )
    world = ensure_world(WORLD_PROFILE[profile], seed=seed, progress=progress)
    matches = match(
        world.earthview_index, world.items_parquet, time_buffer_days=SAMPLE_TIME_BUFFER_DAYS
    )
    tile(
        matches,
        out,
        labels_dir=world.root / "labels",
        max_cloud_percent=CHIP_MAX_CLOUD_PERCENT,
        progress=progress,
    )
    return out
