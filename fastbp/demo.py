"""The main job: ``python -m fastbp.demo`` (or ``make demo``).

Trains a [64, 64, 10] tanh/softmax network on scikit-learn's handwritten
digits (8x8 images that ship inside scikit-learn), prints its test accuracy
and time per epoch, trains scikit-learn's ``MLPClassifier`` of the same shape
with the same optimizer and epochs on the same split for comparison, and saves
the loss curve as ``digits-loss.png`` when matplotlib is installed.  Needs the
``demo`` extra: ``pip install fastbp[demo]``.
"""
import time
import warnings

import numpy as np

import fastbp

EPOCHS, BATCH, LR, HIDDEN = 40, 32, 1e-3, 64


def _data():
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise SystemExit("the demo needs scikit-learn: pip install 'fastbp[demo]'") from None
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities 0..16 -> [0, 1]
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def _fastbp(X_train, X_test, y_train, y_test):
    net = fastbp.Network([64, HIDDEN, 10], ["tanh", "softmax"], seed=0)
    start = time.perf_counter()
    net.train_step(X_train[:BATCH], y_train[:BATCH], fastbp.Adam(LR), loss="cross_entropy")
    compile_s = time.perf_counter() - start
    net = fastbp.Network([64, HIDDEN, 10], ["tanh", "softmax"], seed=0)
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=EPOCHS, batch_size=BATCH,
                      optimizer=fastbp.Adam(LR), loss="cross_entropy", seed=0,
                      validation_data=(X_test, y_test))
    wall = time.perf_counter() - start
    return net.score(X_test, y_test), wall, np.median(history.time), compile_s, history


def _sklearn(X_train, X_test, y_train, y_test):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="tanh", solver="adam",
                        learning_rate_init=LR, batch_size=BATCH, max_iter=EPOCHS, alpha=0.0,
                        tol=0.0, n_iter_no_change=EPOCHS + 1, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    wall = time.perf_counter() - start
    return clf.score(X_test, y_test), wall


def main():
    X_train, X_test, y_train, y_test = _data()
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 pixels; "
          f"network [64, {HIDDEN}, 10] tanh/softmax, Adam lr={LR}, batch {BATCH}, "
          f"{EPOCHS} epochs, cross-entropy")
    acc, wall, per_epoch, compile_s, history = _fastbp(X_train, X_test, y_train, y_test)
    print(f"fastbp:        test accuracy {acc:.4f}   fit {wall:.3f} s "
          f"({per_epoch * 1e3:.2f} ms per epoch, median; first call incl. compile/cache "
          f"load {compile_s:.2f} s)")
    sk_acc, sk_wall = _sklearn(X_train, X_test, y_train, y_test)
    print(f"scikit-learn:  test accuracy {sk_acc:.4f}   fit {sk_wall:.3f} s "
          f"({sk_wall / EPOCHS * 1e3:.2f} ms per epoch)")
    print(f"fastbp's fit is {sk_wall / wall:.1f}x faster than MLPClassifier's "
          "(same network, optimizer, batch size and epochs)")
    try:
        history.plot("digits-loss.png")
        print("loss curve saved to digits-loss.png")
    except ImportError:
        print("(install matplotlib to save the loss curve)")


if __name__ == "__main__":
    main()
