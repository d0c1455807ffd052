"""``History``: what ``Network.fit`` returns, one entry per completed epoch."""
import numpy as np


class History:
    """Per-epoch records of a training run.

    Attributes
    ----------
    loss : list of float
        Training loss of each epoch, in the loss's own convention (summed for
        "sse", a mean for "mse" and "cross_entropy"), accumulated over the
        epoch's batches as the parameters changed.
    val_loss, val_accuracy : list of float
        On ``validation_data`` after each epoch (accuracy for cross_entropy only).
    time : list of float
        Wall seconds of each epoch's compiled training call.
    best_epoch : int or None
        The epoch whose parameters early stopping restored.
    stopped_early, interrupted : bool
        Why training ended before ``epochs``: patience ran out, or Ctrl-C.
    """

    def __init__(self):
        self.loss, self.val_loss, self.val_accuracy, self.time = [], [], [], []
        self.best_epoch = None
        self.stopped_early = False
        self.interrupted = False

    def __len__(self):
        return len(self.loss)

    def as_dict(self):
        """The per-epoch lists as a dict of plain lists (JSON-ready)."""
        return {"loss": list(self.loss), "val_loss": list(self.val_loss),
                "val_accuracy": list(self.val_accuracy), "time": list(self.time)}

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"History({len(self)} epochs{last})"

    def plot(self, path=None, ax=None, *, loss_label="loss", validation_label="validation",
             accuracy=True, title=None):
        """Draw the loss curves, and the validation accuracy, with matplotlib.

        matplotlib is an optional dependency.  The losses share a log scale;
        the validation accuracy, when it was recorded (``fit`` with
        ``validation_data`` and ``loss="cross_entropy"``), is drawn on a second
        y axis from 0 to 1 on the right (``ax.figure.axes[-1]``).

        Parameters
        ----------
        path : str or path-like, optional
            Save the figure there as a PNG.
        ax : matplotlib Axes, optional
            Draw into it; a new 6x4 inch figure when None.
        loss_label : str
            Name of the loss, for the y axis and the legend: ``"cross-entropy"``
            rather than ``"loss"`` says what was minimised.
        validation_label : str
            Name of the data ``fit`` validated on (``"test"`` if that was the
            test split), for the legend.
        accuracy : bool
            Draw the validation accuracy when it was recorded.
        title : str, optional
            The Axes' title.

        Returns
        -------
        matplotlib Axes
            The Axes of the losses.

        Raises
        ------
        ImportError
            When matplotlib is not installed.
        """
        try:
            import matplotlib
            if ax is None and path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib") from None
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        epochs = np.arange(1, len(self) + 1)
        lines = ax.plot(epochs, self.loss, label=f"training {loss_label}")
        if self.val_loss:
            lines += ax.plot(epochs, self.val_loss, label=f"{validation_label} {loss_label}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(loss_label)
        ax.set_yscale("log")
        if accuracy and self.val_accuracy:
            right = ax.twinx()
            # The next colour of ax's cycle, so that no two curves share one.
            lines += right.plot(epochs, self.val_accuracy, color=f"C{len(lines)}",
                                linestyle="--", label=f"{validation_label} accuracy")
            right.set_ylabel(f"{validation_label} accuracy")
            right.set_ylim(0.0, 1.0)
        if title is not None:
            ax.set_title(title)
        # One legend for both axes, on the loss axes.
        ax.legend(lines, [line.get_label() for line in lines], loc="center right")
        if path is not None:
            ax.figure.tight_layout()
            ax.figure.savefig(path, dpi=120)
        return ax
