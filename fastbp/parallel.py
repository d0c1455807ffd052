"""Data-parallel epochs: every batch split between threads (``fit(threads=...)``).

Each thread runs ``_kernels.training.epoch_part`` over the whole epoch with
buffers of its own; they meet inside the compiled code three times a batch
(see ``_kernels.sync``).  The BLAS products inside are limited to one thread
each for the epoch: two threads calling a multi-threaded OpenBLAS at once
took 3.7x the time of one (mnist, ``OPENBLAS_NUM_THREADS=2``), where with one
BLAS thread each they took 0.57x.
"""
import os
import threading

import numpy as np
from threadpoolctl import ThreadpoolController

from ._kernels import passes, sync
from ._kernels import status as _status


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class _OneBlasThread:
    """The BLAS limited to one thread while any split epoch runs.

    The limit is the process's, so overlapping epochs (fits in several
    threads) share one: the first to enter sets it, the last to leave puts
    the libraries' own counts back.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._inside = 0
        self._limit = None

    def __enter__(self):
        with self._lock:
            if self._inside == 0:
                # The BLAS numba's np.dot calls, loaded first so that threadpoolctl
                # sees it: numba loads it only when a kernel first multiplies.
                # Not at import: it imports scipy.linalg (0.2 s of every start).
                import scipy.linalg.cython_blas  # noqa: F401
                self._limit = ThreadpoolController().limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc):
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limit.restore_original_limits()
                self._limit = None


_ONE_BLAS_THREAD = _OneBlasThread()


class Parts:
    """Buffers for ``threads`` parts of batches of up to ``batch_size`` rows."""

    def __init__(self, net, threads, batch_size, labels):
        rows = -(-batch_size // threads)
        length = passes.grad_room(net.params.size) + rows * (2 * net._units + 2 * net._widest)
        length = -(-length // passes.GRAD_ALIGN) * passes.GRAD_ALIGN  # rows stay aligned
        self.works = np.empty((threads, length), net.dtype)
        self.xbs = np.empty((threads, rows * net.sizes[0]), net.dtype)
        self.tbs = np.empty((threads, 0 if labels.size else rows, net.sizes[-1]), net.dtype)
        self.lbs = np.empty((threads, rows if labels.size else 0), np.int64)
        self.values = np.zeros(threads)

    def epoch(self, kernel, params, layers, code, X, target, labels, batch_size, order, rng,
              shuffle, kind, hyper, state):
        """One epoch: (loss, batches done, status), as ``epoch`` returns them."""
        threads = self.works.shape[0]
        meeting = np.zeros(sync.SIZE, np.int64)
        results, errors = [None] * threads, []

        def run(part):
            try:
                results[part] = kernel(part, meeting, self.values, params, layers, code, X,
                                       target, labels, batch_size, order, rng, shuffle,
                                       self.xbs, self.tbs, self.lbs, self.works, kind, hyper,
                                       state)
            except BaseException as error:  # the others must not wait for this one
                meeting[sync.ABORT] = 1
                errors.append(error)

        helpers = [threading.Thread(target=run, args=(part,), daemon=True)
                   for part in range(1, threads)]
        with _ONE_BLAS_THREAD:
            try:
                for helper in helpers:
                    helper.start()
                run(0)
            finally:
                # Whatever stopped us (a helper that could not start, Ctrl-C),
                # the helpers that did start must not wait for the rest.
                if meeting[sync.ABORT] == 0 and results[0] is None:
                    meeting[sync.ABORT] = 1
                for helper in helpers:
                    if helper.ident is not None:
                        helper.join()
        if errors:
            raise errors[0]
        if results[0][2] == _status.ABANDONED:  # pragma: no cover - ABORT comes with an error
            raise RuntimeError("a thread of the split epoch stopped without an error")
        return results[0]
