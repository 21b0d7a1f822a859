"""The progress bar is tqdm's text bar, also where tqdm.auto would pick a Jupyter widget:
a saved notebook keeps a widget's first state ("0%") but the text bar's final line."""

import sys
import types

import pytest

from minigan.progress import progress_bar


def test_the_bar_is_the_text_bar_even_where_a_widget_is_available(monkeypatch):
    std = pytest.importorskip("tqdm.std")

    class WidgetBar:  # what tqdm.auto gives inside a Jupyter kernel with ipywidgets
        def __init__(self, *args, **kwargs):
            raise AssertionError("progress_bar used tqdm.auto's widget bar")

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = WidgetBar
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    monkeypatch.setitem(sys.modules, "tqdm.autonotebook", fake)
    monkeypatch.setitem(sys.modules, "tqdm.notebook", fake)

    bar = progress_bar(range(3), desc="epoch 1", enabled=False)
    assert isinstance(bar, std.tqdm)
    assert list(bar) == [0, 1, 2]
    bar.close()
