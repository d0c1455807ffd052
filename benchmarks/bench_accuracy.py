"""Test accuracy of a small classifier trained with ``fit``: the end-to-end
check that a commit which makes training fast has not made it wrong.

Same recipe as the demo (``python -m fastbp.demo``): scikit-learn's 8x8
digits, a [64, 64, 10] tanh/softmax network, Adam, 40 epochs, every seed 0.
About 0.97 is right; a drop of more than a point or two is a bug, not noise.
"""
import fastbp

EPOCHS, BATCH, LR, HIDDEN = 40, 32, 1e-3, 64


class DigitsAccuracy:
    # Includes compiling fit's kernels when numba's cache is cold.
    timeout = 300

    def setup(self):
        try:
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split
        except ImportError:
            raise NotImplementedError("needs scikit-learn (pip install 'fastbp[demo]')") from None
        X, y = load_digits(return_X_y=True)
        X = X / 16.0  # pixel intensities 0..16 -> [0, 1]
        self.X_train, self.X_test, self.y_train, self.y_test = train_test_split(
            X, y, test_size=0.25, random_state=0, stratify=y)

    def track_digits_accuracy(self):
        net = fastbp.Network([64, HIDDEN, 10], ["tanh", "softmax"], seed=0)
        net.fit(self.X_train, self.y_train, epochs=EPOCHS, batch_size=BATCH,
                optimizer=fastbp.Adam(lr=LR), loss="cross_entropy", shuffle=True, seed=0,
                progress=False)
        return net.score(self.X_test, self.y_test)

    track_digits_accuracy.unit = "accuracy"
