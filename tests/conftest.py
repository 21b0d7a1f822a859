"""Shared fixtures: the array module ``xp`` runs each test on NumPy, and on CuPy
when a GPU is there (marked ``gpu``; skipped cleanly without CuPy or a device)."""

import numpy as np
import pytest

from minigan.backend import gpu_available


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
