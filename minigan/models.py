"""Ready-made generator/discriminator pairs and the training recipes they come with.

Each builder returns ``(G, D)``: two ``Sequential`` networks. G maps noise
z (N, latent_dim) to samples; D maps samples to ONE LOGIT per example, (N, 1):
the sigmoid lives inside the loss (see ``losses``), where it can be computed stably.
The conditional builders (``conditional_dcgan``, ``conditional_mlp_gan``) return
G(z, y) and D(x, y) instead, networks of two inputs (see ``conditional``).
``recipe(name)`` gives the batch size, optimizer settings and output range that
go with each model.
"""

from dataclasses import dataclass

from .backend import manual_seed
from .conditional import ConditionalDiscriminator, ConditionalGenerator, ConditionalNormGenerator
from .layers import (
    BatchNorm,
    ConditionalBatchNorm,
    Conv2D,
    ConvTranspose2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LeakyReLU,
    Pack,
    ReLU,
    Reshape,
    Sequential,
    Sigmoid,
    Tanh,
)

MODELS = ("mlp", "mlp-classic", "dcgan", "toy", "cdcgan", "cmlp")
CONDITIONAL_MODELS = ("cdcgan", "cmlp")  # G(z, y) and D(x, y): they need labelled data


def mlp_gan(latent_dim=100, hidden=500, variant="improved", image_shape=(1, 28, 28), seed=None):
    """The classic fully connected GAN on 28x28 digits.

    variant="classic" (the well-known Keras tutorial, kept faithful):
        G: Dense(latent, 500) ReLU, Dense(500, 500) ReLU, Dense(500, 784) Sigmoid -> (1, 28, 28) in [0, 1]
        D: Flatten, Dense(784, 500) ReLU, Dense(500, 500) ReLU, Dense(500, 1) -> logit
        trained with L1L2(1e-5, 1e-5) on every kernel and Adam(lr 1e-3), batch 128.
        It COLLAPSES to one digit: the course uses it to show mode collapse.
    variant="improved" (the default) keeps the sizes and changes what matters:
        LeakyReLU(0.2) instead of ReLU, so D and G still pass gradient for negative inputs
        (a dead ReLU in D gives G no signal); Dropout(0.3) after each hidden layer of D,
        so D cannot memorise the data and overpower G; Tanh output in [-1, 1], centred
        like the noise; and the DCGAN optimizer, Adam(lr 2e-4, beta1 0.5), batch 64:
        a smaller step and shorter momentum memory keep the two players from
        overshooting each other. No weight penalty.
    """
    if variant not in ("classic", "improved"):
        raise ValueError(f"mlp_gan: variant must be 'classic' or 'improved', got {variant!r}")
    if seed is not None:
        manual_seed(seed)
    n_pixels = image_shape[0] * image_shape[1] * image_shape[2]
    if variant == "classic":
        G = Sequential(
            Dense(latent_dim, hidden), ReLU(),
            Dense(hidden, hidden), ReLU(),
            Dense(hidden, n_pixels), Sigmoid(),
            Reshape(image_shape),
        )  # fmt: skip
        D = Sequential(
            Flatten(),
            Dense(n_pixels, hidden), ReLU(),
            Dense(hidden, hidden), ReLU(),
            Dense(hidden, 1),
        )  # fmt: skip
        return G, D
    G = Sequential(
        Dense(latent_dim, hidden), LeakyReLU(0.2),
        Dense(hidden, hidden), LeakyReLU(0.2),
        Dense(hidden, n_pixels), Tanh(),
        Reshape(image_shape),
    )  # fmt: skip
    D = Sequential(
        Flatten(),
        Dense(n_pixels, hidden), LeakyReLU(0.2), Dropout(0.3),
        Dense(hidden, hidden), LeakyReLU(0.2), Dropout(0.3),
        Dense(hidden, 1),
    )  # fmt: skip
    return G, D


