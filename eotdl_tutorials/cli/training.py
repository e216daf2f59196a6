"""The training stage's commands: ``bench training`` and ``bench encoder``."""

from __future__ import annotations

import argparse

from eotdl_tutorials.cli.common import JSON_HELP, BenchCommands, print_bench


def _bench_training(args: argparse.Namespace) -> None:
    from eotdl_tutorials.training.benchmark import bench_training, format_report

    result = bench_training(
        args.store, sensor=args.sensor, batch_size=args.batch_size, steps=args.steps,
        repeats=args.repeats, accelerator=args.accelerator, num_workers=args.num_workers,
    )  # fmt: skip
    print_bench("training", format_report(result), result, args.json)


def _bench_encoder(args: argparse.Namespace) -> None:
    from eotdl_tutorials.training.benchmark import bench_encoder_step, format_encoder_step_report

    result = bench_encoder_step(
        args.arch, size=args.size, batch_size=args.batch_size, steps=args.steps
    )
    print_bench("encoder", format_encoder_step_report(result), result, args.json)


def register(commands: argparse._SubParsersAction, bench_commands: BenchCommands) -> None:
    """``bench training`` and ``bench encoder``."""
    training = bench_commands.add_parser(
        "training",
        help="the Lightning training helpers vs a bare PyTorch loop, and the data pipeline",
        description="Train the same classifier on the same chips with the course's Lightning "
        "helpers and with a bare PyTorch loop; print samples/s, the helpers' overhead and how "
        "much faster the data pipeline alone is than the model.",
    )
    training.add_argument("--store", help="chip store folder (default: a synthetic store)")
    training.add_argument("--sensor", default="s2", help="sensor to train on (default: s2)")
    training.add_argument("--batch-size", type=int, default=64, help="default: 64")
    training.add_argument("--steps", type=int, default=30, help="timed steps (default: 30)")
    training.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs of each loop, alternating; the best of each is kept (default: 3)",
    )
    training.add_argument("--accelerator", default="auto", help="auto, cpu or cuda")
    training.add_argument("--num-workers", type=int, default=0, help="loader workers")
    training.add_argument("--json", help=JSON_HELP)
    training.set_defaults(run=_bench_training)
    encoder = bench_commands.add_parser(
        "encoder",
        help="CPU training step of the encoder: timm's ResNet against the course's",
        description="Time a CPU training step of a ResNet at the ci/default view size as timm "
        "builds it, with eotdl_tutorials.models.small_conv.speed_up_small_convolutions, and also "
        "channels-last (the course's SensorEncoder); same weights, same batch. Print the "
        "steps, their speed-up over timm's and the gradient difference.",
    )
    encoder.add_argument("--arch", default="resnet18", help="timm architecture (default: resnet18)")
    encoder.add_argument("--size", type=int, default=24, help="input size in px (default: 24)")
    encoder.add_argument("--batch-size", type=int, default=64, help="default: 64")
    encoder.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    encoder.add_argument("--json", help=JSON_HELP)
    encoder.set_defaults(run=_bench_encoder)
