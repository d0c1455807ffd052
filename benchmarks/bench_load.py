"""Training on a loaded machine: the same ``fit`` with no other load of the
benchmark's own (``load="idle"``) and with a process spinning on one CPU
(``"busy"``), at default settings: no ``threads=``, and OpenBLAS allowed every
CPU the process may use, as on a user's machine.

What it shows is busy/idle, the cost of sharing the machine: the two cells of
``Load.time_fit``, or ``LoadRatio.track_busy_over_idle`` timed side by side in
one process (trust the second more: the machine drifts between processes).
A product split over two threads waits for the one that shares its core with
the spinner, for a scheduler slice or more; the target is a ratio of at most
1.5.  Cases:

* ``small``: one ``fit`` epoch of the small workload (3,200 samples, batch 32,
  cross-entropy, plain SGD);
* ``lbfgs``: the README's regression by L-BFGS, 100 iterations (the README
  runs up to 500) from the same initial network every time.

"busy" is skipped on fewer than two CPUs.  The count is raised by
``blas.set_threads`` where fastbp has it and by threadpoolctl (scikit-learn's
dependency) for every BLAS loaded; a fastbp without the first in an
environment without the second keeps one thread.
"""
import atexit
import statistics
import subprocess
import sys
import time

import numpy as np

import fastbp

from .common import (LEARNING_RATE, WORKLOADS, OnePerProcess, allow_blas_threads, epoch_problem,
                     usable_cpus, warm_up)

CASES = ["small", "lbfgs"]
TIMEOUT = 180  # seconds; a spinner also stops after this long, whatever happens

# Spins until killed, its parent is gone (it then has another) or the time
# is up, so that no failure of the benchmark can leave it running.
_SPIN = """
import os, sys, time
parent, end = os.getppid(), time.monotonic() + float(sys.argv[1])
print("spinning", flush=True)
while os.getppid() == parent and time.monotonic() < end:
    for _ in range(100_000):
        pass
"""
_SPINNERS = set()


def start_spinner():
    """A new process that keeps one CPU busy; returns once it spins."""
    spinner = subprocess.Popen([sys.executable, "-I", "-S", "-c", _SPIN, str(TIMEOUT)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    _SPINNERS.add(spinner)
    if spinner.stdout.readline().strip() != "spinning":
        stop_spinner(spinner)
        raise RuntimeError("the spinner process did not start")
    return spinner


def stop_spinner(spinner):
    spinner.kill()
    spinner.wait()
    spinner.stdout.close()
    _SPINNERS.discard(spinner)


@atexit.register
def _stop_every_spinner():
    for spinner in list(_SPINNERS):
        stop_spinner(spinner)


def _allow_every_cpu():
    """Every BLAS's count raised from common's one to every usable CPU."""
    allow_blas_threads(usable_cpus())
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    # Sets the libraries loaded so far (SciPy's too), hence after a first call.
    threadpool_limits(usable_cpus(), user_api="blas")


def _problem(case):
    """(net, X, T, new optimizer, fit's keyword arguments)."""
    if case == "small":
        net, X, T, loss = epoch_problem("small")
        return net, X, T, lambda: fastbp.SGD(lr=LEARNING_RATE), dict(
            epochs=1, batch_size=WORKLOADS["small"].batch, loss=loss, shuffle=True, seed=0)
    if not hasattr(fastbp, "LBFGS"):
        raise NotImplementedError("this fastbp has no LBFGS")
    x = np.linspace(-3, 3, 2000).reshape(-1, 1)
    t = np.sin(2 * x) * np.exp(-x**2 / 4)
    net = fastbp.Network([1, 32, 32, 1], ["tanh", "tanh", "identity"], seed=0)
    return net, x, t, fastbp.LBFGS, dict(epochs=100, loss="mse")


_PREPARED = OnePerProcess()


class _Fit:
    """One ``fit`` of a case from its initial parameters, kernels warm."""

    def __init__(self, case):
        self.net, self.X, self.T, self.optimizer, self.options = _problem(case)
        self.initial = self.net.params.copy()
        self.run()  # loads the kernels and, through them, the BLAS libraries
        _allow_every_cpu()
        warm_up(self.run, calls=4)

    def reset(self):
        """The initial parameters and a new optimizer, for the next ``run``."""
        self.net.params = self.initial
        self.fresh = self.optimizer()

    def run(self):
        self.reset()
        self.timed()

    def timed(self):
        self.net.fit(self.X, self.T, optimizer=self.fresh, progress=False, **self.options)


def _prepared(case):
    return _PREPARED.get(case, lambda: _Fit(case))


def _need_two_cpus():
    if usable_cpus() < 2:
        raise NotImplementedError("a busy CPU beside the benchmark needs two usable CPUs; "
                                  f"this process may use {usable_cpus()}")


class Load:
    """One ``fit`` of ``case`` with the machine idle or one CPU busy."""

    params = [["idle", "busy"], CASES]
    param_names = ["load", "case"]
    number = 1  # each timed call from the initial state setup restores
    timeout = TIMEOUT

    def setup(self, load, case):
        self.spinner = None
        if load == "busy":
            _need_two_cpus()
        self.fit = _prepared(case)
        self.fit.reset()
        if load == "busy":  # last: a setup that fails after it would leave it to atexit
            self.spinner = start_spinner()

    def teardown(self, load, case):
        if self.spinner is not None:
            stop_spinner(self.spinner)
            self.spinner = None

    def time_fit(self, load, case):
        self.fit.timed()


class LoadRatio:
    """Busy over idle median time of ``case``, timed alternately in one process."""

    params = [CASES]
    param_names = ["case"]
    timeout = TIMEOUT
    ROUNDS = 5

    def setup(self, case):
        _need_two_cpus()
        self.fit = _prepared(case)

    def _seconds(self, busy):
        self.fit.reset()
        spinner = start_spinner() if busy else None
        try:
            start = time.perf_counter()
            self.fit.timed()
            return time.perf_counter() - start
        finally:
            if spinner is not None:
                stop_spinner(spinner)

    def track_busy_over_idle(self, case):
        times = {False: [], True: []}
        for round_ in range(self.ROUNDS):
            for busy in (round_ % 2 == 0, round_ % 2 == 1):  # each first in turn
                times[busy].append(self._seconds(busy))
        return statistics.median(times[True]) / statistics.median(times[False])

    track_busy_over_idle.unit = "busy/idle"
