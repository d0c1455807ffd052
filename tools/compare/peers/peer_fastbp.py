"""fastbp: ``train_step`` for steps, ``fit`` for epochs, plain SGD."""
import fastbp

from compare.workloads import SEED


class Fastbp:
    def __init__(self, sizes, acts, dtype, lr):
        self.net = fastbp.Network(sizes, acts, dtype=dtype, seed=SEED)
        self.opt = fastbp.SGD(lr=lr)
        self.fit_seconds = []  # the compiled epoch alone (history.time) of each fit

    def reset(self, params):
        for (w, b), (w0, b0) in zip(zip(self.net.weights, self.net.biases), params):
            w[...] = w0
            b[...] = b0

    def steps(self, X, T, k):
        step, opt = self.net.train_step, self.opt
        for _ in range(k):
            step(X, T, opt, loss="sse")

    def epoch(self, X, T, batch, n):
        history = self.net.fit(X[:n], T[:n], epochs=1, batch_size=batch,
                               optimizer=self.opt, loss="sse", shuffle=False,
                               progress=False)
        self.fit_seconds.append(history.time[0])

    def sync(self):
        pass

    def params(self):
        return [(w.copy(), b.copy()) for w, b in zip(self.net.weights, self.net.biases)]
