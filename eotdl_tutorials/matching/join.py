"""The vectorised spatio-temporal join of footprint windows with Sentinel scenes.

A footprint matches a scene of a collection when

1. the scene's footprint (its ``geometry``, in the scene's UTM CRS ``epsg``) contains the whole
   window of the footprint (:mod:`eotdl_tutorials.matching.windows`), transformed into that CRS;
2. ``|scene time - footprint time| <= time_buffer_days / 2``: ``time_buffer_days`` is the *total*
   width of the time window, as in EOTDL (30 days for Sentinel-2, 6 for Sentinel-1, i.e. +-15 and
   +-3 days), both ends included;
3. the scene's ``eo:cloud_cover`` is at most ``max_cloud_cover`` (when set; scenes without a cloud
   cover then fail; Sentinel-1 rules have no cloud limit).

Candidates are ranked per footprint by ``|dt|``, then cloud cover, then item id; rank 0 is the
best match. Everything runs as array operations: identical scene footprints are grouped, an
STRtree answers "window within scene footprint" for all windows at once per pair of CRSs, and
the time condition becomes two ``searchsorted`` calls on (footprint group, time) keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from eotdl_tutorials.facts.grids import utm_epsg
from eotdl_tutorials.matching.windows import Windows, transform_geometries, transform_points

NS_PER_DAY = 86_400 * 10**9

#: Total width of the time window per collection (days), as EOTDL: +-15 days S2, +-3 days S1.
DEFAULT_TIME_BUFFER_DAYS = {"sentinel-2-l2a": 30.0, "sentinel-1-grd": 6.0, "sentinel-1-rtc": 6.0}
#: Default ``eo:cloud_cover`` limit (percent) per collection: EOTDL keeps S2 scenes <= 5 %.
DEFAULT_MAX_CLOUD_COVER: dict[str, float | None] = {"sentinel-2-l2a": 5.0}
#: Short sensor names of the collections (used for column and chip names).
SENSOR_OF_COLLECTION = {"sentinel-2-l2a": "s2", "sentinel-1-grd": "s1", "sentinel-1-rtc": "s1"}
#: Longitude/latitude slack when preselecting footprints near a CRS's scenes (degrees).
_PRESELECT_MARGIN_DEG = 0.1


@dataclass(frozen=True)
class MatchRules:
    """How footprints match scenes of one collection (see the module docstring)."""

    collection: str
    time_buffer_days: float
    max_cloud_cover: float | None

    @classmethod
    def for_collection(
        cls,
        collection: str,
        time_buffer_days: float | None = None,
        max_cloud_cover: float | None = -1.0,
    ) -> MatchRules:
        """Rules with the EOTDL defaults of ``collection`` for what is not given.

        ``max_cloud_cover=None`` means no cloud limit; the default ``-1`` takes the collection's.
        """
        if collection not in SENSOR_OF_COLLECTION:
            raise ValueError(
                f"unknown collection {collection!r}: use one of {', '.join(SENSOR_OF_COLLECTION)}"
            )
        buffer = (
            DEFAULT_TIME_BUFFER_DAYS[collection] if time_buffer_days is None else time_buffer_days
        )
        if max_cloud_cover is not None and max_cloud_cover < 0:
            max_cloud_cover = DEFAULT_MAX_CLOUD_COVER.get(collection)
        if not buffer > 0:
            raise ValueError(f"time_buffer_days must be positive, not {buffer}")
        return cls(collection, float(buffer), max_cloud_cover)

    @property
    def sensor(self) -> str:
        return SENSOR_OF_COLLECTION[self.collection]

    @property
    def half_window_ns(self) -> int:
        return int(round(self.time_buffer_days * NS_PER_DAY / 2))

    def cloud_ok(self, cloud_cover: np.ndarray) -> np.ndarray:
        """Which cloud covers pass (NaN fails when a limit is set)."""
        cloud_cover = np.asarray(cloud_cover, dtype="float64")
        if self.max_cloud_cover is None or self.sensor == "s1":
            return np.ones(len(cloud_cover), dtype=bool)
        return cloud_cover <= self.max_cloud_cover


def scene_epsg(scenes: gpd.GeoDataFrame) -> np.ndarray:
    """Each scene's CRS: ``epsg`` when known, else the UTM zone of its centroid."""
    epsg = pd.to_numeric(scenes["epsg"], errors="coerce").to_numpy(dtype="float64")
    missing = np.isnan(epsg)
    if missing.any():
        centre = shapely.centroid(scenes.geometry.to_numpy()[missing])
        epsg[missing] = utm_epsg(shapely.get_x(centre), shapely.get_y(centre))
    return epsg.astype("int64")


def times_ns(values: pd.Series) -> np.ndarray:
    """UTC datetimes as int64 nanoseconds since the epoch."""
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns").asi8


