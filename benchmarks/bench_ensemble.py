"""Many networks in one call: ``Ensemble.fit`` against a loop of ``Network.fit``.

* ``small``: 32 members of [64, 128, 128, 10] tanh/tanh/softmax, float64,
  cross-entropy on labels, batch 32, one epoch of 10,000 samples each;
* ``tiny``: 256 members of [2, 16, 16, 1] tanh/tanh/identity, float64, mse,
  one sample at a time over 1,000 samples (the fused per-sample path).

Plain SGD with a small step, each member with its own shuffle of the same
data.  ``EnsembleFit.time_fit`` takes ``threads`` (numba's threads the members
are spread over: 1, and 2 where two CPUs are usable).  ``EnsembleRatio`` times,
alternately in one process, the same members trained one after the other by
``Network.fit`` on one thread and the ensemble on every usable CPU, and tracks
loop / ensemble (the target: at least 1.8 on two cores for ``small``).  ``python tools/studies/ensemble_speed.py``
adds torch.func and JAX beside them.  Skipped on a fastbp without ``Ensemble``.
"""
import statistics
import time

import numba
import numpy as np

import fastbp

from .common import OnePerProcess, usable_cpus

CASES = {
    "small": dict(sizes=[64, 128, 128, 10], acts=["tanh", "tanh", "softmax"], members=32,
                  n=10_000, batch=32, loss="cross_entropy"),
    "tiny": dict(sizes=[2, 16, 16, 1], acts=["tanh", "tanh", "identity"], members=256,
                 n=1_000, batch=1, loss="mse"),
}
LR = 1e-3
_PREPARED = OnePerProcess()


def _prepared(case):
    """(ensemble, X, T, initial parameters) with the kernels warm."""
    def build():
        if not hasattr(fastbp, "Ensemble"):
            raise NotImplementedError("this fastbp has no Ensemble")
        c = CASES[case]
        rng = np.random.default_rng(0)
        X = rng.standard_normal((c["n"], c["sizes"][0]))
        if c["loss"] == "cross_entropy":
            T = rng.integers(0, c["sizes"][-1], c["n"])
        else:
            T = np.tanh(X.sum(axis=1, keepdims=True))
        ens = fastbp.Ensemble(c["sizes"], c["acts"], c["members"], seed=0)
        initial = ens.params.copy()
        # Compile, or load from the cache, on a few rows; setup puts the
        # parameters back.
        _fit(ens, case, X[:64], T[:64], 1)
        _loop(ens, case, X[:64], T[:64])
        return ens, X, T, initial
    return _PREPARED.get(case, build)


def _fit(ens, case, X, T, threads):
    c = CASES[case]
    ens.fit(X, T, epochs=1, batch_size=c["batch"], loss=c["loss"], optimizer=fastbp.SGD(LR),
            seed=1, threads=threads, progress=False)


def _loop(ens, case, X, T):
    c = CASES[case]
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for i, net in enumerate(ens):
            net.fit(X, T, epochs=1, batch_size=c["batch"], loss=c["loss"],
                    optimizer=fastbp.SGD(LR), seed=i, threads=1, progress=False)
    finally:
        numba.set_num_threads(before)


class EnsembleFit:
    """One epoch of every member in one ``Ensemble.fit`` call."""

    params = [list(CASES), [1, 2]]
    param_names = ["case", "threads"]
    timeout = 300
    number = 1

    def setup(self, case, threads):
        if threads > usable_cpus():
            raise NotImplementedError(f"{threads} threads on {usable_cpus()} CPUs")
        self.ens, self.X, self.T, initial = _prepared(case)
        self.ens.params = initial

    def time_fit(self, case, threads):
        _fit(self.ens, case, self.X, self.T, threads)


class EnsembleRatio:
    """loop / ensemble on every usable CPU, timed alternately in one process."""

    params = [list(CASES)]
    param_names = ["case"]
    timeout = 600
    unit = "ratio"
    ROUNDS = 3

    def setup(self, case):
        self.ens, self.X, self.T, self.initial = _prepared(case)

    def track_loop_over_ensemble(self, case):
        ratios = []
        for _ in range(self.ROUNDS):
            self.ens.params = self.initial
            start = time.perf_counter()
            _loop(self.ens, case, self.X, self.T)
            loop = time.perf_counter() - start
            self.ens.params = self.initial
            start = time.perf_counter()
            _fit(self.ens, case, self.X, self.T, usable_cpus())
            ratios.append(loop / (time.perf_counter() - start))
        return statistics.median(ratios)
