"""The roads stage's commands (use case D): ``roads predict``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import BenchCommands, add_group


def _roads_predict(args: argparse.Namespace) -> None:
    from eotdl_tutorials.roads import predict_scene

    result = predict_scene(
        args.scene, args.model, args.out, threshold=args.threshold, tile=args.tile,
        overlap=args.overlap, scale=args.scale, offset=args.offset,
        device=None if args.device == "auto" else args.device, progress=not args.quiet,
    )  # fmt: skip
    print(
        f"{result.probability}\n{result.roads}: {result.road_lines} road lines, "
        f"{result.road_km} km (bands matched by {result.band_mapping}"
        f"{'; predicted on a 10 m UTM grid and warped back' if result.warped else ''})"
    )


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``roads predict``: use case D's whole-scene road extraction."""
    road_commands = add_group(commands, "roads", "use case D: road extraction on Sentinel-2")
    predict = road_commands.add_parser(
        "predict",
        help="predict roads over a Sentinel-2 GeoTIFF with a saved road model",
        description="Predict a whole Sentinel-2 GeoTIFF in overlapping tiles; write "
        "PREFIX_probability.tif (road probability on the scene's grid, no-data kept) and "
        "PREFIX_roads.geojson (simplified centre lines, EPSG:4326). Bands are matched by their "
        "descriptions or a known layout (12-band L2A); a scene in another CRS or pixel size is "
        "warped to 10 m UTM and back. Nothing is written when it fails.",
    )
    predict.add_argument("scene", help="a Sentinel-2 GeoTIFF")
    predict.add_argument("--model", required=True, help="a road model folder")
    predict.add_argument("--out", required=True, help="prefix of the two output files")
    predict.add_argument("--threshold", type=float, default=0.5, help="road if p >= (0.5)")
    predict.add_argument("--tile", type=int, default=128, help="tile size in px (default: 128)")
    predict.add_argument("--overlap", type=int, default=32, help="tile overlap in px (32)")
    predict.add_argument(
        "--scale",
        type=float,
        help="reflectance = DN x SCALE + OFFSET, for integer files without scale/offset tags "
        "(default: the model's training convention, L2A's 0.0001 and -0.1)",
    )
    predict.add_argument(
        "--offset",
        type=float,
        help="see --scale; 0 for an export whose values have no +1000 offset (Earth Search v1's "
        "COGs, Google Earth Engine's and Sentinel Hub's harmonized L2A)",
    )
    predict.add_argument("--device", default="auto", help="auto, cpu or cuda")
    predict.add_argument("--quiet", action="store_true", help="no progress bar")
    predict.set_defaults(run=_roads_predict)
