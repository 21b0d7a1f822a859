"""minigan: Generative Adversarial Networks from scratch, on NumPy (and CuPy)."""

__version__ = "0.1.0"

from .backend import manual_seed  # noqa: E402

__all__ = ["__version__", "manual_seed"]
