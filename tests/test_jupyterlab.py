"""JupyterLab as a learner meets it: the course's kernel, ``00_sample_world`` run cell by cell in
a real browser (Debian's chromium), an ipywidgets control that answers a change, a leafmap map.

JupyterLab listens on 127.0.0.1 with a random token and is stopped by its process id at the end;
the screenshot goes to the test output folder.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: The kernel that `make install` registers in .venv (README: run the notebooks in JupyterLab).
KERNEL = "eotdl-tutorials"
NOTEBOOK = "00_sample_world.ipynb"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api(url: str, path: str, token: str) -> object:
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait(condition: object, seconds: float, what: str) -> object:
    """Poll ``condition()`` until it is truthy; fail after ``seconds`` saying ``what``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # the server or page is not ready yet
            value = None
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def test_kernel_is_registered() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    specs = KernelSpecManager().find_kernel_specs()
    assert KERNEL in specs, f"no Jupyter kernel {KERNEL!r}: `make install` registers it"
    spec = json.loads((Path(specs[KERNEL]) / "kernel.json").read_text())
    assert Path(spec["argv"][0]).parent.resolve() == BIN.resolve(), spec["argv"]


def test_jupyterlab_runs_the_sample_world(
    ci_world: Path, tmp_path: Path, test_output: Path
) -> None:
    from browser import chromium
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    notebook = nbformat.read(ROOT / "notebooks" / NOTEBOOK, as_version=4)
    notebook.metadata.kernelspec = {"name": KERNEL, "display_name": KERNEL, "language": "python"}
    root = tmp_path / "lab"
    root.mkdir()
    nbformat.write(notebook, root / NOTEBOOK)
    code_cells = sum(cell.cell_type == "code" for cell in notebook.cells)

    # A learner's JupyterLab, minus the news prompt (the tests run offline).
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"checkForUpdates": False, "fetchNews": "false"})
    )
    token, port = secrets.token_hex(16), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
    }
    shots = test_output / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    log_path = test_output / "jupyterlab.log"
    log = log_path.open("w")
    print(f"screenshots in {shots}, JupyterLab's log in {log_path}")
    server = subprocess.Popen(
        [BIN / "jupyter-lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}"]
        + [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
        + ["--LabApp.news_url=", "--ServerApp.port_retries=0", "--allow-root"],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait(lambda: api(url, "/api/status", token), 90, "JupyterLab to answer")
        with chromium() as driver:
            driver.get(f"{url}/lab/tree/{NOTEBOOK}?token={token}")
            wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook"), 90, "the notebook")

            def session() -> dict | None:
                found = [s for s in api(url, "/api/sessions", token) if s["path"] == NOTEBOOK]
                return found[0] if found else None

            kernel = wait(session, 90, "the notebook's kernel")["kernel"]
            assert kernel["name"] == KERNEL
            wait(lambda: session()["kernel"]["execution_state"] == "idle", 90, "an idle kernel")

            menu = "//div[contains(@class,'lm-MenuBar-itemLabel')][text()='Run']"
            wait(lambda: driver.find_elements(By.XPATH, menu), 30, "the Run menu")[0].click()
            run_all = "li[data-command='runmenu:run-all']"
            wait(lambda: driver.find_elements(By.CSS_SELECTOR, run_all), 30, "Run All Cells")[
                0
            ].click()

            def finished() -> bool:
                prompts = [
                    p.text
                    for p in driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputPrompt")
                ]
                ran = [p for p in prompts if p.strip("[]: ").isdigit()]
                return len(ran) == code_cells and session()["kernel"]["execution_state"] == "idle"

            wait(finished, 300, "every cell to run")
            text = driver.find_element(By.CSS_SELECTOR, ".jp-Notebook").text
            assert "Traceback" not in text and "Cell In[" not in text, text[-3000:]

            picker = driver.find_element(By.CSS_SELECTOR, ".jupyter-widgets select")
            outputs = ".widget-interact .widget-output img, .widget-interact .jp-OutputArea img"
            before = wait(lambda: driver.find_elements(By.CSS_SELECTOR, outputs), 60, "the figure")
            first = before[0].get_attribute("src")
            driver.execute_script("arguments[0].scrollIntoView()", picker)
            Select(picker).select_by_index(1)
            wait(
                lambda: [
                    img
                    for img in driver.find_elements(By.CSS_SELECTOR, outputs)
                    if img.get_attribute("src") != first
                ],
                60,
                "the widget's figure to change after a new choice",
            )
            driver.save_screenshot(shots / "jupyterlab-widget.png")

            leaflet = wait(
                lambda: driver.find_elements(By.CSS_SELECTOR, ".leaflet-container"),
                60,
                "a leafmap map",
            )
            driver.execute_script("arguments[0].scrollIntoView()", leaflet[0])
            time.sleep(1)
            assert leaflet[0].size["height"] > 100, leaflet[0].size
            panes = leaflet[0].find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path")
            assert panes, "the map draws no footprint"
            driver.save_screenshot(shots / "jupyterlab-map.png")
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
