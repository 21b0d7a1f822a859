"""The strict CuPy stand-in refuses what real CuPy refuses, and counts what it should.
(These run only where the stand-in is the CuPy in use; see tests/conftest.py.)"""

import copy
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(os.environ.get("MINIGAN_TEST_CUPY") != "strict",
                                reason="tests of the strict CuPy stand-in itself")  # fmt: skip


@pytest.fixture
def cp():
    import cupy

    return cupy


def test_is_the_stand_in_and_knows_the_pinned_version(cp):
    assert cp.STRICT_STANDIN and cp.is_available() and cp.__version__ == "14.2.0"


def test_no_implicit_conversion_to_numpy(cp):
    x = cp.ones(3)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.testing.assert_array_equal(x, np.ones(3))


@pytest.mark.parametrize("mix", ["h + d", "d * h", "h @ d.reshape(3, 1)", "np.maximum(h, d)", "cp.concatenate([d, h])",
                                 "cp.where(d > 0, h, d)", "d.dot(h)"])  # fmt: skip
def test_numpy_arrays_are_refused_by_device_operators_and_functions(cp, mix):
    h, d = np.ones(3), cp.ones(3)
    with pytest.raises(TypeError, match=r"numpy.ndarray"):
        eval(mix, {"np": np, "cp": cp, "h": h, "d": d})


def test_numpy_functions_dispatch_to_the_device_as_in_cupy(cp):
    x = cp.arange(4.0)
    assert isinstance(np.mean(x), cp.ndarray) and isinstance(np.sqrt(x), cp.ndarray)
    assert float(np.float32(2) * x[1]) == 2.0  # NumPy scalars are scalars, not host arrays
    with pytest.raises(TypeError):
        np.add.at(x, [0], 1.0)  # NumPy's scatter-add does not dispatch (use cupy.add.at)


def test_a_host_array_cannot_be_assigned_into_a_device_array(cp):
    x = cp.zeros((2, 3))
    with pytest.raises(TypeError, match="numpy_array"):
        x[0] = np.ones(3)
    x[0] = cp.ones(3)
    x[1] = 2.0
    assert x.get().tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]


def test_names_and_keywords_real_cupy_lacks_are_refused(cp):
    with pytest.raises(AttributeError, match="not in CuPy 14.2.0"):
        cp.errstate  # noqa: B018  (NumPy has it, CuPy does not)
    with pytest.raises(TypeError, match=r"cupy.sum\(\) got unexpected keyword argument\(s\) where"):
        cp.sum(cp.ones(3), where=True)
    with pytest.raises(TypeError, match="like"):
        cp.zeros(3, like=None)
    with pytest.raises(AttributeError, match="cupy.ndarray"):
        cp.ones(3).ctypes  # noqa: B018
    with pytest.raises(TypeError, match="integers"):
        cp.random.default_rng(0).integers(0, 5, 3, out=None)


def test_a_device_generator_cannot_be_copied(cp):
    rng = cp.random.default_rng(0)
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.deepcopy(rng)


def test_counts_waits_copies_and_launches_per_call_site(cp, ledger):
    x = cp.asarray(np.arange(6.0).reshape(2, 3))  # 1 host-to-device copy
    y = (x * 2).sum(axis=0)  # 2 launches
    v = x.T.reshape(6)[::2]  # views of a copy: transpose is a view, reshape of it copies (1 launch)
    float(y[0])  # 1 wait
    y.get()  # 1 wait
    bool(v[0] > 1)  # 1 launch, 1 wait
    assert (ledger.total("h2d"), ledger.total("launches"), ledger.total("syncs")) == (1, 4, 3)
    assert all(site.startswith("tests/test_gpu_standin.py:") for site in ledger.syncs)


def test_fuse_is_one_launch(cp, ledger):
    @cp.fuse()
    def axpy(a, x, y):
        return a * x + y

    axpy(2.0, cp.ones(3), cp.ones(3))
    assert ledger.total("launches") == 3  # the two fills of ones(), then ONE for the fused a * x + y


def test_every_xp_name_minigan_uses_exists_in_real_cupy():
    """A static check over all of minigan, including lines no test runs on the device:
    each ``xp.<name>`` must be a name of the pinned real CuPy."""
    import re
    from pathlib import Path

    from cupy import _api

    names = _api.module_names("cupy")
    source = Path(__file__).resolve().parents[1] / "minigan"
    missing = sorted({f"{path.relative_to(source.parent)}: xp.{name}"
                      for path in source.rglob("*.py")
                      for name in re.findall(r"\bxp\.([A-Za-z_]\w*)", path.read_text())
                      if name not in names})  # fmt: skip
    assert missing == []
