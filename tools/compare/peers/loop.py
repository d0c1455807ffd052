"""Steps and epochs as Python loops around one step function."""


class PythonLoop:
    """``steps`` and ``epoch`` as Python loops calling ``self.step`` on the
    data as ``self.tensors(X, T)`` gives it (the NumPy arrays themselves
    here)."""

    def tensors(self, X, T):
        return X, T

    def steps(self, X, T, k):
        x, t = self.tensors(X, T)
        step = self.step
        for _ in range(k):
            step(x, t)

    def epoch(self, X, T, batch, n):
        Xt, Tt = self.tensors(X, T)
        step = self.step
        for lo in range(0, n, batch):
            hi = min(lo + batch, n)
            step(Xt[lo:hi], Tt[lo:hi])

    def sync(self):
        pass
