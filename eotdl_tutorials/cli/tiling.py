"""The tiling stage's commands: ``tile`` and ``bench tiling``."""

from __future__ import annotations

import argparse
import json
import os

from eotdl_tutorials.cli.common import JSON_HELP, BenchCommands, print_bench


def _tile(args: argparse.Namespace) -> None:
    from eotdl_tutorials.tiling import tile

    labels = args.labels or (os.path.join(args.world, "labels") if args.world else None)
    report = tile(
        args.matches, args.out, sensors=args.sensors, labels_dir=labels, workers=args.workers,
        max_nodata_percent=args.max_nodata_percent, max_cloud_percent=args.max_cloud_percent,
        progress=not args.quiet,
    )  # fmt: skip
    print(json.dumps(report.summary, indent=1))


def _bench_tiling(args: argparse.Namespace) -> None:
    from eotdl_tutorials.tiling.bench import bench_tiling, format_report

    result = bench_tiling(
        args.world, workers=args.workers, progress=not args.quiet, repeats=args.repeats
    )
    print_bench("tiling", format_report(result), result, args.json)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``tile`` and ``bench tiling``."""
    t = commands.add_parser(
        "tile",
        help="cut co-registered chips of matched footprints into a chip store",
        description="Read each matched footprint's 1 m tile and its window in the best S2 and S1 "
        "scenes (windowed reads grouped by scene, in parallel processes), write GeoTIFF chips "
        "and the packed chip store ({sensor}.npy, index.parquet, meta.json, report.parquet). "
        "Chips already written for the same scene are reused: an interrupted run resumes.",
    )
    t.add_argument("matches", help="folder written by `eotdl-tutorials match`")
    t.add_argument("--out", required=True, help="chip store folder")
    t.add_argument("--world", help="sample world whose labels/ give the index's labels")
    t.add_argument("--labels", help="labels folder (landcover/{id}.tif); default: WORLD/labels")
    t.add_argument(
        "--sensors",
        nargs="+",
        default=["hr", "s2", "s1"],
        help="sensors to cut (default: hr s2 s1)",
    )
    t.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    t.add_argument(
        "--max-nodata-percent",
        type=float,
        default=0.0,
        help="skip chips with more no-data pixels than this percentage (default: 0)",
    )
    t.add_argument(
        "--max-cloud-percent",
        type=float,
        help="skip S2 chips with more SCL cloud than this percentage (default: off)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_tile)

    bt = bench_commands.add_parser(
        "tiling",
        help="the tiler vs plain rasterio windowed reads of the same windows",
        description="Match a sample world's footprints, then time plain windowed reads of every "
        "chip's windows (files kept open; and opened per window) and the tiler (reads, checks "
        "with the course's SCL cloud limit, GeoTIFF chips, packing, labels, catalog) in the same "
        "run; print chips/s and the ratio.",
    )
    bt.add_argument("--world", required=True, help="sample world folder with imagery")
    bt.add_argument("--workers", type=int, default=2, help="processes (default: 2)")
    bt.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of raw reads and of the tiler, alternating; the best of each is kept "
        "(default: 3)",
    )
    bt.add_argument("--json", help=JSON_HELP)
    bt.add_argument("--quiet", action="store_true", help="no progress bar")
    bt.set_defaults(run=_bench_tiling)
