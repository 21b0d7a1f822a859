"""Shared fixtures: the array module ``xp`` runs each test on NumPy, and on CuPy
(marked ``gpu``).

Where no real GPU is there, "CuPy" is the strict stand-in in tests/strict_cupy:
NumPy inside, refusing what real CuPy refuses and counting device waits, copies
and launches. So ``python -m pytest -q`` runs the GPU tests everywhere. The
environment variable ``MINIGAN_TEST_CUPY`` chooses:
  auto   (default) real CuPy when it sees a CUDA device, else the stand-in
  strict the stand-in even on a GPU machine
  real   real CuPy only (GPU tests skip where there is no device)
  off    no CuPy at all (GPU tests skip)
The choice also reaches subprocesses (the command line, the notebooks) through
PYTHONPATH and MINIGAN_TEST_CUPY.
"""

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

STRICT_CUPY = str(Path(__file__).resolve().parent / "strict_cupy")
MODES = ("auto", "strict", "real", "off")


def _real_gpu():
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy

        return bool(cupy.is_available()) and not getattr(cupy, "STRICT_STANDIN", False)
    except Exception:
        return False


def _choose_cupy():
    mode = os.environ.get("MINIGAN_TEST_CUPY", "auto")
    if mode not in MODES:
        raise pytest.UsageError(f"MINIGAN_TEST_CUPY must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "real" or (mode == "auto" and _real_gpu()):
        return "real"
    for name in [m for m in sys.modules if m == "cupy" or m.startswith(("cupy.", "cupy_"))]:
        del sys.modules[name]  # a real CuPy imported without a device: forget it
    if mode == "off":
        sys.modules["cupy"] = None  # `import cupy` raises ImportError
        os.environ["MINIGAN_TEST_CUPY"] = "off"
        return "off"
    sys.path.insert(0, STRICT_CUPY)
    os.environ["PYTHONPATH"] = os.pathsep.join([STRICT_CUPY] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    os.environ["MINIGAN_TEST_CUPY"] = "strict"
    return "strict"


CUPY = _choose_cupy()  # "real", "strict" or "off"

from minigan.backend import gpu_available


def pytest_report_header(config):
    return {"real": "cupy: real CuPy on a GPU", "strict": "cupy: the strict stand-in (NumPy; not a GPU)",
            "off": "cupy: off (GPU tests skip)"}[CUPY]  # fmt: skip


def _xp_params():
    return [
        pytest.param("numpy", id="numpy"),
        pytest.param("cupy", id="cupy", marks=pytest.mark.gpu),
    ]


@pytest.fixture(params=_xp_params())
def xp(request):
    if request.param == "numpy":
        return np
    if not gpu_available():
        pytest.skip("CuPy or a CUDA GPU is not available")
    import cupy

    return cupy


@pytest.fixture
def fast_notebook_env(monkeypatch):
    """The environment a notebook's kernel inherits in the tests: fast mode, no screen, no
    progress bars, and one BLAS thread per kernel unless the caller chose otherwise (on a
    small shared machine, two BLAS threads per process fighting for two cores make small
    matrix products many times slower, and the notebooks are full of small products)."""
    monkeypatch.setenv("MINIGAN_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        if name not in os.environ:
            monkeypatch.setenv(name, "1")


@pytest.fixture
def ledger():
    """Counts of device waits, copies and launches inside the test (the stand-in only)."""
    if CUPY != "strict":
        pytest.skip("device counts come from the strict CuPy stand-in")
    from cupy._ledger import recording

    with recording() as counts:
        yield counts


@pytest.fixture
def straight_and_resumed(tmp_path):
    """A function of a run's settings: it trains 2 epochs straight, and 1 epoch that is
    stopped and resumed to 2, in tmp_path; asserts that every array of the two final
    checkpoints (all but the settings) is equal bit for bit; returns them (straight, resumed)."""

    def compare(settings):
        from minigan.checkpoint import load_checkpoint
        from minigan.train import run

        run({**settings, "epochs": 2}, str(tmp_path / "straight"), progress=False)
        run({**settings, "epochs": 1}, str(tmp_path / "split"), progress=False)
        ckpt = load_checkpoint(str(tmp_path / "split" / "checkpoint.npz"))
        assert int(ckpt["epoch"]) == 1
        run({**settings, "epochs": 2}, str(tmp_path / "split"), resume_ckpt=ckpt, progress=False)
        a = load_checkpoint(str(tmp_path / "straight" / "checkpoint.npz"))
        b = load_checkpoint(str(tmp_path / "split" / "checkpoint.npz"))
        assert a.keys() == b.keys()
        for k in a:
            if k != "settings":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        return a, b

    return compare
