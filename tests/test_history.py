"""``History.plot``: what it draws and how it labels it."""
import sys

import numpy as np
import pytest

import fastbp
from fastbp.history import History

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def history(loss, val_loss=(), val_accuracy=()):
    h = History()
    h.loss, h.val_loss, h.val_accuracy = list(loss), list(val_loss), list(val_accuracy)
    h.time = [1e-3] * len(h.loss)
    return h


def legend(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_labels_name_the_loss_and_the_validation_data_and_accuracy_has_its_own_axis(
        plt, tmp_path):
    h = history([2.0, 0.5, 0.25], [2.2, 0.7, 0.4], [0.3, 0.8, 0.9])
    path = tmp_path / "curves.png"
    ax = h.plot(path, loss_label="cross-entropy", validation_label="test", title="digits")
    assert path.read_bytes()[:8] == PNG
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == ("epoch", "cross-entropy",
                                                                   "log")
    assert ax.get_title() == "digits"
    assert legend(ax) == ["training cross-entropy", "test cross-entropy", "test accuracy"]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [h.loss, h.val_loss]
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    loss_axes, accuracy_axes = ax.figure.axes
    assert loss_axes is ax
    assert accuracy_axes.get_ylabel() == "test accuracy"
    assert accuracy_axes.get_yscale() == "linear"
    assert accuracy_axes.get_ylim() == (0.0, 1.0)
    (line,) = accuracy_axes.get_lines()
    assert list(line.get_ydata()) == h.val_accuracy
    # Three curves, three colours.
    colours = {c.get_color() for c in ax.get_lines() + accuracy_axes.get_lines()}
    assert len(colours) == 3


def test_without_accuracy_one_axis_and_the_default_labels(plt, tmp_path):
    h = history([1.0, 0.5], [1.5, 0.9])  # as fit records for "mse" with validation data
    path = tmp_path / "curves.png"
    ax = h.plot(path)
    assert path.read_bytes()[:8] == PNG
    assert ax.figure.axes == [ax]
    assert (ax.get_ylabel(), ax.get_yscale()) == ("loss", "log")
    assert legend(ax) == ["training loss", "validation loss"]
    assert ax.get_title() == ""


def test_training_loss_only(plt):
    ax = history([3.0, 2.0, 1.0]).plot()
    assert legend(ax) == ["training loss"]
    assert ax.figure.axes == [ax]


def test_accuracy_false_leaves_the_accuracy_out(plt):
    ax = history([2.0, 1.0], [2.5, 1.5], [0.5, 0.6]).plot(accuracy=False)
    assert ax.figure.axes == [ax]
    assert legend(ax) == ["training loss", "validation loss"]


def test_draws_into_the_axes_it_is_given(plt):
    fig, (left, right) = plt.subplots(1, 2)
    ax = history([2.0, 1.0], [2.5, 1.5], [0.5, 0.6]).plot(ax=right, validation_label="held out")
    assert ax is right
    assert len(left.get_lines()) == 0 and len(right.get_lines()) == 2
    assert fig.axes[-1].get_ylabel() == "held out accuracy"
    assert legend(right) == ["training loss", "held out loss", "held out accuracy"]


def test_a_fit_with_validation_is_plotted_with_its_accuracy(plt, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    net = fastbp.Network([4, 6, 3], ["tanh", "softmax"], seed=0)
    h = net.fit(X[:40], y[:40], epochs=3, batch_size=8, loss="cross_entropy", seed=0,
                validation_data=(X[40:], y[40:]), progress=False)
    ax = h.plot(tmp_path / "fit.png", loss_label="cross-entropy")
    accuracy_axes = ax.figure.axes[-1]
    (line,) = accuracy_axes.get_lines()
    assert list(line.get_ydata()) == h.val_accuracy and len(h.val_accuracy) == 3
    assert legend(ax) == ["training cross-entropy", "validation cross-entropy",
                          "validation accuracy"]


def test_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    with pytest.raises(ImportError, match="pip install matplotlib"):
        history([1.0]).plot()
