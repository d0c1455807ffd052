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
        return {"loss": list(self.loss), "val_loss": list(self.val_loss),
                "val_accuracy": list(self.val_accuracy), "time": list(self.time)}

    def __repr__(self):
        last = f", last loss {self.loss[-1]:.6g}" if self.loss else ""
        return f"History({len(self)} epochs{last})"

    def plot(self, path=None, ax=None):
        """Draw the loss curves with matplotlib (an optional dependency).

        Saves a PNG to ``path`` when given; returns the matplotlib Axes.
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
        ax.plot(epochs, self.loss, label="training loss")
        if self.val_loss:
            ax.plot(epochs, self.val_loss, label="validation loss")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_yscale("log")
        ax.legend()
        if path is not None:
            ax.figure.tight_layout()
            ax.figure.savefig(path, dpi=120)
        return ax
