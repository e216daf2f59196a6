"""Widget cells under papermill: the minimal reproducer of the hang that once kept A1's widgets
out of batch runs.

A1's chip browser (a slider observed by a callback that redraws a figure in an ``Output``
widget) and its leafmap map left papermill waiting on an idle kernel under ipykernel 7
(``pyproject.toml`` pins ``ipykernel<7``). This notebook holds exactly those patterns; it must
finish, with every widget's state stored for the book, well within the timeout.

With papermill's default engine, the ``interactive`` cell waited out the whole cell timeout (30 s)
in 2 of 33 runs of this notebook here: a missed wake-up on the kernel's reply
(``eotdl_tutorials.batch``). With the engine ``eotdl``, which the notebooks and this test use, 0
of 57 runs did; in 3 of them the cell took 1.01 s, its reply found at the end of the first slice.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.notebooks

CELLS = [
    "import ipywidgets as widgets\nimport matplotlib.pyplot as plt\n"
    "from IPython.display import display",
    # A1's chip browser: an observed slider redrawing a figure inside an Output widget.
    "slider = widgets.IntSlider(value=0, max=3)\nout = widgets.Output()\n\n\n"
    "def show(change=None):\n    with out:\n        out.clear_output(wait=True)\n"
    "        fig, ax = plt.subplots()\n        ax.plot([0, slider.value])\n"
    "        display(fig)\n        plt.close(fig)\n\n\n"
    'slider.observe(show, names="value")\nshow()\nwidgets.VBox([slider, out])',
    # 00_sample_world's picker: interactive() with a figure.
    "widgets.interactive(lambda n: plt.plot(range(n)), n=widgets.Dropdown(options=[1, 2, 3]))",
    # A1's and 00_sample_world's map.
    "import leafmap\n\nleafmap.Map(center=(45, 6), zoom=4)",
    'print("done")',
]


def widget_notebook(path: Path) -> Path:
    notebook = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(notebook, path)
    return path


def test_widget_cells_finish_under_papermill(tmp_path: Path) -> None:
    executed = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(widget_notebook(tmp_path / "widgets.ipynb")),
        str(executed),
        kernel_name="python3",
        engine_name="eotdl",
        progress_bar=False,
        execution_timeout=120,
    )
    notebook = nbformat.read(executed, as_version=4)
    assert notebook.cells[-1].outputs[0].text == "done\n"
    views = [
        output.data["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in notebook.cells
        for output in cell.outputs
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    ]
    assert len(views) == 3
    state = notebook.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    assert set(views) <= set(state)
