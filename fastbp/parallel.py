"""Data-parallel epochs: every batch split between threads (``fit(threads=...)``).

Each thread runs ``_kernels.training.epoch_part`` over the whole epoch with
buffers of its own; they meet inside the compiled code twice a batch (see
``_kernels.sync``).  The BLAS products inside are limited to one thread each
for the epoch: two threads calling a multi-threaded OpenBLAS at once took
3.7x the time of one (mnist, ``OPENBLAS_NUM_THREADS=2``), where one thread per
half-batch took 0.57x.
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
        self._blas = ThreadpoolController()

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
        started = []
        with self._blas.limit(limits=1, user_api="blas"):
            try:
                for helper in helpers:
                    helper.start()
                    started.append(helper)
                run(0)
            finally:
                if len(started) < len(helpers):  # those started must not wait forever
                    meeting[sync.ABORT] = 1
                for helper in started:
                    helper.join()
        if errors:
            raise errors[0]
        return results[0]
