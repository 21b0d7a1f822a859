"""The one CPU/GPU seam: array modules, moving arrays and layers, clear GPU errors."""

import sys
import types

import numpy as np
import pytest

from minigan import backend
from minigan.backend import (
    GPUUnavailableError,
    device_of,
    get_array_module,
    gpu_available,
    module_for,
    to_device,
    to_module,
    to_numpy,
)
from minigan.layers import BatchNorm, Dense, Sequential


def test_get_array_module_of_numpy_arrays_is_numpy():
    assert get_array_module(np.zeros(3)) is np
    assert get_array_module(np.float32(1.0)) is np
    assert get_array_module(np.zeros((2, 2)).T) is np
    assert device_of(np.zeros(3)) == "cpu"


def test_get_array_module_on_each_device(xp):
    x = xp.zeros(3)
    assert get_array_module(x) is xp
    assert device_of(x) == ("cpu" if xp is np else "gpu")


def test_to_device_cpu_is_the_identity_for_numpy():
    x = np.arange(4.0)
    assert to_device(x, "cpu") is x
    assert to_numpy(x) is x
    assert module_for("cpu") is np


def test_round_trip_through_each_device(xp):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    moved = to_device(x, "cpu" if xp is np else "gpu")
    assert get_array_module(moved) is xp
    back = to_numpy(moved)
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, x)


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*'cpu' or 'gpu'"):
        module_for("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        to_device(np.zeros(2), "tpu")


def test_asking_for_the_missing_gpu_says_how_to_get_one(monkeypatch):
    """Runs on every machine: pretend CuPy is installed but sees no CUDA device."""
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(is_available=lambda: False))
    hint = r"sees no usable CUDA device.*pip install 'minigan\[gpu\]'"
    with pytest.raises(GPUUnavailableError, match=hint):
        module_for("gpu")
    with pytest.raises(GPUUnavailableError, match=hint):
        to_device(np.zeros(2), "gpu")
    with pytest.raises(GPUUnavailableError, match=hint):
        Dense(2, 3).to("gpu")
    assert gpu_available() is False


def test_missing_cupy_gives_the_install_hint(monkeypatch):
    """Runs on every machine: pretend CuPy is not installed."""
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` raise ImportError
    with pytest.raises(GPUUnavailableError, match=r"CuPy is not installed.*pip install 'minigan\[gpu\]'"):
        backend.gpu_module()
    assert gpu_available() is False
    assert issubclass(GPUUnavailableError, RuntimeError)


def test_layer_to_cpu_keeps_numpy_arrays():
    layer = BatchNorm(3)
    gamma = layer.params["gamma"]
    assert layer.to("cpu") is layer
    assert layer.params["gamma"] is gamma  # nothing copied
    for group in (layer.params, layer.grads, layer.get_buffers()):
        assert all(isinstance(a, np.ndarray) for a in group.values())
    net = Sequential(Dense(2, 3), BatchNorm(3)).to("cpu")
    assert all(isinstance(a, np.ndarray) for a in net.params.values())


def test_layer_to_each_device_moves_everything(xp):
    dev = "cpu" if xp is np else "gpu"
    net = Sequential(Dense(2, 3), BatchNorm(3)).to(dev)
    for a in list(net.params.values()) + list(net.grads.values()) + list(net.get_buffers().values()):
        assert get_array_module(a) is xp
    y = net.forward(xp.ones((4, 2), dtype=np.float32))
    assert get_array_module(y) is xp and y.dtype == np.float32
    net.to("cpu")
    assert all(isinstance(a, np.ndarray) for a in net.get_buffers().values())


def test_seeded_generators_repeat(xp):
    a = to_numpy(backend.generator(4, xp).standard_normal(5))
    b = to_numpy(backend.generator(4, xp).standard_normal(5))
    c = to_numpy(backend.generator(5, xp).standard_normal(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_new_seed_draws_from_the_given_generator():
    a = backend.new_seed(np.random.default_rng(1))
    b = backend.new_seed(np.random.default_rng(1))
    assert a == b and isinstance(a, int) and a >= 0


def test_to_numpy_takes_scalars_lists_and_device_arrays(xp):
    assert to_numpy(np.float32(2.5)) == np.float32(2.5) and isinstance(to_numpy(np.float32(2.5)), np.ndarray)
    np.testing.assert_array_equal(to_numpy([1.0, 2.0]), [1.0, 2.0])
    on = xp.asarray(np.arange(3.0))
    np.testing.assert_array_equal(to_numpy([on.sum(), on.max()]), [3.0, 2.0])  # a list of device scalars
    assert isinstance(to_numpy(on), np.ndarray)


def test_to_module_moves_only_when_needed(xp):
    x = np.arange(4.0)
    moved = to_module(x, xp)
    assert get_array_module(moved) is xp
    assert to_module(moved, xp) is moved  # already there: the same object
    assert isinstance(to_module(moved, np), np.ndarray)
