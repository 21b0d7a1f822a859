"""PacGAN's Pack layer: m examples judged as one."""

import numpy as np
import pytest

from minigan.backend import to_numpy
from minigan.gradcheck import check_layer
from minigan.layers import Dense, Pack, Sequential


def test_packs_consecutive_examples(xp):
    x = xp.arange(12.0).reshape(6, 2)
    y = Pack(3).forward(x)
    assert y.shape == (2, 6)
    np.testing.assert_array_equal(to_numpy(y), np.arange(12.0).reshape(2, 6))


def test_images_stack_as_channels():
    x = np.random.default_rng(0).standard_normal((4, 1, 3, 3))
    y = Pack(2).forward(x)
    assert y.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(y[1, 0], x[2, 0])
    np.testing.assert_array_equal(y[1, 1], x[3, 0])


def test_gradients(xp):
    net = Sequential(Pack(2), Dense(6, 1)).to("cpu" if xp is np else "gpu")  # the layers on the input's device
    assert check_layer(net, xp.asarray(np.random.default_rng(1).standard_normal((4, 3)))).ok


def test_bad_input():
    with pytest.raises(ValueError, match=r"Pack\(3\).*multiple of 3.*\(4, 2\)"):
        Pack(3).forward(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="m must be"):
        Pack(0)
