"""BLAS threads: ``threads=`` and the per-product choice in compiled code.

A product below ``blas.SERIAL_BELOW`` multiply-adds runs on one thread, a
larger one on OpenBLAS's count capped by ``threads``; the count OpenBLAS holds
outside the products never changes.  Which threads did the work is read from
the CPU time of each of the process's threads (Linux's /proc), so those tests
need Linux, two usable CPUs and an OpenBLAS allowed two threads.
"""
import os
import pathlib
import threading
import time

import numpy as np
import pytest

import fastbp
from fastbp._kernels import blas
from fastbp.sklearn import MLPRegressor

BAD = [0, -1, 1.5, True, "2", np.float64(2.0)]


def blas_network(dtype=np.float64):
    """A network whose products all take BLAS at 256 rows, and its data."""
    rng = np.random.default_rng(0)
    net = fastbp.Network([128, 256, 128, 8], ["tanh", "tanh", "identity"], dtype=dtype, seed=0)
    X = rng.standard_normal((256, 128)).astype(dtype)
    T = rng.standard_normal((256, 8)).astype(dtype)
    return net, X, T


@pytest.mark.parametrize("value", BAD)
def test_bad_threads_refused_changing_nothing(value):
    net, X, T = blas_network()
    before = net.params.copy()
    opt = fastbp.Adam(1e-3)
    calls = [lambda: net.fit(X, T, epochs=1, optimizer=opt, threads=value, progress=False),
             lambda: net.train_step(X, T, opt, threads=value),
             lambda: net.loss_and_gradient(X, T, threads=value),
             lambda: net.forward(X, threads=value),
             lambda: net.fit(X, T, epochs=1, optimizer=fastbp.LBFGS(), threads=value)]
    for call in calls:
        with pytest.raises(ValueError, match=r"^threads: expected None or an integer >= 1"):
            call()
    np.testing.assert_array_equal(net.params, before)
    assert opt.state is None  # never bound
    assert blas._BOUND.value == 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_threads():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 5)), rng.standard_normal(300)
    assert MLPRegressor().get_params()["threads"] is None
    with pytest.raises(ValueError, match=r"^threads: expected None or an integer >= 1, got 0"):
        MLPRegressor(threads=0).fit(X, y)
    a = MLPRegressor((64,), max_iter=5, random_state=0, threads=1).fit(X, y)
    b = MLPRegressor((64,), max_iter=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_results_on_any_bound(dtype):
    """OpenBLAS splits a product's rows and columns between threads, never its
    inner sum: every bound gives the same numbers (to a last-bit tolerance)."""
    tol = 1e-13 if dtype == np.float64 else 1e-6
    results = []
    for threads in (None, 1, 2, 64):
        net, X, T = blas_network(dtype)
        value, grad = net.loss_and_gradient(X, T, "mse", threads=threads)
        net.fit(X, T, epochs=2, batch_size=128, optimizer=fastbp.Adam(1e-3), loss="mse",
                seed=1, progress=False, threads=threads)
        results.append((value, grad, net.params.copy(), net.forward(X, threads=threads)))
    for value, grad, params, Y in results[1:]:
        np.testing.assert_allclose(value, results[0][0], rtol=tol)
        np.testing.assert_allclose(grad, results[0][1], rtol=tol, atol=tol)
        np.testing.assert_allclose(params, results[0][2], rtol=tol, atol=tol)
        np.testing.assert_allclose(Y, results[0][3], rtol=tol, atol=tol)


def test_bound_is_restored():
    net, X, T = blas_network()
    allowed = blas.get_threads()
    with blas.limit(3):
        assert blas._BOUND.value == 3
        with blas.limit(1):
            assert blas._BOUND.value == 1
        assert blas._BOUND.value == 3
    assert blas._BOUND.value == 0
    with pytest.raises(ValueError, match="^X"):
        net.fit(X[:, :5], T, epochs=1, threads=1)
    with pytest.raises(fastbp.DivergenceError):
        net.train_step(X, T * 1e200, fastbp.SGD(0.1), threads=1)  # the loss overflows
    assert blas._BOUND.value == 0
    net.loss_and_gradient(X, T, threads=1)
    assert blas.get_threads() == allowed  # the products put OpenBLAS's count back


# --- which threads did the work ------------------------------------------

def _cpu_ticks():
    """{thread id: CPU clock ticks used} for this process's threads."""
    ticks = {}
    for task in pathlib.Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        ticks[int(task.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks


def _work_shares(call, seconds=0.6):
    """(CPU ticks of this thread, of all others) while ``call`` repeats."""
    time.sleep(0.3)  # OpenBLAS's workers stop spinning after a previous product
    call()
    me = threading.get_native_id()
    before = _cpu_ticks()
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        call()
    after = _cpu_ticks()
    used = {tid: after[tid] - before.get(tid, 0) for tid in after}
    return used.pop(me, 0), sum(used.values())


needs_two = pytest.mark.skipif(
    not pathlib.Path("/proc/self/task").is_dir() or not hasattr(os, "sched_getaffinity")
    or len(os.sched_getaffinity(0)) < 2 or not blas.THREAD_CONTROL or blas.get_threads() < 2,
    reason="needs Linux, two usable CPUs and an OpenBLAS allowed two threads")


@needs_two
def test_products_choose_their_threads():
    rng = np.random.default_rng(0)
    big = fastbp.Network([512, 512], ["identity"], seed=0)
    Xb = rng.standard_normal((1024, 512))  # 268M multiply-adds
    # Below SERIAL_BELOW, but large enough for OpenBLAS to use two threads.
    rows = max(1, (blas.SERIAL_BELOW["float64"] // 2) // (128 * 128))
    mid = fastbp.Network([128, 128], ["identity"], seed=0)
    Xm = rng.standard_normal((rows, 128))

    main, others = _work_shares(lambda: mid.forward(Xm))
    assert others <= 0.1 * main, (main, others)
    main, others = _work_shares(lambda: big.forward(Xb, threads=1))
    assert others <= 0.1 * main, (main, others)
    main, others = _work_shares(lambda: big.forward(Xb))
    assert others >= 0.4 * main, (main, others)


@pytest.mark.skipif(blas._THREADS["scipy"] is None or blas.BACKEND == "scipy",
                    reason="needs SciPy's OpenBLAS beside the backend's")
def test_lbfgs_runs_scipys_blas_on_one_thread():
    get, put = blas._THREADS["scipy"]
    before = get()
    seen = []
    net, X, T = blas_network()
    net.fit(X, T, epochs=3, optimizer=fastbp.LBFGS(), loss="mse", progress=False,
            callbacks=[lambda net, history: seen.append(get())])
    assert seen == [1, 1, 1]
    assert get() == before


@pytest.mark.skipif(not blas.THREAD_CONTROL, reason="needs OpenBLAS's thread setter")
def test_serial_holds_the_backend_on_one_thread_and_restores_it():
    put = blas._THREADS[blas.BACKEND][1]
    before = blas.get_threads()
    put(2)
    try:
        with blas.serial():
            assert blas.get_threads() == 1
            with blas.serial():  # overlapping holders restore once, last
                assert blas.get_threads() == 1
            assert blas.get_threads() == 1
        assert blas.get_threads() == 2
        X = np.random.default_rng(0).standard_normal((64, 5))
        ens = fastbp.Ensemble([5, 8, 1], ["tanh", "identity"], 2, seed=0)
        ens.fit(X, X[:, :1], epochs=1, loss="mse")
        assert blas.get_threads() == 2
    finally:
        put(before)
