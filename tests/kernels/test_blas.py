"""``_kernels.blas.gemm``: the large products' one BLAS call, on both backends.

In this process the default backend runs (NumPy's OpenBLAS where NumPy ships
it); a child process with ``FASTBP_BLAS=scipy`` and a cache of its own runs
SciPy's.  Each multiplies every form fastbp uses, at offsets into flat
buffers, against NumPy's matmul, and trains a network whose layers take BLAS.
"""
import glob
import itertools
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from numba import njit

import fastbp
from fastbp._kernels import blas

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def result_names(dtype):
    """Names of ``train_through_blas``'s two results, as the child saves them."""
    return [f"{np.dtype(dtype).name}-{what}" for what in ("params", "grad")]


@njit
def _gemm(ta, tb, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc):
    blas.gemm(ta, tb, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc)


def check_gemm(dtype):
    """Every op combination at offsets: C = op(A) op(B), m x n, inner k."""
    rng = np.random.default_rng(0)
    # OpenBLAS's small-matrix kernels, and its blocked ones
    for (m, n, k), ta, tb in itertools.product([(37, 53, 29), (130, 260, 70)], (0, 1), (0, 1)):
        A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
        B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
        a = np.concatenate([np.full(5, np.nan, dtype), A.ravel(), np.full(2, np.nan, dtype)])
        b = np.concatenate([np.full(3, np.nan, dtype), B.ravel(), np.full(4, np.nan, dtype)])
        c = np.full(7 + m * n + 4, -1.0, dtype)
        _gemm(ta, tb, m, n, k, a, 5, A.shape[1], b, 3, B.shape[1], c, 7, n)
        want = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64)
        got = c[7:7 + m * n].reshape(m, n)
        scale = np.max(np.abs(want))
        assert np.max(np.abs(got - want)) <= TOL[dtype] * scale * k, (m, ta, tb)
        assert np.all(c[:7] == -1.0) and np.all(c[7 + m * n:] == -1.0)  # nothing else


def train_through_blas(dtype):
    """Parameters after two epochs of a network whose products take BLAS."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((256, 64)).astype(dtype)
    labels = rng.integers(0, 10, 256)
    net = fastbp.Network([64, 128, 96, 10], ["tanh", "relu", "softmax"], dtype=dtype, seed=0)
    net.fit(X, labels, epochs=2, batch_size=64, optimizer=fastbp.Adam(lr=1e-3),
            loss="cross_entropy", seed=0, progress=False)
    value, grad = net.loss_and_gradient(X[:128], labels[:128], loss="cross_entropy")
    return net.params, grad


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_matches_numpy(dtype):
    check_gemm(dtype)


def test_numpy_openblas_is_used_where_numpy_ships_it():
    ships = [path for pattern in blas.NUMPY_PATTERNS for path in glob.glob(pattern)]
    if os.environ.get("FASTBP_BLAS") == "scipy" or not ships:
        assert blas.BACKEND == "scipy"
    else:
        assert blas.BACKEND == "numpy"


_CHILD = """
import importlib.util, json
import numpy as np
# Loaded by its path: the test module sits in a package (tests/kernels), which
# the child has no reason to know.
spec = importlib.util.spec_from_file_location("test_blas", {module!r})
test_blas = importlib.util.module_from_spec(spec)
spec.loader.exec_module(test_blas)
from fastbp._kernels import blas, training
results = {{}}
for dtype in test_blas.DTYPES:
    test_blas.check_gemm(dtype)
    results.update(zip(test_blas.result_names(dtype), test_blas.train_through_blas(dtype)))
np.savez({out!r}, **results)
stats = training.epoch.stats
print(json.dumps({{"backend": blas.BACKEND, "hits": sum(stats.cache_hits.values()),
                   "misses": sum(stats.cache_misses.values())}}))
"""


def run_child(tmp, name, backend):
    out = os.path.join(tmp, name)
    env = {**os.environ, "NUMBA_CACHE_DIR": os.path.join(tmp, "cache")}
    env.pop("FASTBP_BLAS", None)
    if backend:
        env["FASTBP_BLAS"] = backend
    done = subprocess.run([sys.executable, "-c", _CHILD.format(module=os.path.abspath(__file__),
                                                                out=out)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out + ".npz") as saved:
        return report, {name: saved[name] for name in saved.files}


def test_both_backends_multiply_train_and_share_a_cache():
    """SciPy's backend compiles into a new cache; a process on NumPy's backend
    then loads those kernels (which call SciPy's BLAS by name) and computes
    the very same; both agree with this process's kernels to rounding."""
    with tempfile.TemporaryDirectory() as tmp:
        compiled, scipy_results = run_child(tmp, "scipy", "scipy")
        loaded, loaded_results = run_child(tmp, "loaded", None)
    assert compiled["backend"] == "scipy" and compiled["misses"] > 0
    assert loaded["backend"] == blas.BACKEND and loaded["hits"] > 0 and loaded["misses"] == 0
    for dtype in DTYPES:
        names = result_names(dtype)
        for name in names:
            np.testing.assert_array_equal(loaded_results[name], scipy_results[name])  # same code
        for mine, name in zip(train_through_blas(dtype), names):
            theirs = scipy_results[name]
            assert np.max(np.abs(mine - theirs)) <= 1e3 * TOL[dtype] * np.max(np.abs(mine))
