"""plot_history's legend names what the GAN generates: notebook 01 trains on 1-D numbers."""

from minigan.viz import plot_history

HISTORY = {"d_loss": [1.0, 0.9, 0.8], "g_loss": [0.7, 0.8, 0.9], "d_real": [0.6, 0.6, 0.5], "d_fake": [0.4, 0.4, 0.5]}


def _legend_texts(fig):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_the_legend_says_images_by_default():
    texts = _legend_texts(plot_history(HISTORY))
    assert "D(x): score on real images" in texts
    assert "D(G(z)): score on generated images" in texts


def test_the_legend_says_what_the_samples_are():
    texts = _legend_texts(plot_history(HISTORY, samples="numbers"))
    assert "D(x): score on real numbers" in texts
    assert "D(G(z)): score on generated numbers" in texts
    assert not any("images" in t for t in texts)
