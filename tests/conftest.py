"""Shared fixtures: the project's folders, the real reference data, the ci sample world and the
stand-in for the real services written from it.

At import, before any test runs, ``$EOTDL_TUTORIALS_DATA`` points at a fresh temporary folder
for the whole session, so tests never touch a learner's data, and the notebooks the tests execute
(their kernels inherit the environment) share the sample world that ``ci_world`` builds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eotdl_tutorials import data_dir

if TYPE_CHECKING:
    from eotdl_tutorials.stac import LocalStacApi
    from eotdl_tutorials.stand_in import StandIn

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REALDATA_DIR = PROJECT_ROOT.parent / "shared" / "realdata"

SESSION_DATA = Path(tempfile.mkdtemp(prefix="eotdl-tutorials-tests-"))
atexit.register(shutil.rmtree, SESSION_DATA, ignore_errors=True)
os.environ["EOTDL_TUTORIALS_DATA"] = str(SESSION_DATA)

#: Where tests leave what a person should look at (executed notebooks, the built book,
#: screenshots): ``$EOTDL_TEST_OUTPUT``, default ``test-output/`` in the project.
TEST_OUTPUT = Path(os.environ.get("EOTDL_TEST_OUTPUT") or PROJECT_ROOT / "test-output").resolve()

#: Seconds each notebook took in the ci profile, printed at the end of the run.
NOTEBOOK_SECONDS: pytest.StashKey[dict[str, float]] = pytest.StashKey()


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The project's root folder (where pyproject.toml is)."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def test_output() -> Path:
    """The test output folder (created), printed at the end of the run."""
    TEST_OUTPUT.mkdir(parents=True, exist_ok=True)
    return TEST_OUTPUT


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """Real STAC metadata from Planetary Computer, in ``../shared/realdata`` beside the project."""
    if not REALDATA_DIR.is_dir():
        pytest.skip(
            f"no real reference data in {REALDATA_DIR}: it sits beside the project only on "
            "the course's development machines"
        )
    return REALDATA_DIR


@pytest.fixture(scope="session")
def ci_world() -> Path:
    """The ci sample world (seed 0), built once per session into ``data_dir()/"world-ci"``."""
    from eotdl_tutorials.world import build_world

    path = data_dir() / "world-ci"
    build_world(path, profile="ci", seed=0, progress=False)
    return path


@pytest.fixture(scope="session")
def pgstac_api(ci_world: Path) -> Iterator[LocalStacApi]:
    """The ci world served by the pgstac backend, loaded once per session into a private
    PostgreSQL cluster in ``data_dir()/"pgstac"`` (stopped at the end of the session)."""
    from eotdl_tutorials.stac import LocalStacApi

    if os.geteuid() == 0:  # the cluster runs as `postgres`, who must reach its folder
        SESSION_DATA.chmod(0o711)
    with LocalStacApi(ci_world, backend="pgstac") as api:
        yield api


@pytest.fixture(scope="session")
def stand_in(ci_world: Path, tmp_path_factory: pytest.TempPathFactory) -> StandIn:
    """The stand-in for the real services, written from the ci world by the command line
    (``eotdl-tutorials world stand-in``) once per session, outside the data folder."""
    from eotdl_tutorials.cli import main
    from eotdl_tutorials.stand_in import open_stand_in

    out = tmp_path_factory.mktemp("stand-in")
    assert main(["world", "stand-in", "--out", str(out), "--world", str(ci_world), "--quiet"]) == 0
    return open_stand_in(out)


@pytest.fixture(scope="session")
def stand_in_api(stand_in: StandIn) -> Iterator[str]:
    """The URL of the stand-in's STAC API (``rustac serve`` on 127.0.0.1), stopped at the end
    of the session."""
    from eotdl_tutorials.stand_in import start_stand_in_api

    api = start_stand_in_api(stand_in.root)
    try:
        yield api.url
    finally:
        api.stop()


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Put this process's environment back after each test: a Dask ``LocalCluster`` sets
    ``OMP_NUM_THREADS=1`` (and MKL/OpenBLAS) here for its workers, and every notebook kernel
    started later would inherit it and train on one core."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def notebook_seconds(request: pytest.FixtureRequest) -> dict[str, float]:
    """Where the notebook tests record how long each notebook ran."""
    return request.config.stash.setdefault(NOTEBOOK_SECONDS, {})


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print the notebooks' run times in the ci profile and where the test output is."""
    if TEST_OUTPUT.is_dir():
        terminalreporter.section("test output")
        terminalreporter.write_line(f"executed notebooks, the book, screenshots: {TEST_OUTPUT}")
    seconds = config.stash.get(NOTEBOOK_SECONDS, {})
    if seconds:
        terminalreporter.section("notebook run times (ci profile)")
        for name, value in sorted(seconds.items()):
            terminalreporter.write_line(f"{name:40} {value:6.1f} s")
