"""The BLAS under fastbp against NumPy's, product by product.

numba's ``np.dot`` inside the kernels calls SciPy's OpenBLAS; NumPy's ``matmul``
calls the OpenBLAS NumPy ships (another build, possibly another version).  For
the three products of a dense layer on mnist's and wide's shapes this prints
both times (medians of 7 side-by-side runs), so a peer comparison's large
workloads can be read as "the same algorithm on another BLAS".

    OPENBLAS_NUM_THREADS=1 python benchmarks/blas_libraries.py
"""
import timeit

import numpy as np
from numba import njit

# (batch m, n_in, n_out, dtype): the layers of the mnist and wide workloads.
LAYERS = [(128, 784, 256, np.float32), (128, 256, 128, np.float32),
          (256, 1024, 1024, np.float32)]


@njit(nogil=True)
def _forward(Y, A, X):
    np.dot(Y, A.T, X)          # X = Y A^T


@njit(nogil=True)
def _parameter_gradient(K, Y, G):
    np.dot(K.T, Y, G)          # dA = K^T Y


@njit(nogil=True)
def _input_gradient(K, A, G):
    np.dot(K, A, G)            # dY = K A


def median_ms(fn, repeats):
    return float(np.median(timeit.repeat(fn, number=repeats, repeat=7))) / repeats * 1e3


def main():
    rng = np.random.default_rng(0)
    print("product             shape (m, n_in, n_out)   numba/SciPy BLAS   NumPy BLAS")
    for m, n_in, n_out, dtype in LAYERS:
        Y = rng.standard_normal((m, n_in)).astype(dtype)
        A = rng.standard_normal((n_out, n_in)).astype(dtype)
        K = rng.standard_normal((m, n_out)).astype(dtype)
        X, dA, dY = (np.empty(s, dtype) for s in ((m, n_out), (n_out, n_in), (m, n_in)))
        pairs = {
            "forward Y A^T": (lambda: _forward(Y, A, X), lambda: np.matmul(Y, A.T, out=X)),
            "param grad K^T Y": (lambda: _parameter_gradient(K, Y, dA),
                                 lambda: np.matmul(K.T, Y, out=dA)),
            "input grad K A": (lambda: _input_gradient(K, A, dY),
                               lambda: np.matmul(K, A, out=dY)),
        }
        repeats = max(3, int(2e8 / (m * n_in * n_out)))
        for name, (ours, numpys) in pairs.items():
            ours()
            numpys()
            a, b = median_ms(ours, repeats), median_ms(numpys, repeats)
            print(f"{name:18s}  {str((m, n_in, n_out)):23s}  {a:10.3f} ms     {b:8.3f} ms")


if __name__ == "__main__":
    main()
