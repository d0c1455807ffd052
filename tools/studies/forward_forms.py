"""Which BLAS form of the forward product is faster: the study behind
``fastbp._kernels.dense.transposed_input``.

The forward product X = Y A^T (Y: m x n_in samples, A: n_out x n_in weights,
both C order) reaches a column-major BLAS as "TN".  OpenBLAS runs TN outside
its small-matrix kernels; transposing Y into a scratch buffer first makes the
product "TT", which they take.  For each (m, n_in, n_out) this prints the time
of transpose + TT over the time of TN, both in compiled loops, medians of 5
side-by-side runs (below 1: the transpose pays).

    OPENBLAS_NUM_THREADS=1 python tools/studies/forward_forms.py
"""
import pathlib
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

SHAPES = [(16, 16), (64, 16), (16, 64), (64, 64), (64, 128), (128, 128), (256, 256), (64, 512),
          (512, 64), (784, 256), (128, 10)]
BATCHES = [4, 16, 32, 64, 128]


@njit(nogil=True)
def _tn(Y, A, X, n):
    for _ in range(n):
        np.dot(Y, A.T, X)


@njit(nogil=True)
def _transpose_tt(Y, Yt, A, X, n):
    m, k = Y.shape
    for _ in range(n):
        for j in range(k):
            for i in range(m):
                Yt[j, i] = Y[i, j]
        np.dot(Yt.T, A.T, X)


def ratio(m, n_in, n_out, dtype, rng):
    Y = rng.standard_normal((m, n_in)).astype(dtype)
    A = rng.standard_normal((n_out, n_in)).astype(dtype)
    Yt, X = np.empty((n_in, m), dtype), np.empty((m, n_out), dtype)
    n = max(5, int(3e7 / (m * n_in * n_out)))
    _tn(Y, A, X, 1)
    _transpose_tt(Y, Yt, A, X, 1)
    tn, tt = [], []
    for _ in range(5):
        start = time.perf_counter()
        _tn(Y, A, X, n)
        tn.append(time.perf_counter() - start)
        start = time.perf_counter()
        _transpose_tt(Y, Yt, A, X, n)
        tt.append(time.perf_counter() - start)
    return np.median(tt) / np.median(tn)


def main():
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        print(f"{np.dtype(dtype).name}: (transpose + TT) / TN by n_in x n_out")
        for m in BATCHES:
            cells = []
            for n_in, n_out in SHAPES:
                if m * n_in * n_out < 8192:  # below BLAS_MIN: plain loops, no BLAS
                    cells.append(f"{n_in}x{n_out} -")
                else:
                    cells.append(f"{n_in}x{n_out} {ratio(m, n_in, n_out, dtype, rng):.2f}")
            print(f"  m={m:<4d}" + "  ".join(cells))


if __name__ == "__main__":
    for line in describe():
        print("#", line)
    main()
