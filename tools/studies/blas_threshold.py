"""Where should a dense product switch from plain loops to BLAS?  Measures it.

Compiles two variants of each product in ``fastbp._kernels.dense`` -- one that
always loops, one that always calls BLAS -- and times both, interleaved, for
a range of shapes (m samples x n_in -> n_out) in float64 and float32, single
threaded.  The crossover, in multiply-adds per product, is what
``dense.BLAS_MIN`` is set from.

    python tools/studies/blas_threshold.py

It re-executes itself with one thread for OpenBLAS, OpenMP and numba.
"""
import os
import pathlib
import sys
import time
import types

import numpy as np
from numba import njit

from fastbp._kernels import dense

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402


def _variant(function, blas_min):
    """``function`` recompiled with its module's BLAS_MIN replaced."""
    py = function.py_func
    scope = dict(py.__globals__, BLAS_MIN=blas_min)
    return njit(error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})(
        types.FunctionType(py.__code__, scope, py.__name__, py.__defaults__))


def _median_us(call, budget=0.05):
    call()
    times = []
    stop = time.perf_counter() + budget
    while time.perf_counter() < stop or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6


def main():
    loops = _variant(dense.forward, 1 << 62)
    blas = _variant(dense.forward, 0)
    print(f"{'dtype':8} {'m':>4} {'n_in':>5} {'n_out':>5} {'MACs':>9} {'loops us':>9} "
          f"{'BLAS us':>9} {'BLAS speed-up':>13}")
    for dtype in (np.float64, np.float32):
        for m, n_in, n_out in [(1, 16, 16), (1, 64, 64), (4, 32, 32), (8, 32, 32),
                               (16, 32, 32), (8, 64, 64), (32, 32, 32), (16, 64, 64),
                               (32, 64, 64), (32, 64, 128), (32, 128, 128), (128, 256, 128)]:
            rng = np.random.default_rng(0)
            params = rng.normal(size=n_out * n_in + n_out).astype(dtype)
            inp = rng.normal(size=m * n_in).astype(dtype)
            # the output, then the room forward may use for a transposed copy of the input
            pre = np.empty(m * n_out + m * n_in, dtype)
            args = (params, 0, inp, 0, pre, 0, m, n_in, n_out, m * n_out)
            t_loop = t_blas = None
            for _ in range(3):  # interleave, keep the best median of three rounds
                a, b = _median_us(lambda: loops(*args)), _median_us(lambda: blas(*args))
                t_loop = a if t_loop is None else min(t_loop, a)
                t_blas = b if t_blas is None else min(t_blas, b)
            print(f"{np.dtype(dtype).name:8} {m:4} {n_in:5} {n_out:5} {m * n_in * n_out:9} "
                  f"{t_loop:9.2f} {t_blas:9.2f} {t_loop / t_blas:13.2f}")


if __name__ == "__main__":
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        os.environ.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        os.execv(sys.executable, [sys.executable] + sys.argv)
    for line in describe():
        print("#", line)
    main()