@dataclass(frozen=True)
class SceneIndex:
    """Scenes of one collection, grouped by identical footprint and sorted by (group, time)."""

    rules: MatchRules
    rows: np.ndarray  # position of each sorted scene in the scenes frame
    group: np.ndarray  # footprint group of each sorted scene
    t_ns: np.ndarray  # time of each sorted scene
    preference: np.ndarray  # rank of each sorted scene by (cloud cover, id): the tie-breaker
    cloud: np.ndarray
    group_geoms: np.ndarray  # footprint of each group, in the group's CRS
    group_epsg: np.ndarray
    group_lonlat: np.ndarray  # (n_groups, 4) WGS84 bounds

    @classmethod
    def build(cls, scenes: gpd.GeoDataFrame, rules: MatchRules) -> SceneIndex:
        """Keep the scenes of ``rules.collection`` that pass the cloud rule, and index them."""
        keep = (scenes["collection"].to_numpy() == rules.collection) & rules.cloud_ok(
            scenes["cloud_cover"].to_numpy(dtype="float64")
        )
        rows = np.flatnonzero(keep)
        sub = scenes.iloc[rows]
        geoms = sub.geometry.to_numpy()
        epsg = scene_epsg(sub)
        # scenes with byte-identical footprints in the same CRS share a group
        keys = [
            int(e).to_bytes(4, "little") + w
            for e, w in zip(epsg, shapely.to_wkb(geoms), strict=True)
        ]
        group, uniques = pd.factorize(np.array(keys, dtype=object))
        first = np.unique(group, return_index=True)[1]
        group_geoms = np.empty(len(uniques), dtype=object)
        group_epsg = epsg[first]
        for code in np.unique(group_epsg):
            sel = group_epsg == code
            group_geoms[sel] = transform_geometries(geoms[first[sel]], 4326, int(code))
        t = times_ns(sub["datetime"])
        cloud = sub["cloud_cover"].to_numpy(dtype="float64")
        ids = sub["id"].to_numpy().astype(str)
        preference = np.argsort(np.lexsort((ids, np.nan_to_num(cloud, nan=np.inf))))
        order = np.lexsort((preference, t, group))
        return cls(
            rules=rules,
            rows=rows[order],
            group=group[order].astype("int64"),
            t_ns=t[order],
            preference=preference[order],
            cloud=cloud[order],
            group_geoms=group_geoms,
            group_epsg=group_epsg,
            group_lonlat=shapely.bounds(geoms[first]).reshape(-1, 4),
        )

    def __len__(self) -> int:
        return len(self.rows)


class SceneShapes:
    """The distinct scene footprints of one CRS, ready for exact "window within" tests.

    A window (the quadrilateral of its 4 corners) lies within a footprint ``P`` when its corners
    lie in the convex hull ``H`` of ``P`` (exact: ``H`` is convex) and it touches none of the
    pockets ``H - P``; the few windows near a pocket get an exact prepared ``contains``. Real and
    sample footprints are nearly convex, so almost every window takes the fast path.
    """

    def __init__(self, geoms: np.ndarray) -> None:
        self.geoms = geoms
        self.hulls = shapely.convex_hull(geoms)
        shapely.prepare(self.geoms)
        shapely.prepare(self.hulls)
        self.tree = shapely.STRtree(geoms)
        pieces = shapely.get_parts(shapely.difference(self.hulls, geoms), return_index=True)
        self.pocket_owner = pieces[1]
        self.pockets = shapely.STRtree(pieces[0]) if len(pieces[0]) else None

    def within(self, corner_x: np.ndarray, corner_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(window, footprint)`` positions of every window lying within a footprint."""
        cx, cy = corner_x.mean(1), corner_y.mean(1)
        points = shapely.points(cx, cy)
        # a window within a footprint has this inner point within the footprint's envelope
        window, shape = self.tree.query(points)
        inside = np.ones(len(window), dtype=bool)
        for k in range(4):
            inside &= shapely.intersects_xy(
                self.hulls[shape], corner_x[window, k], corner_y[window, k]
            )
        window, shape = window[inside], shape[inside]
        if self.pockets is None or len(window) == 0:
            return window, shape
        # windows reaching a pocket of their footprint: every corner lies within `reach`
        reach = float(np.sqrt((corner_x - cx[:, None]) ** 2 + (corner_y - cy[:, None]) ** 2).max())
        near_w, near_piece = self.pockets.query(points, predicate="dwithin", distance=reach)
        stride = len(self.geoms)
        check = np.flatnonzero(
            np.isin(window * stride + shape, near_w * stride + self.pocket_owner[near_piece])
        )
        if len(check):
            rings = np.stack([corner_x[window[check]], corner_y[window[check]]], axis=-1)
            quads = shapely.polygons(np.concatenate([rings, rings[:, :1]], axis=1))
            inside = np.ones(len(window), dtype=bool)
            inside[check] = shapely.contains(self.geoms[shape[check]], quads)
            window, shape = window[inside], shape[inside]
        return window, shape


def spatial_pairs(windows: Windows, index: SceneIndex) -> tuple[np.ndarray, np.ndarray]:
    """All (footprint, scene group) pairs whose window lies within the group's footprint."""
    fps, groups = [], []
    if len(index) == 0 or len(windows) == 0:
        return np.empty(0, "int64"), np.empty(0, "int64")
    centre_lon = np.empty(len(windows))
    centre_lat = np.empty(len(windows))
    for grid in np.unique(windows.epsg):
        sel = windows.epsg == grid
        centre_lon[sel], centre_lat[sel] = transform_points(
            windows.cx[sel], windows.cy[sel], int(grid), 4326
        )
    for code in np.unique(index.group_epsg):
        in_crs = np.flatnonzero(index.group_epsg == code)
        lon0, lat0 = index.group_lonlat[in_crs, :2].min(0) - _PRESELECT_MARGIN_DEG
        lon1, lat1 = index.group_lonlat[in_crs, 2:].max(0) + _PRESELECT_MARGIN_DEG
        near = (centre_lon >= lon0) & (centre_lon <= lon1) & (centre_lat >= lat0)
        near = np.flatnonzero(near & (centre_lat <= lat1))
        if len(near) == 0:
            continue
        shapes = SceneShapes(index.group_geoms[in_crs])
        window, shape = shapes.within(*windows.corners_in(near, int(code)))
        fps.append(near[window])
        groups.append(in_crs[shape])
    if not fps:
        return np.empty(0, "int64"), np.empty(0, "int64")
    return np.concatenate(fps).astype("int64"), np.concatenate(groups).astype("int64")


@dataclass(frozen=True)
class Candidates:
    """Matching (footprint, scene) pairs of one collection, ranked per footprint."""

    footprint: np.ndarray  # position in the footprint frame
    scene: np.ndarray  # position in the scenes frame
    dt_ns: np.ndarray  # scene time - footprint time
    cloud: np.ndarray
    rank: np.ndarray

    def __len__(self) -> int:
        return len(self.footprint)

    def best(self) -> Candidates:
        """Rank-0 rows only: the best match of each matched footprint."""
        keep = self.rank == 0
        return Candidates(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))

    def subset(self, keep: np.ndarray) -> Candidates:
        """The rows ``keep`` (a mask), ranks renumbered within each footprint."""
        footprint = self.footprint[keep]
        return Candidates(
            footprint=footprint,
            scene=self.scene[keep],
            dt_ns=self.dt_ns[keep],
            cloud=self.cloud[keep],
            rank=ranks(footprint),
        )


