"""The match, tile and bench subcommands: help, a run on the ci world, and bad input."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest

from eotdl_tutorials.cli import main


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (
            ["match"],
            [
                "--world",
                "--footprints",
                "--source",
                "--out",
                "--collections",
                "--s2-buffer-days",
                "--s1-buffer-days",
                "--max-cloud-cover",
                "--scl-max-cloud",
            ],
        ),
        (
            ["tile"],
            [
                "--out",
                "--world",
                "--labels",
                "--sensors",
                "--workers",
                "--max-nodata-percent",
                "--max-cloud-percent",
                "--quiet",
            ],
        ),
        (
            ["bench", "matching"],
            [
                "--world",
                "--footprints",
                "--baseline-footprints",
                "--dask-workers",
                "--backend",
                "--json",
                "--quiet",
            ],
        ),
        (["bench", "tiling"], ["--world", "--workers", "--repeats", "--json", "--quiet"]),
    ],
)
def test_help_explains_every_option(argv, options, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in options:
        assert option in text


def test_match_then_tile_on_the_ci_world(ci_world, tmp_path, capsys):
    matches, store = tmp_path / "matches", tmp_path / "store"
    assert (
        main(["match", "--world", str(ci_world), "--out", str(matches), "--s1-buffer-days", "24"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["footprints"] == 150 and summary["requests"] > 0
    assert (matches / "matches.parquet").exists() and (matches / "candidates.parquet").exists()
    assert (
        main(
            [
                "tile",
                str(matches),
                "--out",
                str(store),
                "--world",
                str(ci_world),
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    index = gpd.read_parquet(store / "index.parquet")
    assert len(index) == report["packed"] > 0
    assert (index["label"] >= 0).all()


def test_bad_input_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["match", "--out", str(tmp_path)]) == 2
    assert "--source" in capsys.readouterr().err
    assert (
        main(
            [
                "match",
                "--source",
                str(tmp_path / "none.parquet"),
                "--footprints",
                str(tmp_path / "none.parquet"),
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    assert main(["tile", str(tmp_path), "--out", str(tmp_path / "store")]) == 2
    assert "eotdl-tutorials match" in capsys.readouterr().err


def test_benches_print_a_table_and_write_json(ci_world, tmp_path, capsys):
    out = tmp_path / "matching.json"
    assert (
        main(
            [
                "bench",
                "matching",
                "--world",
                str(ci_world),
                "--baseline-footprints",
                "10",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "speed-up" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    for key in (
        "footprints",
        "seconds",
        "peak_rss_mb",
        "requests",
        "baseline_footprints",
        "baseline_seconds",
        "baseline_requests",
        "speedup",
        "identical",
    ):
        assert key in figures
    assert figures["identical"] is True and figures["baseline_footprints"] == 10
    out = tmp_path / "tiling.json"
    assert (
        main(
            [
                "bench",
                "tiling",
                "--world",
                str(ci_world),
                "--workers",
                "1",
                "--repeats",
                "2",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "raw windowed reads" in capsys.readouterr().out
    figures = json.loads(out.read_text())
    for key in ("chips", "seconds", "chips_per_s", "raw_read_seconds", "ratio_to_raw"):
        assert key in figures
    assert figures["chips"] > 0
    assert len(figures["seconds_runs"]) == len(figures["raw_read_seconds_runs"]) == 2
    assert figures["seconds"] == min(figures["seconds_runs"])
