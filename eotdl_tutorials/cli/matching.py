"""The matching stage's commands: ``match`` and ``bench matching``."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator

from eotdl_tutorials.cli.common import JSON_HELP, BenchCommands, UserError, print_bench


@contextlib.contextmanager
def open_match_source(source: str | None, world: str | None) -> Iterator[tuple[str | None, str]]:
    """``(default footprints, STAC source)``: ``source`` as given, or a local STAC API started
    over ``world`` (stopped on exit); the world's EarthView index is the default footprints."""
    if source is None and world is None:
        raise ValueError("say where the scenes are: --source URL_OR_FILE, or --world FOLDER")
    footprints = None
    if world is not None:
        from eotdl_tutorials.world import open_world

        footprints = str(open_world(world).earthview_index)
    if source is not None:
        yield footprints, source
        return
    from eotdl_tutorials.stac import LocalStacApi

    with LocalStacApi(world) as api:
        yield footprints, api.url


def _match(args: argparse.Namespace) -> None:
    from eotdl_tutorials.matching import match

    buffers = {"sentinel-2-l2a": args.s2_buffer_days, "sentinel-1-grd": args.s1_buffer_days,
               "sentinel-1-rtc": args.s1_buffer_days}  # fmt: skip
    with open_match_source(args.source, args.world) as (footprints, source):
        if not (args.footprints or footprints):
            raise UserError("say which footprints to match: --footprints FILE, or --world FOLDER")
        result = match(
            args.footprints or footprints, source, args.collections, time_buffer_days=buffers,
            max_cloud_cover=None if args.max_cloud_cover < 0 else args.max_cloud_cover,
            scl_max_cloud=args.scl_max_cloud,
        )  # fmt: skip
    result.write(args.out)
    print(json.dumps(result.summary, indent=1))


def _bench_matching(args: argparse.Namespace) -> None:
    from eotdl_tutorials.matching.bench import bench_matching, format_report

    result = bench_matching(
        args.world, footprints=args.footprints, baseline_footprints=args.baseline_footprints,
        dask_workers=args.dask_workers, progress=not args.quiet, backend=args.backend,
    )  # fmt: skip
    print_bench("matching", format_report(result), result, args.json)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``match`` and ``bench matching``."""
    m = commands.add_parser(
        "match",
        help="match high-resolution footprints with Sentinel-2/-1 scenes",
        description="Fetch each collection's scenes once for the footprints' area and period, "
        "join them with every footprint (the scene must contain the footprint's window, within "
        "the time window and cloud limit) and write matches.parquet (best match per footprint "
        "and collection), candidates.parquet (all, ranked by time distance), scenes.parquet and "
        "match.json into --out.",
    )
    m.add_argument(
        "--world",
        help="a sample world: its EarthView index is the default "
        "--footprints and, without --source, a local STAC API over it is started",
    )
    m.add_argument(
        "--footprints",
        help="geoparquet of footprints: id, geometry, datetime, or "
        "the EarthView index columns (json_path, zone, region, date, geometry)",
    )
    m.add_argument(
        "--source",
        help="STAC API URL (e.g. https://earth-search.aws.element84.com/v1)"
        ", or a stac-geoparquet / JSON file of items",
    )
    m.add_argument("--out", required=True, help="folder to write the matches into")
    m.add_argument(
        "--collections",
        nargs="+",
        default=["sentinel-2-l2a", "sentinel-1-grd"],
        help="collections to match (default: sentinel-2-l2a sentinel-1-grd)",
    )
    m.add_argument(
        "--s2-buffer-days",
        type=float,
        default=30.0,
        help="total width of the "
        "Sentinel-2 time window in days, centred on the footprint (default: 30, +-15)",
    )
    m.add_argument(
        "--s1-buffer-days",
        type=float,
        default=6.0,
        help="total width of the Sentinel-1 time window in days (default: 6, +-3)",
    )
    m.add_argument(
        "--max-cloud-cover",
        type=float,
        default=5.0,
        help="largest eo:cloud_cover "
        "(percent) of a Sentinel-2 scene; negative: no limit (default: 5)",
    )
    m.add_argument(
        "--scl-max-cloud",
        type=float,
        help="also require at most this percentage "
        "of SCL cloud pixels inside the window (reads the scl COGs; default: off)",
    )
    m.set_defaults(run=_match)

    bm = bench_commands.add_parser(
        "matching",
        help="vectorised matching vs one STAC search per footprint, same local API",
        description="Match every footprint of a sample world (e.g. the large profile's 1M) "
        "through a local STAC API, then the same sample of footprints both ways (fast path and "
        "per-footprint baseline, fully run, not extrapolated); print seconds, peak memory, "
        "requests, the speed-up and whether the matches are identical, and how long the API "
        "alone takes to send the fast path's items (so the best speed-up any client could "
        "reach on this API).",
    )
    bm.add_argument("--world", required=True, help="sample world folder (e.g. profile large)")
    bm.add_argument(
        "--footprints",
        type=int,
        help="match a random sample of this many footprints instead of all",
    )
    bm.add_argument(
        "--baseline-footprints",
        type=int,
        default=2000,
        help="footprints matched both ways (default: 2000)",
    )
    bm.add_argument(
        "--dask-workers",
        type=int,
        default=0,
        help="run the join on a local Dask "
        "cluster of this many processes (default: 0, in this process)",
    )
    bm.add_argument(
        "--backend",
        choices=["rustac", "pgstac"],
        default="rustac",
        help="the local STAC API: rustac (in memory, no server-side filters) or pgstac "
        "(PostgreSQL under the data folder, with filter and fields; default: rustac)",
    )
    bm.add_argument("--json", help=JSON_HELP)
    bm.add_argument("--quiet", action="store_true", help="no progress bar")
    bm.set_defaults(run=_bench_matching)
