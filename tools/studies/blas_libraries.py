"""SciPy's and NumPy's BLAS (fastbp's two backends) against XLA's and PyTorch's,
product by product.

numba's ``np.dot`` calls SciPy's OpenBLAS (as fastbp's products do where NumPy
ships no OpenBLAS: ``fastbp._kernels.blas``);
NumPy's ``matmul`` calls the OpenBLAS NumPy ships (another build, another
version), which fastbp's products call now; JAX
multiplies with XLA's own CPU kernels and PyTorch with its bundled BLAS (both
optional: skipped when not installed).  For the three products of a dense layer
on mnist's and wide's shapes this prints every library's time (medians of 7
side-by-side runs) and SciPy's rate, so a peer comparison's large workloads can
be read as "the same algorithm on another BLAS", and fastbp's distance from
the machine's peak as the BLAS's.  On one core:

    OPENBLAS_NUM_THREADS=1 taskset -c 0 python tools/studies/blas_libraries.py

(JAX sizes its thread pool from the CPUs the process may use; PyTorch is set
to as many threads.)
"""
import os
import pathlib
import sys
import timeit

import numpy as np
from numba import njit

from fastbp._kernels import blas

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

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


def _peers():
    """{name: matmul(a, b) returning a NumPy-side result} for the installed peers."""
    peers = {}
    try:
        import jax
        jax.config.update("jax_platforms", "cpu")
        product = jax.jit(lambda a, b: a @ b)
        peers["XLA (JAX)"] = (lambda a, b: product(a, b).block_until_ready(), jax.device_put)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(len(os.sched_getaffinity(0)))
        peers["PyTorch"] = (lambda a, b: torch.mm(a, b), torch.from_numpy)
    except ImportError:
        pass
    return peers


def main(layers=LAYERS, repeats=None):
    """Print each product's median time per library, over ``repeats`` calls
    (by default about 0.2 GFLOP's worth); tests pass small layers and few."""
    rng = np.random.default_rng(0)
    peers = _peers()
    print(f"fastbp's products call the {blas.BACKEND} backend (fastbp._kernels.blas)")
    names = ["SciPy BLAS", "NumPy BLAS"] + list(peers)
    print(f"{'product':17s} {'(m, n_in, n_out)':17s} " + " ".join(f"{n:>19s}" for n in names)
          + "  SciPy GFLOP/s")
    for m, n_in, n_out, dtype in layers:
        Y = rng.standard_normal((m, n_in)).astype(dtype)
        A = rng.standard_normal((n_out, n_in)).astype(dtype)
        K = rng.standard_normal((m, n_out)).astype(dtype)
        X, dA, dY = (np.empty(s, dtype) for s in ((m, n_out), (n_out, n_in), (m, n_in)))
        products = {  # name: (SciPy's, through numba; matmul's operands; the result)
            "forward Y A^T": (lambda: _forward(Y, A, X), (Y, A.T), X),
            "param grad K^T Y": (lambda: _parameter_gradient(K, Y, dA), (K.T, Y), dA),
            "input grad K A": (lambda: _input_gradient(K, A, dY), (K, A), dY),
        }
        calls_each = repeats or max(3, int(2e8 / (m * n_in * n_out)))
        for name, (ours, (a, b), out) in products.items():
            calls = [ours, lambda a=a, b=b, out=out: np.matmul(a, b, out=out)]
            for run, convert in peers.values():
                # Each peer's operands in its own form, made once, outside the timing.
                pa, pb = convert(np.ascontiguousarray(a)), convert(np.ascontiguousarray(b))
                calls.append(lambda run=run, pa=pa, pb=pb: run(pa, pb))
            for call in calls:
                call()
            times = [median_ms(call, calls_each) for call in calls]
            rate = 2 * m * n_in * n_out / (times[0] * 1e-3) / 1e9
            print(f"{name:17s} {str((m, n_in, n_out)):17s} "
                  + " ".join(f"{t:16.3f} ms" for t in times) + f"  {rate:13.1f}")


if __name__ == "__main__":
    for line in describe():
        print("#", line)
    main()
