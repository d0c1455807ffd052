"""What the benchmarks share: the process environment, the workloads, seeded
data and the NumPy reference of the derivation (``fastbp.testing``) to check
fastbp's answers against.

Importing this module changes the environment of the process (thread counts,
numba's cache directory), so it must be imported before numba or NumPy are:
``benchmarks/__init__.py`` imports it first for that reason.
"""
import hashlib
import importlib
import importlib.util
import inspect
import os
import pathlib
import tempfile
import time

# One BLAS thread everywhere.  The development machine has two cores shared with
# other jobs: a 2-thread timing turns bimodal (0.2 ms vs 24 ms) as soon as
# another process takes a core, while single-thread timings stay put.  numba
# reads NUMBA_NUM_THREADS and OpenBLAS its variable once, when they load, so
# this must run before either is imported.  Set unconditionally (not
# setdefault) so that a CI runner's own settings cannot change the numbers.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _name in _THREAD_VARIABLES:
    os.environ[_name] = "1"
# So every benchmark keeps its one-thread history; one with a ``threads``
# parameter raises OpenBLAS's count in its setup (``blas_threads``), at run time.
# numba's threads run only ``prange`` kernels (an ensemble's members), whose
# benchmarks pass ``threads=`` themselves: numba may start every usable CPU.
os.environ["NUMBA_NUM_THREADS"] = str(
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _source_digest(package="fastbp"):
    """Hash of the installed package's Python sources, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


# numba's on-disk cache (cache=True) checks only the stamp of the file that
# defines a kernel: a kernel cached before a commit edited a helper in another
# module is loaded stale, and the benchmark times the old code.  Between asv
# commits the installed package is replaced but stray .nbi/.nbc files are not
# removed.  A cache directory keyed by the hash of all of fastbp's sources makes
# every version of the code compile once into a cache of its own.
os.environ["NUMBA_CACHE_DIR"] = str(
    pathlib.Path(tempfile.gettempdir()) / "fastbp-bench-numba-cache" / _source_digest())

import numpy as np  # noqa: E402  (after the environment above, on purpose)

import fastbp  # noqa: E402


# Plain SGD with a small step: a timed train_step or fit changes the network,
# and this keeps the parameters finite however often asv repeats it.
LEARNING_RATE = 1e-3


class Workload:
    """One network shape and batch size to measure on.

    ``dtype`` is the dtype the peer comparison runs it in; the benchmarks
    themselves run every workload in both ``DTYPES``.  ``learning_rate``: plain
    SGD's, for ``train_step`` and ``fit``.
    """

    def __init__(self, sizes, activations, batch, dtype, seed, epoch_samples,
                 learning_rate=LEARNING_RATE):
        self.sizes = tuple(sizes)
        self.activations = tuple(activations)
        self.batch = batch
        self.dtype = np.dtype(dtype)
        self.seed = seed
        self.epoch_samples = epoch_samples  # training-set size of a ``fit`` epoch
        self.learning_rate = learning_rate
        # Integer labels for a softmax output (the classification path),
        # target rows and the derivation's sum of squares otherwise.
        self.loss = "cross_entropy" if self.activations[-1] == "softmax" else "sse"


# Epoch sizes keep a whole suite run sane: mnist's 12,800 samples are a fifth of
# the real 60,000 (tools/compare times full epochs side by side with the peers).
WORKLOADS = {
    "tiny": Workload([2, 16, 16, 1], ["tanh", "tanh", "identity"], 1, np.float64, 101, 10_000),
    "small": Workload([64, 128, 128, 10], ["tanh", "tanh", "softmax"], 32, np.float64, 102, 3_200),
    "mnist": Workload([784, 256, 128, 10], ["tanh", "tanh", "softmax"], 128, np.float32, 103,
                      12_800),
    "wide": Workload([1024, 1024, 1024, 1024], ["tanh"] * 3, 256, np.float32, 104, 2_560),
    # The narrow regime: few inputs and narrow layers, where the calls and the
    # per-sample loops cost more than the products.  A surrogate model trains
    # full-batch (its batch is the whole epoch, the case of L-BFGS).  Their
    # squared error sums over batches this large, and LEARNING_RATE on the sum
    # overflows float32 within a few steps: their rate is per sample.
    "surrogate": Workload([4, 32, 16, 4], ["tanh", "tanh", "identity"], 10_000, np.float64,
                          105, 10_000, LEARNING_RATE / 10_000),
    "chain": Workload([24, 8, 2], ["tanh", "identity"], 200, np.float64, 106, 10_000,
                      LEARNING_RATE / 200),
    "narrow": Workload([16, 64, 64, 1], ["tanh", "tanh", "identity"], 1000, np.float64, 107,
                       10_000, LEARNING_RATE / 1000),
}
WORKLOAD_NAMES = list(WORKLOADS)
# forward and loss_and_gradient alone: narrow's layers add nothing to them
# that chain's and surrogate's do not, and every cell is a process of its own.
NETWORK_WORKLOADS = [name for name in WORKLOAD_NAMES if name != "narrow"]
DTYPES = ["float32", "float64"]
THREADS = [1, 2]


def _dtype(work, dtype):
    return work.dtype if dtype is None else np.dtype(dtype)


def _targets(work, rng, rows, dtype):
    if work.loss == "cross_entropy":
        return rng.integers(0, work.sizes[-1], size=rows, dtype=np.int64)
    return rng.uniform(-0.9, 0.9, size=(rows, work.sizes[-1])).astype(dtype)


def problem(name, dtype=None):
    """(network, X, T, loss) for one batch of a workload, identical on every
    call and commit; ``dtype`` defaults to the workload's own.

    Inputs are standard normal; targets are uniform in (-0.9, 0.9) (inside
    tanh's range) for squared error, uniform class labels for cross-entropy.
    Both dtypes see the same numbers (drawn in float64, then rounded).
    """
    work = WORKLOADS[name]
    dtype = _dtype(work, dtype)
    rng = np.random.default_rng(work.seed)
    X = rng.standard_normal((work.batch, work.sizes[0])).astype(dtype)
    T = _targets(work, rng, work.batch, dtype)
    net = fastbp.Network(work.sizes, work.activations, dtype=dtype, seed=work.seed)
    return net, X, T, work.loss


def epoch_problem(name, dtype=None):
    """(network, X, T, loss) with ``epoch_samples`` samples: a training set.

    Drawn as ``problem`` draws (but from a stream of its own), a block of rows
    at a time straight into arrays of the network's dtype, so that making the
    data never needs more memory than the data itself: ``peakmem_fit`` would
    otherwise see a float64 draw rather than what ``fit`` does.
    """
    work = WORKLOADS[name]
    dtype = _dtype(work, dtype)
    rng = np.random.default_rng([work.seed, 1])
    n, block = work.epoch_samples, 1024
    X = np.empty((n, work.sizes[0]), dtype)
    for start in range(0, n, block):
        X[start:start + block] = rng.standard_normal((min(block, n - start), work.sizes[0]))
    if work.loss == "cross_entropy":
        T = _targets(work, rng, n, dtype)
    else:
        T = np.empty((n, work.sizes[-1]), dtype)
        for start in range(0, n, block):
            T[start:start + block] = _targets(work, rng, min(block, n - start), dtype)
    net = fastbp.Network(work.sizes, work.activations, dtype=dtype, seed=work.seed)
    return net, X, T, work.loss


def fit_epoch(net, X, T, loss, batch, optimizer):
    """One shuffled epoch of ``fit``, as every benchmark of it calls it."""
    return net.fit(X, T, epochs=1, batch_size=batch, optimizer=optimizer, loss=loss,
                   shuffle=True, seed=0, progress=False)


def usable_cpus():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _blas_module():
    """``fastbp._kernels.blas``, or None in a fastbp that has none."""
    try:
        return importlib.import_module("fastbp._kernels.blas")
    except ImportError:
        return None


def allow_blas_threads(count):
    """Let OpenBLAS use ``count`` threads from now on, in this process;
    False where this fastbp cannot set its count (no ``blas.set_threads``)."""
    set_threads = getattr(_blas_module(), "set_threads", None)
    if set_threads is None:
        return False
    set_threads(count)
    return True


def blas_threads(threads):
    """The keyword arguments of a call whose products may use ``threads``
    BLAS threads, OpenBLAS allowed that many; raises NotImplementedError (asv:
    skipped) where the machine or this fastbp cannot.

    One thread is every commit's call without the keyword, as the history
    measured it: the environment allows one, and ``threads=`` would add the
    cost of entering its bound to the tiny steps from the commit that added it.
    """
    if threads == 1:
        return {}
    if usable_cpus() < threads:
        raise NotImplementedError(f"{threads} BLAS threads need as many CPUs; "
                                  f"this process may use {usable_cpus()}")
    signature = inspect.signature(fastbp.Network.train_step)
    if "threads" not in signature.parameters or not allow_blas_threads(threads):
        raise NotImplementedError("this fastbp has no threads= keyword")
    return {"threads": threads}


def warm_up(call, calls=12, seconds=0.25):
    """Call ``call`` until it runs at its steady speed, then stop.

    The first call compiles the kernels or loads them from numba's cache.  A
    tiny workload then still takes ~10 calls to settle (CPython specialises a
    call site after a few runs; 86 us, 14 us ... 7 us for tiny's train_step),
    so a few more follow, within ``seconds`` for the slow workloads.
    """
    call()
    start = time.perf_counter()
    for _ in range(calls - 1):
        call()
        if time.perf_counter() - start > seconds:
            break


class OnePerProcess:
    """Builds what a benchmark needs once per process and hands it out again.

    The asv runner here re-runs ``setup`` before every timed call, so the
    expensive part of a setup (data, network, the warm-up call that compiles
    or loads the kernels) must happen once, not per call.  asv runs each
    benchmark and parameter set in a process of its own, so one entry is
    enough; keeping only the newest also bounds memory if that ever changes.
    """

    def __init__(self):
        self._key, self._value = None, None

    def get(self, key, build):
        if key != self._key:
            self._key, self._value = None, None  # free the old entry before building
            self._value, self._key = build(), key
        return self._value


def _load_reference():
    """``fastbp/testing.py`` of this checkout, loaded from its file.

    asv installs the fastbp of each commit it measures, and older commits have
    no ``fastbp.testing``.  The reference imports nothing but NumPy and reads
    only a network's public ``weights``, ``biases`` and ``activations``, so
    this one copy checks every commit alike.
    """
    path = pathlib.Path(__file__).resolve().parent.parent / "fastbp" / "testing.py"
    spec = importlib.util.spec_from_file_location("fastbp_bench_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The slow, obvious reference (float64, explicit Jacobians) the ``track_``
# benchmarks compare fastbp's answers with.
testing = _load_reference()
