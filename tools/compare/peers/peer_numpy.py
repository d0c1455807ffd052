"""The derivation written plainly in NumPy, for speed, in the workload's dtype.

A timed peer, and the reference of the epoch check (its loop in the same
dtype).  The step check's reference is ``fastbp.testing``, written for
reading, not this.
"""
import numpy as np

from compare.peers.loop import PythonLoop


class Numpy(PythonLoop):
    def __init__(self, sizes, acts, dtype, lr):
        self.acts, self.lr = acts, lr

    def reset(self, params):
        self.W = [w.copy() for w, _ in params]
        self.b = [b.copy() for _, b in params]

    def step(self, x, t):
        W, b, acts, lr = self.W, self.b, self.acts, self.lr
        outs = [x]
        for i, act in enumerate(acts):
            z = outs[-1] @ W[i].T
            z += b[i]
            if act == "tanh":
                np.tanh(z, out=z)
            elif act == "softmax":
                z -= z.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
            outs.append(z)
        g = 2 * (outs[-1] - t)  # dL/dY of the sum of squared errors
        for i in range(len(acts) - 1, -1, -1):
            y = outs[i + 1]
            if acts[i] == "tanh":
                g *= 1 - y * y
            elif acts[i] == "softmax":
                g = y * (g - (g * y).sum(axis=1, keepdims=True))
            gW = g.T @ outs[i]
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ W[i]
            W[i] -= lr * gW
            b[i] -= lr * gb

    def params(self):
        return [(w.copy(), b.copy()) for w, b in zip(self.W, self.b)]