def dcgan(latent_dim=128, channels=1, seed=None):
    """The classic DCGAN for 28x28 images (the Keras DCGAN example's architecture).

    G: z (N, latent) -> Dense(latent, 7*7*128, no bias) -> BatchNorm -> LeakyReLU(0.2)
       -> Reshape (128, 7, 7)
       -> ConvTranspose2D(128, 64, 5, stride 2, padding 2, output_padding 1, no bias)   (N, 64, 14, 14)
       -> BatchNorm -> LeakyReLU(0.2)
       -> ConvTranspose2D(64, C, 5, stride 2, padding 2, output_padding 1, no bias)     (N, C, 28, 28)
       -> Tanh, images in [-1, 1]
    D: x (N, C, 28, 28) -> Conv2D(C, 64, 5, stride 2, padding 2) (N, 64, 14, 14) -> LeakyReLU(0.2) -> Dropout(0.3)
       -> Conv2D(64, 128, 5, stride 2, padding 2) (N, 128, 7, 7) -> LeakyReLU(0.2) -> Dropout(0.3)
       -> Flatten (N, 6272) -> Dense(6272, 1) -> logit
    No bias before a BatchNorm: BatchNorm subtracts the mean, so a bias there would do nothing.
    """
    if seed is not None:
        manual_seed(seed)
    G = Sequential(
        Dense(latent_dim, 7 * 7 * 128, bias=False), BatchNorm(7 * 7 * 128), LeakyReLU(0.2),
        Reshape((128, 7, 7)),
        ConvTranspose2D(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False), BatchNorm(64), LeakyReLU(0.2),
        ConvTranspose2D(64, channels, 5, stride=2, padding=2, output_padding=1, bias=False), Tanh(),
    )  # fmt: skip
    D = Sequential(
        Conv2D(channels, 64, 5, stride=2, padding=2), LeakyReLU(0.2), Dropout(0.3),
        Conv2D(64, 128, 5, stride=2, padding=2), LeakyReLU(0.2), Dropout(0.3),
        Flatten(), Dense(7 * 7 * 128, 1),
    )  # fmt: skip
    return G, D


def label_plane(num_classes, image_shape):
    """y -> a learned (1, H, W) picture of the label: D's extra input channel."""
    _, h, w = image_shape
    return Sequential(Embedding(num_classes, h * w), Reshape((1, h, w)))  # (N, H*W) -> (N, 1, H, W)


def conditional_dcgan(num_classes=10, latent_dim=128, channels=1, seed=None):
    """The DCGAN above, made to draw the class it is asked for.

    G(z, y): the DCGAN generator with each BatchNorm made a ConditionalBatchNorm(., num_classes):
             z -> Dense(latent, 7*7*128, no bias) -> CBN(y) -> LeakyReLU -> Reshape (128, 7, 7)
             -> ConvTranspose2D(128, 64) -> CBN(y) -> LeakyReLU -> ConvTranspose2D(64, C) -> Tanh
    D(x, y): [x, label plane] (N, C + 1, 28, 28) -> the DCGAN discriminator's convolutions
             -> h (N, 6272) -> Dense(6272, 1)(h) + <Embedding(num_classes, 6272)(y), h>
    In G the label sets a gain and a bias per feature map at both normalised layers;
    z alone feeds the first Dense. (With the label's embedding concatenated to z
    instead, G learned one drawing per class and ignored z: see benchmarks/RESULTS.md.)
    In D the label enters twice: as an extra input channel, so the first convolution
    can compare strokes with the label, and in the projection term, which scores how
    well the final features fit the label. The projection embedding starts small
    (std 1/sqrt(6272)), so <e, h> starts at the size of the other term.
    """
    if seed is not None:
        manual_seed(seed)
    features = 7 * 7 * 128
    G = ConditionalNormGenerator(
        Dense(latent_dim, features, bias=False), ConditionalBatchNorm(features, num_classes), LeakyReLU(0.2),
        Reshape((128, 7, 7)),
        ConvTranspose2D(128, 64, 5, stride=2, padding=2, output_padding=1, bias=False),
        ConditionalBatchNorm(64, num_classes), LeakyReLU(0.2),
        ConvTranspose2D(64, channels, 5, stride=2, padding=2, output_padding=1, bias=False), Tanh(),
    )  # fmt: skip
    D = ConditionalDiscriminator(
        label_plane(num_classes, (channels, 28, 28)),
        Sequential(
            Conv2D(channels + 1, 64, 5, stride=2, padding=2), LeakyReLU(0.2), Dropout(0.3),
            Conv2D(64, 128, 5, stride=2, padding=2), LeakyReLU(0.2), Dropout(0.3),
            Flatten(),
        ),
        Dense(features, 1),
        Embedding(num_classes, features, std=features**-0.5),
    )  # fmt: skip
    return G, D


def conditional_mlp_gan(num_classes=10, latent_dim=100, hidden=500, image_shape=(1, 28, 28), embedding_dim=50,
                        seed=None):  # fmt: skip
    """The improved MLP GAN, conditioned on a class label in the same two places.

    G(z, y): [z, Embedding(num_classes, 50)(y)] -> Dense(latent + 50, 500) LeakyReLU, Dense(500, 500) LeakyReLU,
             Dense(500, 784) Tanh -> (1, 28, 28)
    D(x, y): [x, label plane] (N, C + 1, 28, 28) -> Flatten -> Dense(2*784, 500) LeakyReLU Dropout(0.3),
             Dense(500, 500) LeakyReLU Dropout(0.3) -> h (N, 500) -> Dense(500, 1)(h) + <Embedding(y), h>
    """
    if seed is not None:
        manual_seed(seed)
    c, h, w = image_shape
    n_pixels = c * h * w
    G = ConditionalGenerator(
        Embedding(num_classes, embedding_dim),
        Sequential(
            Dense(latent_dim + embedding_dim, hidden), LeakyReLU(0.2),
            Dense(hidden, hidden), LeakyReLU(0.2),
            Dense(hidden, n_pixels), Tanh(),
            Reshape(image_shape),
        ),
    )  # fmt: skip
    D = ConditionalDiscriminator(
        label_plane(num_classes, image_shape),
        Sequential(
            Flatten(),
            Dense(n_pixels + h * w, hidden), LeakyReLU(0.2), Dropout(0.3),
            Dense(hidden, hidden), LeakyReLU(0.2), Dropout(0.3),
        ),
        Dense(hidden, 1),
        Embedding(num_classes, hidden, std=hidden**-0.5),
    )  # fmt: skip
    return G, D


