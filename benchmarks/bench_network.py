"""Speed, correctness and compile time of ``Network.forward`` and
``Network.loss_and_gradient`` on the workloads of ``common.WORKLOADS``.

Every kernel is compiled in ``setup`` by one warm-up call, so no timing ever
includes compilation; compilation has a benchmark of its own, run cold in a
fresh interpreter.
"""
import os
import subprocess
import sys
import tempfile

from .common import WORKLOAD_NAMES, problem, reference, relative_error


class Forward:
    """Inference on one batch: validation, the compiled pass, the output copy."""

    params = [WORKLOAD_NAMES]
    param_names = ["workload"]
    # "wide" is ~0.1 s a call; the default 60 s leaves too little room on a
    # busy machine once a cold cache adds compilation to setup.
    timeout = 180

    def setup(self, workload):
        self.net, self.X, _, _ = problem(workload)
        self.net.forward(self.X)

    def time_forward(self, workload):
        self.net.forward(self.X)


class LossAndGradient:
    """One training step's worth of work: forward, loss, backward."""

    params = [WORKLOAD_NAMES]
    param_names = ["workload"]
    timeout = 180

    def setup(self, workload):
        self.net, self.X, self.T, self.loss = problem(workload)
        self.net.loss_and_gradient(self.X, self.T, loss=self.loss)

    def time_loss_and_gradient(self, workload):
        self.net.loss_and_gradient(self.X, self.T, loss=self.loss)


class Correctness:
    """Answers on fixed data, so that a commit that is fast but wrong shows.

    ``track_loss`` is the value itself (it moves when the maths or the seeded
    initialisation changes); the two errors compare with a float64 NumPy
    reference and should stay near 1e-16 (float64) or 1e-7 (float32).
    """

    params = [WORKLOAD_NAMES]
    param_names = ["workload"]
    timeout = 180

    def setup(self, workload):
        self.net, self.X, self.T, self.loss = problem(workload)
        self.out, self.value, self.grad = reference(self.net, self.X, self.T, self.loss)

    def track_loss(self, workload):
        value, _ = self.net.loss_and_gradient(self.X, self.T, loss=self.loss)
        return float(value)

    track_loss.unit = "loss"

    def track_forward_error(self, workload):
        return relative_error(self.net.forward(self.X), self.out)

    track_forward_error.unit = "relative error"

    def track_gradient_error(self, workload):
        _, grad = self.net.loss_and_gradient(self.X, self.T, loss=self.loss)
        return relative_error(grad, self.grad)

    track_gradient_error.unit = "relative error"


# Run in a fresh interpreter: time from the first call into fastbp until both
# public passes are compiled, i.e. what a user waits for on first use.  The
# import (numba itself, ~0.4 s) is left out.
_COLD_START = """
import sys, time
import numpy as np
import fastbp
dtype = np.dtype(sys.argv[1])
start = time.perf_counter()
net = fastbp.Network([4, 8, 3], ["tanh", "softmax"], dtype=dtype, seed=0)
X = np.zeros((2, 4), dtype)
net.forward(X)
net.loss_and_gradient(X, np.array([0, 2]), loss="cross_entropy")
print(time.perf_counter() - start)
"""


class Compile:
    """Cold compilation of every kernel, one dtype at a time (~7 s each today)."""

    params = [["float32", "float64"]]
    param_names = ["dtype"]
    timeout = 300
    _CHILD_TIMEOUT = 240  # seconds; below ``timeout`` so the child's error is what asv reports

    def track_compile_seconds(self, dtype):
        with tempfile.TemporaryDirectory(prefix="fastbp-cold-numba-") as cache:
            # An empty cache directory forces a cold compile; run from inside
            # it so that nothing in the current directory shadows the
            # installed package.
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            done = subprocess.run(
                [sys.executable, "-c", _COLD_START, dtype], cwd=cache, env=env,
                capture_output=True, text=True, timeout=self._CHILD_TIMEOUT)
        if done.returncode != 0:
            raise RuntimeError(
                f"cold-start child failed (exit {done.returncode}):\n{done.stderr}")
        return float(done.stdout.strip().splitlines()[-1])

    track_compile_seconds.unit = "seconds"
