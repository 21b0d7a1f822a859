"""`minigan gradcheck [NAME ...]`: a table of every layer's gradient errors."""

from minigan import gradcheck, layers
from minigan.cli import main

BUILTIN = ["BatchNorm", "Concat", "ConditionalBatchNorm", "Conv2D", "ConvTranspose2D", "Dense", "Dropout", "Embedding", "Flatten",
           "LeakyReLU", "ReLU", "Pack", "Projection", "Reshape", "Sequential", "Sigmoid", "Tanh"]  # fmt: skip


def table_names(out):
    """The layer names in the table's first column."""
    lines = out.split("\n\n")[0].splitlines()
    return {line.split()[0] for line in lines[1:]}


def test_gradcheck_checks_every_builtin_layer(capsys):
    assert main(["gradcheck"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split()[:3] == ["layer", "mode", "grad"]
    assert table_names(out) == set(BUILTIN)
    assert " NO" not in out
    n = sum(1 for line in out.splitlines() if line.endswith("yes"))
    assert f"{n} of {n} gradients agree" in out
    assert err == ""


def test_every_exported_layer_is_in_the_check():
    """A new layer class must come with a gradcheck case."""
    exported = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)} - {"Layer"}
    assert exported == set(BUILTIN) == set(gradcheck.builtin_names())


def test_gradcheck_one_layer(capsys):
    assert main(["gradcheck", "Dense"]) == 0
    out, _ = capsys.readouterr()
    assert table_names(out) == {"Dense"}
    assert "3 of 3 gradients agree" in out  # x, W, b


def test_gradcheck_names_ignore_case(capsys):
    assert main(["gradcheck", "batchnorm", "TANH"]) == 0
    assert table_names(capsys.readouterr().out) == {"BatchNorm", "Tanh"}


def test_unknown_layer_is_a_clear_error_without_traceback(capsys):
    assert main(["gradcheck", "Dens"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "unknown layer Dens" in err and "choose from" in err and "Dense" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_wrong_backward_makes_gradcheck_fail(capsys, monkeypatch):
    class BrokenTanh(layers.Tanh):
        def backward(self, dout, param_grads=True):
            return dout * (1 - self.y)  # should be 1 - y**2

    monkeypatch.setattr(gradcheck, "builtin_cases", lambda: [("Tanh", "broken", BrokenTanh(), (4, 5))])
    assert main(["gradcheck", "Tanh"]) == 1
    out, _ = capsys.readouterr()
    assert "NO" in out and "0 of 1 gradients agree" in out


def test_seed_option(capsys):
    assert main(["gradcheck", "Sigmoid", "--seed", "3"]) == 0
    assert "1 of 1 gradients agree" in capsys.readouterr().out