def toy(latent_dim=2, data_dim=2, hidden=128, dropout=0.0, pack=1, seed=None):
    """Small MLPs for 2-D mixtures (ring8, grid25) and for tables of numbers.

    G: Dense(latent, 128) ReLU, Dense(128, 128) ReLU, Dense(128, 128) ReLU, Dense(128, data_dim)  (linear output)
    D: [Pack(m)] Dense(m*data_dim, 128) LeakyReLU(0.2) [Dropout], twice more Dense(128, 128) LeakyReLU(0.2)
       [Dropout], then Dense(128, 1) -> logit
    Three hidden layers, as in the usual mode-collapse experiments; the output is
    linear because the data is not bounded. ``dropout`` > 0 adds Dropout after each
    hidden layer of D; ``pack`` = m > 1 makes D judge m samples at once (PacGAN).
    """
    if seed is not None:
        manual_seed(seed)
    G = Sequential(
        Dense(latent_dim, hidden), ReLU(),
        Dense(hidden, hidden), ReLU(),
        Dense(hidden, hidden), ReLU(),
        Dense(hidden, data_dim),
    )  # fmt: skip
    d_layers = [Pack(pack)] if pack > 1 else []
    n_in = pack * data_dim
    for _ in range(3):
        d_layers += [Dense(n_in, hidden), LeakyReLU(0.2)] + ([Dropout(dropout)] if dropout > 0 else [])
        n_in = hidden
    D = Sequential(*d_layers, Dense(hidden, 1))
    return G, D


@dataclass
class Recipe:
    """How a model is trained by default (the command line's defaults)."""

    latent_dim: int
    batch_size: int
    lr: float
    beta1: float
    beta2: float = 0.999
    value_range: tuple = (-1.0, 1.0)  # the generator's output range (None: unbounded)
    l1l2: tuple = (0.0, 0.0)  # (l1, l2) penalty on every kernel
    epochs: int = 5


def recipe(model):
    """The default training recipe for ``model`` (one of MODELS)."""
    if model == "mlp":
        return Recipe(latent_dim=100, batch_size=64, lr=2e-4, beta1=0.5, epochs=20)
    if model == "mlp-classic":
        # Keras defaults: Adam(lr 1e-3, beta1 0.9); Sigmoid output in [0, 1]
        return Recipe(latent_dim=100, batch_size=128, lr=1e-3, beta1=0.9, value_range=(0.0, 1.0),
                      l1l2=(1e-5, 1e-5), epochs=20)  # fmt: skip
    if model == "dcgan":
        return Recipe(latent_dim=128, batch_size=64, lr=2e-4, beta1=0.5, epochs=5)
    if model == "toy":
        return Recipe(latent_dim=2, batch_size=128, lr=1e-3, beta1=0.5, value_range=None, epochs=20)
    if model == "cdcgan":
        return Recipe(latent_dim=128, batch_size=64, lr=2e-4, beta1=0.5, epochs=20)
    if model == "cmlp":
        return Recipe(latent_dim=100, batch_size=64, lr=2e-4, beta1=0.5, epochs=20)
    raise ValueError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")


def build(model, latent_dim=None, data_dim=2, channels=1, seed=None, num_classes=10):
    """(G, D) for a model name, with the recipe's latent size unless one is given
    (num_classes: for the conditional models only)."""
    latent_dim = latent_dim or recipe(model).latent_dim
    if model == "cdcgan":
        return conditional_dcgan(num_classes, latent_dim, channels=channels, seed=seed)
    if model == "cmlp":
        return conditional_mlp_gan(num_classes, latent_dim, image_shape=(channels, 28, 28), seed=seed)
    if model == "mlp":
        return mlp_gan(latent_dim, variant="improved", image_shape=(channels, 28, 28), seed=seed)
    if model == "mlp-classic":
        return mlp_gan(latent_dim, variant="classic", image_shape=(channels, 28, 28), seed=seed)
    if model == "dcgan":
        return dcgan(latent_dim, channels=channels, seed=seed)
    if model == "toy":
        return toy(latent_dim, data_dim=data_dim, seed=seed)
    raise ValueError(f"unknown model {model!r}: choose from {', '.join(MODELS)}")
