"""``fit``: whole epochs in compiled calls, with the bookkeeping around them.

Per epoch, Python does only what is per epoch: the learning-rate schedule,
one compiled call that runs every batch (``_kernels.training.epoch``), the
validation pass, early stopping, callbacks and the progress bar.
"""
import time

import numpy as np

from . import _checks, layout, lbfgs, progress
from ._kernels.losses import CROSS_ENTROPY
from .history import History
from .lbfgs import LBFGS
from .optimizers import Adam, Optimizer


def _seed_state(seed):
    """The shuffle generator's state (one uint64) from ``seed``."""
    entropy = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint32)
    return np.array([int(entropy[0]) << 32 | int(entropy[1])], dtype=np.uint64)


def fit(net, engine, X, T, *, epochs, batch_size, optimizer, loss, shuffle, seed,
        validation_data, progress_bar, patience, min_delta, callbacks):
    """``Network.fit`` of ``net``, whose compiled calls ``engine`` makes."""
    # --- everything is checked before anything is touched ---------------
    if not net.params.flags.writeable:
        _checks.read_only_params()
    code = engine.loss_code(loss)
    X, one = _checks.samples(X, net.sizes[0], net.dtype)
    if one:
        raise ValueError(f"X: fit needs a batch of shape (m, {net.sizes[0]}), got a 1-D sample")
    n = X.shape[0]
    target, labels = _checks.targets(T, code, n, False, net.sizes[-1], net.dtype)
    epochs = _checks.count(epochs, "epochs", 0)
    batch_size = min(_checks.count(batch_size, "batch_size", 1), n)
    optimizer = Adam() if optimizer is None else optimizer
    if not isinstance(optimizer, (Optimizer, LBFGS)):
        raise TypeError(f"optimizer: expected a fastbp optimizer such as fastbp.Adam() "
                        f"or fastbp.LBFGS(), got {type(optimizer).__name__}")
    if patience is not None:
        patience = _checks.count(patience, "patience", 1)
    min_delta = _checks.nonnegative_number(min_delta, "min_delta")
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(f"callbacks[{i}]: expected a callable, got {callback!r}")
    validation = None
    if validation_data is not None:
        try:
            Xv, Tv = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data: expected a pair (X_val, T_val)") from None
        Xv, one_v = _checks.samples(Xv, net.sizes[0], net.dtype, "validation_data[0]")
        validation = (Xv,) + _checks.targets(Tv, code, Xv.shape[0], one_v, net.sizes[-1],
                                             net.dtype, "validation_data[1]")
    if isinstance(optimizer, Optimizer):
        optimizer.bind(net.params)  # refuses a state made for another network
    history = History()
    bar = progress.bar(progress_bar, epochs)
    after_epoch = _Bookkeeping(net, engine, code, validation, patience, min_delta, callbacks,
                               history, bar)
    try:
        if isinstance(optimizer, LBFGS):
            lbfgs.run(net, engine, optimizer, code, X, target, labels, epochs, after_epoch)
        else:
            _minibatches(net, engine, optimizer, code, X, target, labels, epochs, batch_size,
                         shuffle, seed, validation is not None, after_epoch)
    except KeyboardInterrupt:
        # Python delivers Ctrl-C between bytecodes, so the compiled epoch has
        # finished: the parameters are those of its last completed step.
        history.interrupted = True
    finally:
        bar.close()
    if after_epoch.best_params is not None and not history.interrupted:
        net.params[...] = after_epoch.best_params
    return history


def _minibatches(net, engine, optimizer, code, X, target, labels, epochs, batch_size, shuffle,
                 seed, validating, after_epoch):
    """The first-order loop: one compiled call per epoch."""
    # --- buffers for the whole run: the steps allocate nothing ------------
    engine.workspace(max(batch_size, layout.CHUNK_ROWS if validating else 1))
    xb = np.empty(batch_size * net.sizes[0], net.dtype)
    tb = target[:0] if labels.size else np.empty((batch_size, net.sizes[-1]), net.dtype)
    lb = np.empty(batch_size, np.int64) if labels.size else labels
    order = np.arange(X.shape[0], dtype=np.int64)
    rng = _seed_state(seed)
    first = optimizer.epoch  # a schedule continues where the optimizer left off
    for epoch in range(epochs):
        optimizer.epoch = first + epoch
        update = optimizer.bind(net.params)
        start = time.perf_counter()
        value = engine.epoch(net.params, code, X, target, labels, batch_size, order, rng,
                             shuffle, (xb, tb, lb), update, epoch)
        elapsed = time.perf_counter() - start
        optimizer.epoch = first + epoch + 1
        if after_epoch(value, elapsed):
            break


class _Bookkeeping:
    """What follows every epoch, whichever loop ran it: history, validation,
    progress, early stopping, callbacks.  Called as ``after_epoch(loss,
    seconds)``, it returns True to stop; ``best_params`` are the parameters
    early stopping would restore."""

    def __init__(self, net, engine, code, validation, patience, min_delta, callbacks, history,
                 bar):
        self.net, self.engine, self.code, self.validation = net, engine, code, validation
        self.patience, self.min_delta, self.callbacks = patience, min_delta, callbacks
        self.history, self.bar = history, bar
        self.best_score, self.best_params, self.waited = np.inf, None, 0

    def __call__(self, value, elapsed):
        net, history = self.net, self.history
        epoch = len(history)
        history.loss.append(value)
        history.time.append(elapsed)
        text = f"loss {value:.4g}"
        score = value
        if self.validation is not None:
            val_loss, correct = self.engine.evaluate(net.params, self.code, *self.validation)
            history.val_loss.append(val_loss)
            text += f"  val_loss {val_loss:.4g}"
            if self.code == CROSS_ENTROPY:
                history.val_accuracy.append(correct / self.validation[0].shape[0])
                text += f"  val_acc {history.val_accuracy[-1]:.4f}"
            score = val_loss
        self.bar.update(text)
        if self.patience is not None:
            if score < self.best_score - self.min_delta:
                self.best_score, self.best_params, self.waited = score, net.params.copy(), 0
                history.best_epoch = epoch
            else:
                self.waited += 1
                if self.waited >= self.patience:
                    history.stopped_early = True
        if any([bool(callback(net, history)) for callback in self.callbacks]):
            return True
        return history.stopped_early
