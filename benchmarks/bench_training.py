"""Speed and memory of training: ``Network.train_step`` on one batch and a
whole ``fit`` epoch, on the workloads of ``common.WORKLOADS`` in both dtypes;
the step also on one and two BLAS threads.

Both change the network they run on.  So that every timed call does the same
work from the same state, ``setup`` (which the asv runner here repeats before
every timed call) puts the initial parameters back and hands out a new
optimizer; plain SGD with a small step keeps the parameters finite even where
an asv version runs several calls per setup.  Kernels are compiled (or loaded
from numba's cache) by warm-up calls the first time ``setup`` runs in a
process, never inside a timing.
"""
import fastbp

from .common import (DTYPES, LEARNING_RATE, THREADS, WORKLOAD_NAMES, WORKLOADS, OnePerProcess,
                     blas_threads, epoch_problem, fit_epoch, problem, warm_up)

_PREPARED = OnePerProcess()
# fit's warm-up runs on this many batches of the training set: the same
# compiled epoch as a whole epoch, for a fraction of its time.
WARM_UP_BATCHES = 2


def _prepared_step(workload, dtype, options):
    """(net, X, T, loss, initial parameters, optimizer state after the warm-up);
    ``options``: the keyword arguments of every call (``common.blas_threads``)."""
    def build():
        net, X, T, loss = problem(workload, dtype)
        initial = net.params.copy()
        optimizer = fastbp.SGD(lr=WORKLOADS[workload].learning_rate)
        warm_up(lambda: net.train_step(X, T, optimizer, loss=loss, **options))
        # The state arrays as the warm-up left them (all zeros: plain SGD keeps
        # no momentum), with the clocks of an optimizer that has not stepped.
        state = dict(optimizer.state_dict(), steps=0, epoch=0)
        return net, X, T, loss, initial, state
    return _PREPARED.get(("step", workload, dtype, tuple(options.items())), build)


def _prepared_epoch(workload, dtype):
    """(net, X, T, loss, batch size, initial parameters) with fit's kernels warm."""
    def build():
        net, X, T, loss = epoch_problem(workload, dtype)
        initial = net.params.copy()
        batch = WORKLOADS[workload].batch
        head = WARM_UP_BATCHES * batch
        warm_up(lambda: fit_epoch(net, X[:head], T[:head], loss, batch,
                                  fastbp.SGD(lr=WORKLOADS[workload].learning_rate)))
        return net, X, T, loss, batch, initial
    return _PREPARED.get(("epoch", workload, dtype), build)


class TrainStep:
    """One steady-state ``train_step``: forward, backward and SGD update in one call.

    The optimizer is new for every call but already holds its state arrays
    (loaded in ``setup``), as in a training loop after the first step: the
    first step of a new optimizer also allocates them, which at batch 1 would
    cost as much as the step itself.

    ``threads``: the BLAS threads OpenBLAS allows and ``threads=`` bounds the
    products to (``common.blas_threads``).  Only products of at least
    ``SERIAL_BELOW`` multiply-adds take the second (with today's threshold:
    mnist, wide and surrogate); on the others two threads must time as one.
    Two are skipped on one CPU and on a fastbp without ``threads=``.
    """

    params = [WORKLOAD_NAMES, DTYPES, THREADS]
    param_names = ["workload", "dtype", "threads"]
    timeout = 180

    def setup(self, workload, dtype, threads):
        self.options = blas_threads(threads)
        self.net, self.X, self.T, self.loss, initial, state = _prepared_step(
            workload, dtype, self.options)
        self.net.params = initial
        self.optimizer = fastbp.SGD(lr=WORKLOADS[workload].learning_rate)
        self.optimizer.load_state_dict(state)

    def time_train_step(self, workload, dtype, threads):
        self.net.train_step(self.X, self.T, self.optimizer, loss=self.loss, **self.options)


class FitEpoch:
    """One ``fit`` epoch over the workload's training set (``epoch_samples``
    samples, shuffled with seed 0), with a new ``fastbp.SGD``.

    Everything ``fit`` does is timed: checks, the optimizer's state
    allocation, the shuffle and the compiled epoch.  Divide by the number of
    batches for a time per step (tiny: 10,000 steps of one sample).
    """

    params = [WORKLOAD_NAMES, DTYPES]
    param_names = ["workload", "dtype"]
    timeout = 300

    def setup(self, workload, dtype):
        self.net, self.X, self.T, self.loss, self.batch, initial = _prepared_epoch(
            workload, dtype)
        self.net.params = initial
        self.optimizer = fastbp.SGD(lr=WORKLOADS[workload].learning_rate)

    def time_fit(self, workload, dtype):
        fit_epoch(self.net, self.X, self.T, self.loss, self.batch, self.optimizer)


class FitEpochAdam(FitEpoch):
    """``FitEpoch`` with ``fastbp.Adam``, ``fit``'s default optimizer, whose
    update (square roots and divisions per parameter, state kept for a
    rollback) costs several times SGD's: it guards the one-pass update."""

    params = [["small", "mnist"], DTYPES]

    def setup(self, workload, dtype):
        super().setup(workload, dtype)
        self.optimizer = fastbp.Adam(lr=LEARNING_RATE)


class PeakMemFit:
    """Peak memory of a process that runs one ``fit`` epoch.

    asv's ``peakmem_`` is the process's maximum resident set size (Linux
    ``ru_maxrss``) after the call: the high-water mark of everything the
    process ever held, not of ``fit`` alone.  That is the interpreter with
    NumPy, numba and llvmlite, the loaded kernels, the training set (mnist:
    12,800 x 784 inputs, 40 MB in float32, 80 MB in float64; small: 0.8 / 1.6
    MB), the network, and on top what ``fit`` allocates: the optimizer's state
    (SGD's 2 x n_params), a one-batch workspace and batch buffers.  The data are made
    without temporaries (``common.epoch_problem``) and the kernels are compiled
    in ``setup_cache``'s own process, so neither sets the mark: a ``fit``
    that copied X (converting, or shuffling by copy) would raise it by the
    size of X -- plainly on mnist, within the noise on small.
    """

    params = [["small", "mnist"], DTYPES]
    param_names = ["workload", "dtype"]
    timeout = 300

    def setup_cache(self):
        # Compile fit's kernels for both dtypes into numba's on-disk cache
        # (common sets its directory), so the measured processes only load
        # them: an in-process compile takes far more memory than the kernels.
        for dtype in DTYPES:
            net, X, T, loss = problem("small", dtype)
            fit_epoch(net, X, T, loss, 8, fastbp.SGD(lr=LEARNING_RATE))
        # Not None: this asv runner passes a None cache on to nobody, others
        # to every method, so the methods' signatures would depend on it.
        return DTYPES

    def setup(self, _, workload, dtype):
        self.net, self.X, self.T, self.loss, self.batch, initial = _prepared_epoch(
            workload, dtype)
        self.net.params = initial
        self.optimizer = fastbp.SGD(lr=LEARNING_RATE)

    def peakmem_fit(self, _, workload, dtype):
        fit_epoch(self.net, self.X, self.T, self.loss, self.batch, self.optimizer)
