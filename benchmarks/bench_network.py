"""Speed and correctness of ``Network.forward`` and ``Network.loss_and_gradient``
on the workloads of ``common.NETWORK_WORKLOADS``, in both dtypes; the gradient,
a step's work, also on one and two BLAS threads.

Every kernel is compiled (or loaded from numba's cache) in ``setup`` by warm-up
calls, so no timing ever includes compilation; compilation has benchmarks of
its own in ``bench_startup``.
"""
from .common import (DTYPES, NETWORK_WORKLOADS, THREADS, OnePerProcess, blas_threads, problem,
                     testing, warm_up)

_PREPARED = OnePerProcess()


def _prepared(kind, workload, dtype, options=None):
    """(net, X, T, loss) for ``workload`` with ``kind``'s kernels warm;
    ``options``: the keyword arguments of the gradient's calls."""
    options = options or {}

    def build():
        net, X, T, loss = problem(workload, dtype)
        if kind == "forward":
            warm_up(lambda: net.forward(X))
        else:
            warm_up(lambda: net.loss_and_gradient(X, T, loss=loss, **options))
        return net, X, T, loss
    return _PREPARED.get((kind, workload, dtype, tuple(options.items())), build)


class Forward:
    """Inference on one batch: validation, the compiled pass, the output copy."""

    params = [NETWORK_WORKLOADS, DTYPES]
    param_names = ["workload", "dtype"]
    # "wide" in float64 is tenths of a second a call; the default 60 s leaves
    # too little room on a busy machine once a cold cache adds compilation.
    timeout = 180

    def setup(self, workload, dtype):
        self.net, self.X, _, _ = _prepared("forward", workload, dtype)

    def time_forward(self, workload, dtype):
        self.net.forward(self.X)


class LossAndGradient:
    """One training step's worth of work without the update: forward, loss,
    backward.  ``threads`` as in ``bench_training.TrainStep``."""

    params = [NETWORK_WORKLOADS, DTYPES, THREADS]
    param_names = ["workload", "dtype", "threads"]
    timeout = 180

    def setup(self, workload, dtype, threads):
        self.options = blas_threads(threads)
        self.net, self.X, self.T, self.loss = _prepared("gradient", workload, dtype,
                                                        self.options)

    def time_loss_and_gradient(self, workload, dtype, threads):
        self.net.loss_and_gradient(self.X, self.T, loss=self.loss, **self.options)


class Correctness:
    """Answers on fixed data, so that a commit that is fast but wrong shows.

    ``track_loss`` is the value itself (it moves when the maths or the seeded
    initialisation changes); the two errors compare with the float64 NumPy
    reference (``fastbp.testing``) and should stay near 1e-16 (float64) or
    1e-7 (float32).
    """

    params = [NETWORK_WORKLOADS, DTYPES]
    param_names = ["workload", "dtype"]
    timeout = 180

    def setup(self, workload, dtype):
        self.net, self.X, self.T, self.loss = problem(workload, dtype)
        self.out, self.value, self.grad = testing.outputs_loss_and_gradient(
            self.net, self.X, self.T, self.loss)

    def track_loss(self, workload, dtype):
        value, _ = self.net.loss_and_gradient(self.X, self.T, loss=self.loss)
        return float(value)

    track_loss.unit = "loss"

    def track_forward_error(self, workload, dtype):
        return testing.max_relative_error(self.net.forward(self.X), self.out)

    track_forward_error.unit = "relative error"

    def track_gradient_error(self, workload, dtype):
        _, grad = self.net.loss_and_gradient(self.X, self.T, loss=self.loss)
        return testing.max_relative_error(grad, self.grad)

    track_gradient_error.unit = "relative error"
