"""The course notebooks: every one runs top to bottom in fast mode, and every one is
committed clean (no outputs, no execution counts) and in step with its source.

Each notebook is executed in a fresh Jupyter kernel of this Python (nbclient, the
engine behind nbconvert and nbmake), with MINIGAN_FAST=1, MPLBACKEND=Agg and
TQDM_DISABLE=1 in the kernel's environment. A missing kernel is a failure with a
message saying what to install, never a silent skip.
"""

import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT_S = 300  # per cell; fast mode keeps a whole notebook under a minute
KERNEL = "python3"
INSTALL_HINT = "install the test tools with  pip install -e '.[test]'  (they bring nbclient and ipykernel)"


def _load(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def test_the_course_is_there():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 9, names
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, len(names) + 1)], names


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_fast_mode(path, fast_notebook_env):
    try:
        import ipykernel  # noqa: F401  (the kernel the notebooks run in)
        from jupyter_client.kernelspec import NoSuchKernel
        from nbclient import NotebookClient
    except ImportError as e:
        pytest.fail(f"cannot run notebooks: {e}; {INSTALL_HINT}")

    nb = _load(path)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    try:
        client.execute()  # raises CellExecutionError (with the cell's traceback) on the first failing cell
    except NoSuchKernel as e:
        pytest.fail(f"no Jupyter kernel named {KERNEL!r} ({e}); {INSTALL_HINT}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = _load(path)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    dirty = [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing"
    assert code[0].id.endswith("-install"), f"{path.name}: the first code cell must be the install cell"
    assert 'os.environ.get("MINIGAN_FAST") == "1"' in code[1].source, f"{path.name}: the notebook's own first cell must read FAST"


def test_notebooks_match_their_sources():
    """notebooks/make_notebooks.py rebuilds every notebook from notebooks/src/ byte for byte."""
    result = subprocess.run(
        [sys.executable, str(NOTEBOOK_DIR / "make_notebooks.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + "\nrun  python notebooks/make_notebooks.py  after editing src/"
