"""The ``eotdl-tutorials`` command line: help, version and usage errors."""

from __future__ import annotations

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
    for command in ("world", "stac"):
        assert command in result.stdout


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
