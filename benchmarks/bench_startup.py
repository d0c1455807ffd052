"""What a user waits for before training starts, measured in fresh interpreters.

* ``track_compile_fit_seconds``: a cold start, numba's cache empty: ``import
  fastbp`` and the first ``fit`` of a new network, i.e. compiling everything a
  ``fit`` needs.
* ``track_compile_seconds``: another cold start, of the first ``forward``,
  ``loss_and_gradient``, ``train_step`` and ``fit`` in turn: every entry point.
  ``track_compile_stage_seconds`` splits that run by step.
* ``track_startup_seconds``: a warm start, the cache filled by the cold run:
  ``import fastbp``, building a network and its first ``train_step``.

The children run in ``setup_cache``, once per asv run for both dtypes, and the
benchmarks only report their figures: the two cold compiles are most of the
suite's fixed cost.  Numbers include whatever else the machine is doing.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

from .common import DTYPES

STAGES = ["import", "forward", "loss_and_gradient", "train_step", "fit"]

# Run in a fresh interpreter; prints the seconds each stage took as JSON.
# Activations and the loss are data to the kernels, not types, so this one
# small network compiles what any network of the dtype needs.
_COLD_START = """
import json, sys, time
start = time.perf_counter()
import fastbp
import numpy as np
seconds = {"import": time.perf_counter() - start}
dtype = np.dtype(sys.argv[1])
net = fastbp.Network([4, 8, 3], ["tanh", "softmax"], dtype=dtype, seed=0)
X = np.linspace(-1.0, 1.0, 24).reshape(6, 4).astype(dtype)
labels = np.array([0, 2, 1, 0, 1, 2])
stages = [
    ("forward", lambda: net.forward(X)),
    ("loss_and_gradient", lambda: net.loss_and_gradient(X, labels, loss="cross_entropy")),
    ("train_step", lambda: net.train_step(X, labels, fastbp.SGD(lr=1e-3),
                                          loss="cross_entropy")),
    ("fit", lambda: net.fit(X, labels, epochs=1, batch_size=2, optimizer=fastbp.SGD(lr=1e-3),
                            loss="cross_entropy", shuffle=True, seed=0, progress=False)),
]
for name, call in stages:
    start = time.perf_counter()
    call()
    seconds[name] = time.perf_counter() - start
print(json.dumps(seconds))
"""

# A cold start of fit alone (the same network and call as the last stage above).
_COLD_FIT = """
import json, sys, time
start = time.perf_counter()
import fastbp
import numpy as np
dtype = np.dtype(sys.argv[1])
net = fastbp.Network([4, 8, 3], ["tanh", "softmax"], dtype=dtype, seed=0)
X = np.linspace(-1.0, 1.0, 24).reshape(6, 4).astype(dtype)
net.fit(X, np.array([0, 2, 1, 0, 1, 2]), epochs=1, batch_size=2,
        optimizer=fastbp.SGD(lr=1e-3), loss="cross_entropy", seed=0, progress=False)
print(time.perf_counter() - start)
"""

# A warm start: what a user's script waits for before its first update.
_WARM_START = """
import sys, time
start = time.perf_counter()
import fastbp
import numpy as np
dtype = np.dtype(sys.argv[1])
net = fastbp.Network([64, 64, 10], ["tanh", "softmax"], dtype=dtype, seed=0)
X = np.linspace(-1.0, 1.0, 32 * 64).reshape(32, 64).astype(dtype)
net.train_step(X, np.arange(32) % 10, fastbp.SGD(lr=1e-3), loss="cross_entropy")
print(time.perf_counter() - start)
"""

CHILD_TIMEOUT = 240  # seconds for one child: a cold compile is tens of seconds today
WARM_RUNS = 3        # warm starts are short and noisy: report the median


def _child(code, dtype, cache):
    """Last line of a fresh interpreter's output; numba's cache in ``cache``."""
    # Run from inside the cache directory so that nothing in the current
    # directory shadows the installed package; the thread settings of
    # ``common`` are inherited through the environment.
    env = dict(os.environ, NUMBA_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", code, dtype], cwd=cache, env=env,
                          capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"start-up child failed (exit {done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def measure(dtype):
    """({stage: seconds} of a cold start, median seconds of a warm start,
    seconds of a cold start of fit alone)."""
    with tempfile.TemporaryDirectory(prefix="fastbp-cold-numba-") as cache:
        cold_fit = float(_child(_COLD_FIT, dtype, cache))
    with tempfile.TemporaryDirectory(prefix="fastbp-cold-numba-") as cache:
        cold = json.loads(_child(_COLD_START, dtype, cache))
        warm = [float(_child(_WARM_START, dtype, cache)) for _ in range(WARM_RUNS)]
    return cold, statistics.median(warm), cold_fit


class StartUp:
    """Cold compile and warm start-up, per dtype (a user needs one of them)."""

    params = [DTYPES]
    param_names = ["dtype"]

    def setup_cache(self):
        return {dtype: measure(dtype) for dtype in DTYPES}

    # Four cold compiles plus six warm starts, on a slow commit or a busy machine.
    setup_cache.timeout = 4 * CHILD_TIMEOUT + 2 * WARM_RUNS * 60

    def track_compile_seconds(self, results, dtype):
        return sum(results[dtype][0].values())

    track_compile_seconds.unit = "seconds"

    def track_compile_fit_seconds(self, results, dtype):
        return results[dtype][2]

    track_compile_fit_seconds.unit = "seconds"

    def track_startup_seconds(self, results, dtype):
        return results[dtype][1]

    track_startup_seconds.unit = "seconds"


class CompileStages:
    """``track_compile_seconds`` split by step: where the cold compile goes.

    Each stage compiles only what the earlier ones did not (numba compiles a
    helper once per process), so the stages add up to the total.
    """

    params = [DTYPES, STAGES]
    param_names = ["dtype", "stage"]

    # The same function, so asv (which keys a cache by module and line) runs
    # the children once for both classes.
    setup_cache = StartUp.setup_cache

    def track_compile_stage_seconds(self, results, dtype, stage):
        return results[dtype][0][stage]

    track_compile_stage_seconds.unit = "seconds"
