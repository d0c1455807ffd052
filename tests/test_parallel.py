"""``fit(threads=n)``: every batch split between n threads (``fastbp.parallel``,
``_kernels.training.epoch_part``, ``_kernels.sync``).

The parts must train as one thread does, up to the rounding of the gradient's
sum (float64: within 1e-12 after two epochs), give the same parameters every
run for a given count, fail as one thread fails, and never leave a thread
waiting.  More parts than this machine's CPUs are allowed here (the CPU
count is patched) to exercise uneven splits and a waiting thread yielding.
"""
import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastbp
from fastbp import parallel
from fastbp._kernels import sync

DTYPES = [np.float64, np.float32]
TOL = {np.float64: 1e-12, np.float32: 2e-5}


@pytest.fixture(autouse=True)
def four_cpus(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 4)


def data(n, n_in, n_out, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    labels = rng.integers(0, n_out, n)
    T = np.zeros((n, n_out), dtype)
    T[np.arange(n), labels] = 1.0
    return X, T, labels


def train(dtype, threads, loss, make_opt, targets="rows", epochs=2, batch_size=7, n=23,
          acts=("tanh", "softmax")):
    X, T, labels = data(n, 5, 3, dtype)
    net = fastbp.Network([5, 9, 3], list(acts), dtype=dtype, seed=1)
    opt = make_opt()
    history = net.fit(X, labels if targets == "labels" else T, epochs=epochs,
                      batch_size=batch_size, optimizer=opt, loss=loss, seed=4, progress=False,
                      threads=threads)
    return net, opt, history


OPTIMIZERS = {
    "sgd": lambda: fastbp.SGD(lr=0.1),
    "sgd-momentum-clip": lambda: fastbp.SGD(lr=0.1, momentum=0.9, clip_norm=0.5),
    "adam": lambda: fastbp.Adam(lr=0.01, weight_decay=0.01),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("loss,targets", [("sse", "rows"), ("mse", "rows"),
                                          ("cross_entropy", "rows"),
                                          ("cross_entropy", "labels")])
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_parts_train_as_one_thread(dtype, threads, loss, targets, opt):
    # 23 samples in batches of 7: the last batch (2 rows) leaves a part empty at 3.
    one, one_opt, one_history = train(dtype, 1, loss, OPTIMIZERS[opt], targets)
    many, many_opt, many_history = train(dtype, threads, loss, OPTIMIZERS[opt], targets)
    assert not np.array_equal(one.params, train(dtype, 1, loss, OPTIMIZERS[opt], targets,
                                                epochs=1)[0].params)  # it trained
    scale = np.max(np.abs(one.params))
    assert np.max(np.abs(many.params - one.params)) <= TOL[dtype] * scale
    np.testing.assert_allclose(many_history.loss, one_history.loss, rtol=TOL[dtype])
    assert many_opt.steps == one_opt.steps == 2 * 4
    state, one_state = many_opt.state_dict()["state"], one_opt.state_dict()["state"]
    if state is not None:
        assert np.max(np.abs(state - one_state)) <= TOL[dtype] * max(np.max(np.abs(one_state)),
                                                                      1e-30)


@pytest.mark.parametrize("threads", [2, 3])
def test_a_count_of_parts_gives_the_same_parameters_every_run(threads):
    runs = [train(np.float64, threads, "cross_entropy", OPTIMIZERS["adam"], epochs=3)[0].params
            for _ in range(3)]
    for params in runs[1:]:
        np.testing.assert_array_equal(params, runs[0])


def test_batches_smaller_than_the_parts():
    # Every batch has 1 or 2 rows for 3 parts: part 0 is empty in each.
    one = train(np.float64, 1, "mse", OPTIMIZERS["sgd-momentum-clip"], batch_size=2, n=9)[0]
    many = train(np.float64, 3, "mse", OPTIMIZERS["sgd-momentum-clip"], batch_size=2, n=9)[0]
    np.testing.assert_allclose(many.params, one.params, rtol=0, atol=1e-13)


def test_the_per_sample_loop_stays_one_thread():
    one = train(np.float64, 1, "sse", OPTIMIZERS["sgd"], batch_size=1)[0]
    X, T, _ = data(23, 5, 3, np.float64)
    net = fastbp.Network([5, 9, 3], ["tanh", "softmax"], seed=1)

    def refuse(*args):
        raise AssertionError("the per-sample loop was split")

    net._kernels = net._kernels._replace(epoch_part=refuse)
    net.fit(X, T, epochs=2, batch_size=1, optimizer=OPTIMIZERS["sgd"](), loss="sse", seed=4,
            progress=False, threads=2)
    np.testing.assert_array_equal(net.params, one.params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_parts_train_as_one_thread_through_blas(dtype):
    """Layers large enough for BLAS (``dense.BLAS_MIN``), parts of 64 rows of
    64 inputs: the forward product takes the transposed form too."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((512, 64)).astype(dtype)
    labels = rng.integers(0, 10, 512)

    def run(threads):
        net = fastbp.Network([64, 128, 10], ["tanh", "softmax"], dtype=dtype, seed=1)
        net.fit(X, labels, epochs=2, batch_size=128, optimizer=fastbp.Adam(lr=1e-3),
                loss="cross_entropy", seed=0, progress=False, threads=threads)
        return net.params
    one, many = run(1), run(2)
    assert np.max(np.abs(many - one)) <= TOL[dtype] * np.max(np.abs(one))


@numba.njit
def soft_cube(x):
    return x - x * x * x / 4.0


@numba.njit
def soft_cube_slope(x):
    return 1.0 - 0.75 * x * x


fastbp.register_activation("parallel_soft_cube", soft_cube, soft_cube_slope)


def test_a_registered_activation_in_parts():
    acts = ("parallel_soft_cube", "identity")
    one = train(np.float64, 1, "sse", OPTIMIZERS["adam"], acts=acts)[0]
    many = train(np.float64, 2, "sse", OPTIMIZERS["adam"], acts=acts)[0]
    np.testing.assert_allclose(many.params, one.params, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", ["loss", "step"])
def test_divergence_in_parts_is_reported_and_keeps_the_parameters(case):
    """After a clean epoch, batch 2 fails (its loss overflows: a huge row), or
    batch 0 does (its update would overflow: a huge learning rate)."""
    def run(threads):
        X, T, _ = data(40, 5, 3, np.float64)
        if case == "loss":
            X[8 * 2 + 5] = 1e160
        net = fastbp.Network([5, 9, 3], ["identity", "identity"], seed=1)
        opt = fastbp.SGD(lr=0.01)
        clean = np.delete(X, 8 * 2 + 5, 0), np.delete(T, 8 * 2 + 5, 0)
        net.fit(*clean, epochs=1, batch_size=8, optimizer=opt, loss="sse", shuffle=False,
                progress=False, threads=threads)
        if case == "step":
            opt.lr = np.finfo(np.float64).max
        with pytest.raises(fastbp.DivergenceError) as info:
            net.fit(X, T, epochs=3, batch_size=8, optimizer=opt, loss="sse", shuffle=False,
                    progress=False, threads=threads)
        return net, opt, info.value
    one, one_opt, one_error = run(1)
    many, many_opt, many_error = run(2)
    assert str(many_error) == str(one_error)
    expected = {"loss": "the loss is not finite",
                "step": "the update would make a parameter non-finite"}[case]
    where = {"loss": "epoch 0, batch 2", "step": "epoch 0, batch 0"}[case]  # of this fit
    assert expected in str(one_error) and where in str(one_error)
    assert np.all(np.isfinite(many.params))
    assert many_opt.steps == one_opt.steps
    np.testing.assert_allclose(many.params, one.params, rtol=1e-12)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2", None])
def test_threads_must_be_a_positive_integer(threads):
    X, T, _ = data(10, 5, 3, np.float64)
    net = fastbp.Network([5, 9, 3], ["tanh", "softmax"], seed=1)
    before = net.params.copy()
    with pytest.raises(ValueError, match=r"threads: expected an integer >= 1"):
        net.fit(X, T, epochs=1, optimizer=fastbp.SGD(lr=0.1), progress=False, threads=threads)
    np.testing.assert_array_equal(net.params, before)


def test_no_more_threads_than_cpus(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cpus", lambda: 2)
    X, T, _ = data(10, 5, 3, np.float64)
    net = fastbp.Network([5, 9, 3], ["tanh", "softmax"], seed=1)
    with pytest.raises(ValueError, match=r"threads: expected at most 2 \(the CPUs"):
        net.fit(X, T, epochs=1, optimizer=fastbp.SGD(lr=0.1), progress=False, threads=3)


class Boom(RuntimeError):
    pass


def test_a_part_that_fails_releases_the_others():
    X, T, _ = data(30, 5, 3, np.float64)
    net = fastbp.Network([5, 9, 3], ["tanh", "softmax"], seed=1)
    real = net._kernels.epoch_part

    def failing(part, *args):
        if part == 1:
            raise Boom("part 1")
        return real(part, *args)

    net._kernels = net._kernels._replace(epoch_part=failing)
    before = net.params.copy()
    opt = fastbp.SGD(lr=0.1)
    with pytest.raises(Boom):
        net.fit(X, T, epochs=2, batch_size=8, optimizer=opt, progress=False, threads=3)
    np.testing.assert_array_equal(net.params, before)
    assert opt.steps == 0


def test_a_helper_that_cannot_start_releases_the_others(monkeypatch):
    X, T, _ = data(30, 5, 3, np.float64)
    net = fastbp.Network([5, 9, 3], ["tanh", "softmax"], seed=1)
    starts = []

    def start(self):
        starts.append(self)
        if len(starts) == 2:
            raise RuntimeError("can't start new thread")
        original(self)

    original = parallel.threading.Thread.start
    monkeypatch.setattr(parallel.threading.Thread, "start", start)
    before = net.params.copy()
    with pytest.raises(RuntimeError, match="can't start new thread"):
        net.fit(X, T, epochs=1, batch_size=8, optimizer=fastbp.SGD(lr=0.1), progress=False,
                threads=3)
    np.testing.assert_array_equal(net.params, before)
    assert not starts[0].is_alive()  # the helper that started has returned


_BLAS_THREADS_SEEN = """
import json
import numpy as np
from threadpoolctl import threadpool_info
import fastbp
from fastbp import parallel

seen = []
net = fastbp.Network([64, 128, 10], ["tanh", "softmax"], seed=1)
real = net._kernels.epoch_part

def watched(part, *args):
    if part == 0:
        seen.append(sorted((lib["filepath"], lib["num_threads"]) for lib in threadpool_info()
                           if lib["user_api"] == "blas"))
    return real(part, *args)

net._kernels = net._kernels._replace(epoch_part=watched)
X = np.random.default_rng(0).standard_normal((256, 64))
before = sorted((lib["filepath"], lib["num_threads"]) for lib in threadpool_info()
                if lib["user_api"] == "blas")
net.fit(X, np.arange(256) % 10, epochs=2, batch_size=128, optimizer=fastbp.SGD(lr=1e-3),
        loss="cross_entropy", progress=False, threads=2)
after = sorted((lib["filepath"], lib["num_threads"]) for lib in threadpool_info()
               if lib["user_api"] == "blas")
print(json.dumps({"before": before, "seen": seen, "after": after}))
"""


def test_each_part_multiplies_on_one_blas_thread_and_the_count_comes_back():
    """In a new process, where numba has not loaded SciPy's BLAS yet."""
    out = subprocess.run([sys.executable, "-c", _BLAS_THREADS_SEEN], capture_output=True,
                         text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "2"},
                         timeout=600, check=True).stdout
    report = json.loads(out.splitlines()[-1])
    # SciPy's BLAS (numba's) is loaded by fit, NumPy's was there before.
    assert not any("scipy.libs" in path for path, _ in report["before"])
    assert len(report["seen"]) == 2
    for epoch in report["seen"]:
        assert any("scipy.libs" in path for path, _ in epoch)
        assert all(count == 1 for _, count in epoch)
    assert set(map(tuple, report["before"])) <= set(map(tuple, report["after"]))
    assert [path for path, _ in report["after"]] == [path for path, _ in report["seen"][0]]
    assert all(count == 2 for _, count in report["after"])


def test_overlapping_split_epochs_restore_the_blas_threads_last():
    before = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()]
    inner_seen = []
    with parallel._ONE_BLAS_THREAD:
        with parallel._ONE_BLAS_THREAD:
            pass
        inner_seen = [lib["num_threads"] for lib in threadpool_info()
                      if lib["user_api"] == "blas"]
    assert inner_seen and all(count == 1 for count in inner_seen)  # still limited
    assert [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()] == before


def test_barrier_counts_every_arrival_and_gives_up_on_abort():
    meeting = np.zeros(sync.SIZE, np.int64)
    meeting[sync.ARRIVED] = 1  # another part has arrived at barrier 0
    assert sync.barrier(meeting, 2, 0)
    assert meeting[sync.ARRIVED] == 2
    meeting[sync.ABORT] = 1  # nobody else comes to barrier 1
    assert not sync.barrier(meeting, 2, 1)
    assert add_then_load(meeting, sync.STATUS, 5) == (0, 5)


@numba.njit
def add_then_load(a, index, value):
    return sync.fetch_add(a, index, value), sync.load(a, index)