def ranks(footprint: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal values of a sorted ``footprint`` array."""
    if len(footprint) == 0:
        return np.empty(0, dtype="int32")
    starts = np.flatnonzero(np.r_[True, footprint[1:] != footprint[:-1]])
    lengths = np.diff(np.r_[starts, len(footprint)])
    return (np.arange(len(footprint)) - np.repeat(starts, lengths)).astype("int32")


def _time_ranges(
    pair_group: np.ndarray, t_fp: np.ndarray, index: SceneIndex
) -> tuple[np.ndarray, np.ndarray]:
    """``[lo, hi)`` positions in ``index`` of each pair's group scenes within the time window."""
    half = index.rules.half_window_ns
    lo = np.empty(len(pair_group), dtype="int64")
    hi = np.empty(len(pair_group), dtype="int64")
    if len(pair_group) == 0:
        return lo, hi
    order = np.argsort(pair_group, kind="stable")
    groups, starts = np.unique(pair_group[order], return_index=True)
    ends = np.r_[starts[1:], len(order)]
    first = np.searchsorted(index.group, groups)
    last = np.searchsorted(index.group, groups, side="right")
    for a, b, s0, s1 in zip(starts, ends, first, last, strict=True):
        pairs = order[a:b]
        times = index.t_ns[s0:s1]
        lo[pairs] = s0 + np.searchsorted(times, t_fp[pairs] - half)
        hi[pairs] = s0 + np.searchsorted(times, t_fp[pairs] + half, side="right")
    return lo, hi


def join(windows: Windows, footprint_t_ns: np.ndarray, index: SceneIndex) -> Candidates:
    """Every (footprint, scene) match under ``index.rules``, ranked (vectorised)."""
    pair_fp, pair_group = spatial_pairs(windows, index)
    lo, hi = _time_ranges(pair_group, footprint_t_ns[pair_fp], index)
    counts = hi - lo
    pair_of_row = np.repeat(np.arange(len(counts)), counts)
    sorted_pos = lo[pair_of_row] + (
        np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    footprint = pair_fp[pair_of_row]
    dt = index.t_ns[sorted_pos] - footprint_t_ns[footprint]
    # rank by (footprint, |dt|, preference): an exact composite of |dt| rank and preference
    # sorted once, then a stable sort by footprint (cheap: pairs come out nearly in order)
    dt_rank = np.unique(np.abs(dt), return_inverse=True)[1].astype("int64")
    within = np.argsort(dt_rank * (len(index) + 1) + index.preference[sorted_pos])
    order = within[np.argsort(footprint[within], kind="stable")]
    footprint, sorted_pos = footprint[order], sorted_pos[order]
    return Candidates(
        footprint=footprint,
        scene=index.rows[sorted_pos],
        dt_ns=dt[order],
        cloud=index.cloud[sorted_pos],
        rank=ranks(footprint),
    )
