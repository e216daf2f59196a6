"""The ``eotdl-tutorials`` command line: help, version and usage errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from eotdl_tutorials import __version__
from eotdl_tutorials.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in a fresh interpreter, as the console script does."""
    return subprocess.run(
        [sys.executable, "-m", "eotdl_tutorials.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_lists_the_subcommands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: eotdl-tutorials")
    listed = re.findall(r"^ {4}(\S+)", result.stdout, re.MULTILINE)
    assert listed == [
        "world", "stac", "bench", "match", "tile", "superres", "serve", "roads", "course"
    ]  # fmt: skip
    listed = re.findall(r"^ {4}(\S+)", run_cli("bench", "--help").stdout, re.MULTILINE)
    assert listed == ["training", "encoder", "matching", "tiling", "superres", "api"]


def test_every_stage_registers_its_commands_and_imports_no_stage() -> None:
    """Building the parser loads the command line's own modules, none of a stage's."""
    code = (
        "import sys; from eotdl_tutorials.cli import build_parser; build_parser(); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('eotdl_tutorials'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    stages = (
        "world", "stac", "training", "matching", "tiling", "superres", "serving", "roads", "course"
    )  # fmt: skip
    assert set(result.stdout.split()) == {
        "eotdl_tutorials",
        "eotdl_tutorials.profiles",
        "eotdl_tutorials.cli",
        "eotdl_tutorials.cli.common",
        *(f"eotdl_tutorials.cli.{stage}" for stage in stages),
    }


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"eotdl-tutorials {__version__}"


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice: 'no-such-command'" in result.stderr


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "eotdl-tutorials"
    assert script.exists(), f"no {script}: install the package with pip install -e ."
    result = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == f"eotdl-tutorials {__version__}"


def test_main_without_a_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: eotdl-tutorials" in capsys.readouterr().out


def test_main_reports_bad_input_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["world", "build", "--profile", "huge", "--out", "unused"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err
