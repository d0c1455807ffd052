"""The main job: ``python -m fastbp.demo`` (or ``make demo``).

Trains a [64, 64, 10] tanh/softmax network on scikit-learn's handwritten
digits (8x8 images that ship inside scikit-learn), prints its test accuracy
and fit time, trains scikit-learn's ``MLPClassifier`` of the same shape with
the same optimizer, batch size and epochs on the same split for comparison,
and saves the loss and accuracy curves as ``digits-loss.png`` when matplotlib
is installed.  Needs the ``demo`` extra: ``pip install ".[demo]"`` in a clone of fastbp.

Both fits are timed warm: each library first fits a throwaway model on a few
rows with the same options, so that numba's compilation (or its loading of
cached kernels), imports and other first-call costs are not counted.  The
first call's time is printed on its own line.
"""
import argparse
import math
import time
import warnings

import numpy as np

import fastbp

BATCH, LR, HIDDEN = 32, 1e-3, 64
# The warm-up fits: enough rows for more than one batch, and a validation split.
WARM_ROWS, WARM_VALIDATION = 2 * BATCH, 16


def comparison(factor):
    """Words for how fastbp's time compares with another library's.

    Parameters
    ----------
    factor : float
        The other library's time divided by fastbp's (above 1: fastbp is faster).

    Returns
    -------
    str
        ``"3.1x faster"`` for ``factor=3.1``, ``"2.0x slower"`` for ``factor=0.5``.

    Raises
    ------
    ValueError
        When ``factor`` is not a positive finite number.
    """
    factor = float(factor)
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"factor: expected a positive finite number, got {factor!r}")
    if factor >= 1:
        return f"{factor:.1f}x faster"
    return f"{1 / factor:.1f}x slower"


def _data():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit('the demo needs scikit-learn: pip install ".[demo]" in a clone of fastbp') from None
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> [0, 1]
    # A fixed split, whatever --seed says, so that every run tests on the same images.
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def _fastbp_fit(X_train, X_test, y_train, y_test, epochs, seed):
    """A new network fitted as the demo fits it; (network, history, wall seconds)."""
    net = fastbp.Network([64, HIDDEN, 10], ["tanh", "softmax"], seed=seed)
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=epochs, batch_size=BATCH,
                      optimizer=fastbp.Adam(LR), loss="cross_entropy", seed=seed,
                      validation_data=(X_test, y_test), progress=False)
    return net, history, time.perf_counter() - start


def _fastbp(X_train, X_test, y_train, y_test, epochs, seed):
    # The warm-up goes through the same fit on a few rows: the same loss,
    # optimizer, batch path and validation pass, so the timed fit finds every
    # kernel it calls compiled or loaded.
    start = time.perf_counter()
    net, _, _ = _fastbp_fit(X_train[:WARM_ROWS], X_test[:WARM_VALIDATION],
                            y_train[:WARM_ROWS], y_test[:WARM_VALIDATION], 1, seed)
    net.score(X_test[:WARM_VALIDATION], y_test[:WARM_VALIDATION])
    first_s = time.perf_counter() - start
    net, history, wall = _fastbp_fit(X_train, X_test, y_train, y_test, epochs, seed)
    return net.score(X_test, y_test), wall, float(np.median(history.time)), first_s, history


def _sklearn_fit(X, y, epochs, seed):
    """A new ``MLPClassifier`` of the demo's network fitted on (X, y); (model, seconds)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    # alpha=0 (fastbp adds no penalty) and no tolerance: exactly ``epochs`` epochs.
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="tanh", solver="adam",
                        learning_rate_init=LR, batch_size=BATCH, max_iter=epochs, alpha=0.0,
                        tol=0.0, n_iter_no_change=epochs + 1, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        clf.fit(X, y)
        wall = time.perf_counter() - start
    return clf, wall


def _sklearn(X_train, X_test, y_train, y_test, epochs, seed):
    # Its own warm-up, as fastbp's: imports and first-call costs are out of both.
    clf, _ = _sklearn_fit(X_train[:WARM_ROWS], y_train[:WARM_ROWS], 1, seed)
    clf.score(X_test[:WARM_VALIDATION], y_test[:WARM_VALIDATION])
    clf, wall = _sklearn_fit(X_train, y_train, epochs, seed)
    return clf.score(X_test, y_test), wall


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def parser():
    """The demo's command line.

    Returns
    -------
    argparse.ArgumentParser
        Parses ``--epochs``, ``--seed``, ``--plot PATH`` and ``--no-plot``.
    """
    p = argparse.ArgumentParser(
        prog="python -m fastbp.demo",
        description="Train a [64, 64, 10] tanh/softmax network on scikit-learn's handwritten "
                    "digits with fastbp and with scikit-learn's MLPClassifier (same network, "
                    "Adam, batch size and epochs, same train/test split), print both test "
                    "accuracies and warm fit times (after a first call that compiles or "
                    "loads fastbp's kernels, timed on its own), and plot fastbp's "
                    "cross-entropy and test accuracy per epoch.",
        epilog='Needs the demo extra: pip install ".[demo]" in a clone of fastbp.')
    p.add_argument("--epochs", type=_positive, default=40, help="epochs of both fits (default 40)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds both networks' initial weights and shuffling (default 0); "
                        "the train/test split is always the same")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--plot", metavar="PATH", default="digits-loss.png",
                       help="where to save the plot, a PNG (default digits-loss.png)")
    where.add_argument("--no-plot", dest="plot", action="store_const", const=None,
                       help="save no plot")
    return p


def main(argv=None):
    """Run the demo.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (``sys.argv[1:]`` when None); see ``parser``.
    """
    args = parser().parse_args(argv)
    epochs, seed = args.epochs, args.seed
    X_train, X_test, y_train, y_test = _data()
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels; "
          f"network [64, {HIDDEN}, 10] tanh/softmax, Adam lr={LR}, batch {BATCH}, "
          f"{epochs} epochs, cross-entropy")
    acc, wall, per_epoch, first_s, history = _fastbp(X_train, X_test, y_train, y_test,
                                                      epochs, seed)
    print(f"fastbp first call (compiling its kernels, or loading them from numba's cache): "
          f"{first_s:.2f} s, not counted in the fit below")
    print(f"fastbp:        test accuracy {acc:.4f}   fit {wall * 1e3:.1f} ms   "
          f"{per_epoch * 1e3:.2f} ms per epoch (median)")
    sk_acc, sk_wall = _sklearn(X_train, X_test, y_train, y_test, epochs, seed)
    print(f"scikit-learn:  test accuracy {sk_acc:.4f}   fit {sk_wall * 1e3:.1f} ms   "
          f"{sk_wall / epochs * 1e3:.2f} ms per epoch (mean)")
    print(f"fastbp's warm fit is {comparison(sk_wall / wall)} than MLPClassifier's "
          "(same network, optimizer, batch size and epochs; fastbp's also evaluates "
          "the test split after every epoch)")
    if args.plot is None:
        return
    try:
        history.plot(args.plot, loss_label="cross-entropy", validation_label="test",
                     title=f"fastbp on digits: [64, {HIDDEN}, 10] tanh/softmax, Adam")
    except ImportError:
        print('(install matplotlib to save the plot: pip install matplotlib)')
    else:
        print(f"cross-entropy and test accuracy per epoch saved to {args.plot}")


if __name__ == "__main__":
    main()
