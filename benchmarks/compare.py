"""fastbp against its CPU peers: one table, from one command.

    python benchmarks/compare.py            # full run, a few minutes
    python benchmarks/compare.py --quick    # about a minute, fewer repeats
    python benchmarks/compare.py --markdown # the table in Markdown, for the README
    python benchmarks/compare.py --skip torch,jax   # as if they were not installed

Times one training step (forward, backward, plain SGD update, loss = sum of
squared errors) of fastbp, a plain NumPy implementation, PyTorch (eager) and
JAX (jit) on four workloads, and whole epochs on two of them.  Each
implementation is optional: one that cannot be imported is skipped with a
message (``pip install -e .[peers]`` installs PyTorch and JAX).

How it measures:

* Every thread count runs in a child process of its own, started with the
  thread variables (OMP/OpenBLAS/MKL/numba, XLA_FLAGS) set before anything is
  imported, ``torch.set_num_threads``, and its CPU affinity limited to that
  many CPUs (the only limit JAX obeys).  The child reports the thread counts
  the libraries actually use and the CPU time over wall time of its timed
  blocks, so a thread setting that did not take shows.  With several threads
  each timed block waits 0.15 s first (busy) for the worker threads of the
  library timed before to stop spinning.
* Before timing, every implementation takes one step from the same initial
  parameters (fastbp's), and the updated parameters are compared with a
  float64 NumPy step; after the warm-up epoch the parameters are compared with
  the NumPy loop's.  A disagreement stops the run (exit status 1).
* Compilation is never timed: every kernel, jitted function and scan is
  warmed up first, and JAX results are waited for (``block_until_ready``).
* Within each repeat the implementations run one after another (interleaved,
  starting order rotated), each from the initial parameters (restored outside
  the timing); the table shows the median over the repeats.
* The machine's other load is measured (/proc/stat) while each cell is timed;
  cells timed while other processes kept more than 0.1 CPU busy are marked.
  ``--wait-idle SECONDS`` waits for a quiet machine before each thread count.

The parent process imports nothing but the standard library.  This module is
import-safe (asv imports every module under benchmarks/): all work happens
under ``if __name__ == "__main__"``.
"""
import argparse
import datetime
import hashlib
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

LR = 1e-3
SEED = 0

# name: (layer sizes, activations, batch, dtype)
STEP_WORKLOADS = {
    "tiny": ([2, 16, 16, 1], ["tanh", "tanh", "identity"], 1, "float64"),
    "small": ([64, 128, 128, 10], ["tanh", "tanh", "softmax"], 32, "float64"),
    "mnist": ([784, 256, 128, 10], ["tanh", "tanh", "softmax"], 128, "float32"),
    "wide": ([1024, 1024, 1024, 1024], ["tanh", "tanh", "tanh"], 256, "float32"),
}
# name: (network of this step workload, samples per epoch, batch size)
EPOCH_WORKLOADS = {
    "mnist-epoch": ("mnist", 60_000, 128),
    "tiny-epoch": ("tiny", 10_000, 1),
}
IMPLS = ["fastbp", "numpy", "torch", "jax", "jax-scan"]
LABELS = {"fastbp": "fastbp", "numpy": "NumPy", "torch": "PyTorch eager",
          "jax": "JAX jit", "jax-scan": "JAX lax.scan"}
OPTIONAL = ["fastbp", "numpy", "torch", "jax"]  # what --skip accepts

# Per mode: repeats of the step and epoch workloads, the length of one timed
# block of steps, and how many samples the slow per-sample loops run in
# tiny-epoch (their time is scaled up to the full epoch).
MODES = {
    "full": {"step_repeats": 9, "epoch_repeats": 5, "block_seconds": 0.1,
             "budget_seconds": 40, "caps": {"torch": 1_000}},
    "quick": {"step_repeats": 3, "epoch_repeats": 2, "block_seconds": 0.02,
              "budget_seconds": 10, "caps": {"torch": 300, "numpy": 2_000}},
}
# Repeats stop early (but never below MIN_REPEATS, or the requested count if
# smaller) once a workload has used budget_seconds: on a machine where another
# process takes a core, a multi-thread step can be 100x slower than normal.
MIN_REPEATS = 3
# A cell is marked when other processes kept more than this many CPUs busy, on
# average, while it was timed.
DISTURBED = 0.1
# Pause before each timed block when several threads are used (see timed()).
SETTLE_SECONDS = 0.15

# Step check: updated parameters against a float64 NumPy step.  Epoch check:
# parameters after one epoch against the NumPy loop in the same dtype.  Both
# the parameters and their change from the initial ones must agree (relative
# to the largest magnitude in each array): a wrong update can hide in the
# parameters, which it changes little.
STEP_TOL = {"float64": 1e-6, "float32": 1e-3}
EPOCH_TOL = {"float64": 1e-6, "float32": 1e-3}


# ----------------------------------------------------------------- child ---

def _child_main(threads, skip, mode, out_path):
    """Everything measured at one thread count; results as JSON to out_path."""
    # The only reliable limit on JAX: its thread pool follows the CPU affinity
    # (XLA_FLAGS alone still let XLA:CPU run work on several threads), so the
    # process may run on exactly `threads` CPUs.
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
    started = time.perf_counter()
    for name in skip:  # an import of a hidden library raises ImportError
        if name != "numpy":  # NumPy itself is needed: only its timing is skipped
            sys.modules[name] = None
    import numpy as np

    settings = MODES[mode]
    result = {"threads": threads, "skipped": {}, "versions": {}, "checks": [],
              "times": {}, "threads_seen": {}}

    def log(message):
        print(f"[{threads} thread{'s' if threads > 1 else ''}, "
              f"{time.perf_counter() - started:5.1f} s] {message}",
              file=sys.stderr, flush=True)

    if hasattr(os, "sched_getaffinity"):
        result["affinity"] = sorted(os.sched_getaffinity(0))
    mods = {}
    for name in ("fastbp", "torch", "jax"):
        try:
            if name == "jax":
                import jax
                jax.config.update("jax_enable_x64", True)  # for the float64 workloads
                import jax.numpy  # noqa: F401
                mods[name] = jax
            else:
                mods[name] = __import__(name)
            result["versions"][name] = getattr(mods[name], "__version__", "?")
        except ImportError as error:
            result["skipped"][name] = f"not importable ({error})"
    if "torch" in mods:
        mods["torch"].set_num_threads(threads)
        mods["torch"].set_num_interop_threads(1)
    log("imported " + ", ".join(mods))
    if "numpy" in skip:
        result["skipped"]["numpy"] = "hidden by --skip (still the check's reference)"

    # --- workloads: data, initial parameters ---------------------------
    def initial_params(sizes, acts, dtype):
        if "fastbp" in mods:
            net = mods["fastbp"].Network(sizes, acts, dtype=dtype, seed=SEED)
            return [(w.copy(), b.copy()) for w, b in zip(net.weights, net.biases)]
        rng = np.random.default_rng(SEED)  # Glorot uniform, zero biases, as fastbp
        params = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            limit = np.sqrt(6.0 / (n_in + n_out))
            params.append((rng.uniform(-limit, limit, (n_out, n_in)).astype(dtype),
                           np.zeros(n_out, dtype)))
        return params

    def data(sizes, acts, n, dtype, seed):
        rng = np.random.default_rng(seed)
        if sizes[0] == 784:  # MNIST-like pixels in [0, 1)
            X = rng.random((n, sizes[0]), dtype=np.float64).astype(dtype)
        else:
            X = rng.standard_normal((n, sizes[0])).astype(dtype)
        if acts[-1] == "softmax":  # one-hot rows of random classes
            T = np.zeros((n, sizes[-1]), dtype)
            T[np.arange(n), rng.integers(0, sizes[-1], n)] = 1
        else:
            T = rng.uniform(-0.9, 0.9, (n, sizes[-1])).astype(dtype)
        return X, T

    # --- the implementations -------------------------------------------
    # Each: reset(params) restores the parameters, steps(X, T, k) k steps,
    # epoch(X, T, batch, n) the first n samples in order, sync() waits for
    # queued work, params() the parameters as NumPy arrays.

    class Fastbp:
        def __init__(self, sizes, acts, dtype):
            fastbp = mods["fastbp"]
            self.net = fastbp.Network(sizes, acts, dtype=dtype, seed=SEED)
            self.opt = fastbp.SGD(lr=LR)
            self.fit_seconds = []

        def reset(self, params):
            for (w, b), (w0, b0) in zip(zip(self.net.weights, self.net.biases), params):
                w[...] = w0
                b[...] = b0

        def steps(self, X, T, k):
            step, opt = self.net.train_step, self.opt
            for _ in range(k):
                step(X, T, opt, loss="sse")

        def epoch(self, X, T, batch, n):
            history = self.net.fit(X[:n], T[:n], epochs=1, batch_size=batch,
                                   optimizer=self.opt, loss="sse", shuffle=False,
                                   progress=False)
            self.fit_seconds.append(history.time[0])

        def sync(self):
            pass

        def params(self):
            return [(w.copy(), b.copy()) for w, b in zip(self.net.weights, self.net.biases)]

    class PythonLoop:
        """steps and epoch as Python loops calling ``self.step`` on the data as
        ``self.tensors(X, T)`` gives it (the NumPy arrays themselves here)."""

        def tensors(self, X, T):
            return X, T

        def steps(self, X, T, k):
            x, t = self.tensors(X, T)
            step = self.step
            for _ in range(k):
                step(x, t)

        def epoch(self, X, T, batch, n):
            Xt, Tt = self.tensors(X, T)
            step = self.step
            for lo in range(0, n, batch):
                hi = min(lo + batch, n)
                step(Xt[lo:hi], Tt[lo:hi])

        def sync(self):
            pass

    class Numpy(PythonLoop):
        """The derivation written plainly in NumPy, in the workload's dtype."""

        def __init__(self, sizes, acts, dtype):
            self.acts = acts

        def reset(self, params):
            self.W = [w.copy() for w, _ in params]
            self.b = [b.copy() for _, b in params]

        def step(self, x, t):
            W, b, acts = self.W, self.b, self.acts
            outs = [x]
            for i, act in enumerate(acts):
                z = outs[-1] @ W[i].T
                z += b[i]
                if act == "tanh":
                    np.tanh(z, out=z)
                elif act == "softmax":
                    z -= z.max(axis=1, keepdims=True)
                    np.exp(z, out=z)
                    z /= z.sum(axis=1, keepdims=True)
                outs.append(z)
            g = 2 * (outs[-1] - t)  # dL/dY of the sum of squared errors
            for i in range(len(acts) - 1, -1, -1):
                y = outs[i + 1]
                if acts[i] == "tanh":
                    g *= 1 - y * y
                elif acts[i] == "softmax":
                    g = y * (g - (g * y).sum(axis=1, keepdims=True))
                gW = g.T @ outs[i]
                gb = g.sum(axis=0)
                if i > 0:
                    g = g @ W[i]
                W[i] -= LR * gW
                b[i] -= LR * gb

        def params(self):
            return [(w.copy(), b.copy()) for w, b in zip(self.W, self.b)]

    class Torch(PythonLoop):
        """Eager mode: F.linear, autograd.grad, in-place SGD under no_grad."""

        def __init__(self, sizes, acts, dtype):
            torch = mods["torch"]
            self.torch = torch
            fns = {"tanh": torch.tanh, "softmax": lambda z: torch.softmax(z, dim=1),
                   "identity": lambda z: z}
            self.fns = [fns[a] for a in acts]
            self.data_cache = {}

        def reset(self, params):
            torch = self.torch
            self.flat = [torch.tensor(a).requires_grad_() for pair in params for a in pair]

        def tensors(self, X, T):  # views of the NumPy data, made once
            key = (id(X), id(T))
            if key not in self.data_cache:
                self.data_cache[key] = (self.torch.from_numpy(X), self.torch.from_numpy(T))
            return self.data_cache[key]

        def step(self, x, t):
            torch, flat = self.torch, self.flat
            linear = torch.nn.functional.linear
            h = x
            for i, fn in enumerate(self.fns):
                h = fn(linear(h, flat[2 * i], flat[2 * i + 1]))
            loss = torch.sum((h - t) ** 2)
            grads = torch.autograd.grad(loss, flat)
            with torch.no_grad():
                for p, g in zip(flat, grads):
                    p.sub_(g, alpha=LR)

        def params(self):
            f = [p.detach().numpy().copy() for p in self.flat]
            return list(zip(f[0::2], f[1::2]))

    class Jax:
        """One jitted step (parameters donated); the epoch either as a Python
        loop over pre-split device batches, or (scan=True) one jitted
        ``lax.scan`` over the whole epoch."""

        def __init__(self, sizes, acts, dtype, scan=False):
            jax = mods["jax"]
            jnp = jax.numpy
            self.jax, self.jnp, self.scan = jax, jnp, scan
            fns = {"tanh": jnp.tanh, "softmax": lambda z: jax.nn.softmax(z, axis=1),
                   "identity": lambda z: z}
            fns = [fns[a] for a in acts]

            def loss(P, x, t):
                h = x
                for (w, b), fn in zip(P, fns):
                    h = fn(h @ w.T + b)
                return jnp.sum((h - t) ** 2)

            def step(P, x, t):
                grads = jax.grad(loss)(P, x, t)
                return jax.tree.map(lambda p, g: p - LR * g, P, grads)

            def epoch(P, Xb, Tb, Xr, Tr):
                P, _ = jax.lax.scan(lambda P, xt: (step(P, *xt), None), P, (Xb, Tb))
                if Xr.shape[0]:  # the last, smaller batch
                    P = step(P, Xr, Tr)
                return P

            self.step = jax.jit(step, donate_argnums=0)
            self.epoch_fn = jax.jit(epoch, donate_argnums=0)
            self.data_cache = {}

        def reset(self, params):
            jnp = self.jnp
            self.P = [(jnp.array(w), jnp.array(b)) for w, b in params]
            self.sync()

        def device_data(self, X, T, batch=None, n=None):  # made once, outside timing
            key = (id(X), id(T), batch, n, self.scan)
            if key not in self.data_cache:
                jnp = self.jnp
                if batch is None:
                    value = (jnp.asarray(X), jnp.asarray(T))
                elif self.scan:
                    full = n // batch * batch
                    d_in, d_out = X.shape[1], T.shape[1]
                    value = (jnp.asarray(X[:full].reshape(-1, batch, d_in)),
                             jnp.asarray(T[:full].reshape(-1, batch, d_out)),
                             jnp.asarray(X[full:n]), jnp.asarray(T[full:n]))
                else:
                    value = [(jnp.asarray(X[lo:min(lo + batch, n)]),
                              jnp.asarray(T[lo:min(lo + batch, n)]))
                             for lo in range(0, n, batch)]
                self.data_cache[key] = value
            return self.data_cache[key]

        def steps(self, X, T, k):
            x, t = self.device_data(X, T)
            step, P = self.step, self.P
            for _ in range(k):
                P = step(P, x, t)
            self.P = P

        def epoch(self, X, T, batch, n):
            if self.scan:
                self.P = self.epoch_fn(self.P, *self.device_data(X, T, batch, n))
                return
            step, P = self.step, self.P
            for x, t in self.device_data(X, T, batch, n):
                P = step(P, x, t)
            self.P = P

        def sync(self):
            self.jax.block_until_ready(self.P)

        def params(self):
            return [(np.array(w), np.array(b)) for w, b in self.P]

    def make(impl, sizes, acts, dtype):
        if impl == "fastbp":
            return Fastbp(sizes, acts, dtype)
        if impl == "numpy":
            return Numpy(sizes, acts, dtype)
        if impl == "torch":
            return Torch(sizes, acts, dtype)
        return Jax(sizes, acts, dtype, scan=(impl == "jax-scan"))

    def available(impl, epoch):
        base = "jax" if impl == "jax-scan" else impl
        if base in skip or (base != "numpy" and base not in mods):
            return False
        return epoch or impl != "jax-scan"

    # --- checks ----------------------------------------------------------
    def reference_step(params, acts, X, T):
        ref = Numpy(None, acts, None)
        ref.reset([(w.astype(np.float64), b.astype(np.float64)) for w, b in params])
        ref.step(X.astype(np.float64), T.astype(np.float64))
        return ref.params()

    def errors(got, want, start):
        """(max relative error of the parameters, of their change), each
        relative to the largest magnitude in the array."""
        e_param = e_update = 0.0
        for g_pair, w_pair, s_pair in zip(got, want, start):
            for g, w, s in zip(g_pair, w_pair, s_pair):
                g, w, s = (np.asarray(a, np.float64) for a in (g, w, s))
                e_param = max(e_param, np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-300))
                change = w - s
                e_update = max(e_update, np.max(np.abs((g - s) - change))
                               / max(np.max(np.abs(change)), 1e-300))
        return float(e_param), float(e_update)

    def record_check(kind, workload, impl, got, want, start, tol):
        e_param, e_update = errors(got, want, start)
        ok = e_param <= tol and e_update <= tol
        result["checks"].append({"kind": kind, "workload": workload, "impl": impl,
                                 "param": e_param, "update": e_update, "tol": tol, "ok": ok})
        if not ok:
            log(f"CHECK FAILED: {kind} {workload} {impl}: parameters differ by "
                f"{e_param:.2e}, their change by {e_update:.2e} (relative), tolerance {tol:g}")
        return ok

    # --- timing ------------------------------------------------------------
    def timed(runner, params, work, settle=True):
        """(wall seconds, CPU seconds, CPU seconds of other processes) of
        work(), from the initial parameters."""
        runner.reset(params)
        runner.sync()
        if threads > 1 and settle:
            # Idle worker threads of the library timed before keep spinning
            # for a while (OpenBLAS up to ~0.1 s), taking a core from this
            # one: wait them out.  Busy-wait, not sleep: a block started right
            # after a sleep runs slower (the tiny step by 20-60% here).
            until = time.perf_counter() + SETTLE_SECONDS
            while time.perf_counter() < until:
                pass
        busy0 = _busy_cpu_seconds()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        work()
        runner.sync()
        wall, used = time.perf_counter() - wall0, time.process_time() - cpu0
        # (clipped only in total: a block is shorter than a few clock ticks)
        others = 0.0 if busy0 is None else _busy_cpu_seconds() - busy0 - used
        return wall, used, others

    def calibrate(runner, params, X, T):
        """Steps per timed block: enough for block_seconds.  Measured on
        blocks of a quarter of that (the best of three), as one step can be
        far slower than the next (a thread pool waking up)."""
        k, target = 1, settings["block_seconds"]
        while True:
            wall = min(timed(runner, params, lambda: runner.steps(X, T, k), settle=False)[0]
                       for _ in range(3))
            if wall >= target / 4 or k >= 100_000:
                return max(1, min(100_000, round(k * target / wall)))
            k *= 4

    def repeats(wanted):
        """range(wanted), cut short once the workload has used its budget."""
        start = time.perf_counter()
        for r in range(wanted):
            if (r >= min(MIN_REPEATS, wanted)
                    and time.perf_counter() - start > settings["budget_seconds"]):
                log(f"time budget used: {r} of {wanted} repeats")
                return
            yield r

    def store(workload, impl, samples, cpu, extra=None):
        others, wall = disturbed[impl]
        entry = {"median": statistics.median(samples), "all": samples,
                 "repeats": len(samples), "cpu_ratio": cpu,
                 # /proc/stat counts in clock ticks: judged only over enough time
                 "others": max(0.0, others / wall) if wall >= 0.5 else None}
        entry.update(extra or {})
        result["times"].setdefault(workload, {})[impl] = entry

    def finish(ok):
        """Write the results (the checks' verdict first); the exit status."""
        # --- what the libraries report about their threads ---------------------
        seen = result["threads_seen"]
        if "fastbp" in mods:
            import numba
            seen["numba"] = numba.get_num_threads()
            seen["numba threading layer"] = numba.threading_layer() if _numba_ran() else "n/a"
        if "torch" in mods:
            seen["torch"] = mods["torch"].get_num_threads()
        try:
            import threadpoolctl
            for info in threadpoolctl.threadpool_info():
                parts = pathlib.Path(info.get("filepath", "?")).parts
                owner = (parts[parts.index("site-packages") + 1] if "site-packages" in parts
                         else parts[-1] if parts else "?")
                seen[f"{info.get('internal_api')} ({owner})"] = info.get("num_threads")
        except ImportError:
            pass
        result["checks_ok"] = bool(ok)
        with open(out_path, "w") as stream:
            json.dump(result, stream)
        return 0 if ok else 1

    def interleaved(runners, params, n_repeats, disturbed, job):
        """Time every runner in turn, the order rotated each repeat, so that a
        change in the machine's speed falls on all of them alike.

        ``job(impl)`` gives (a callable doing one block of work, how many units
        the block holds).  Returns ({impl: seconds per unit}, {impl: [CPU/wall]});
        ``disturbed`` receives {impl: [CPU seconds of other processes, wall seconds]}.
        """
        samples = {impl: [] for impl in runners}
        cpu = {impl: [] for impl in runners}
        disturbed.clear()
        disturbed.update({impl: [0.0, 0.0] for impl in runners})
        order = list(runners)
        for r in repeats(n_repeats):
            for impl in order[r % len(order):] + order[:r % len(order)]:
                work, units = job(impl)
                wall, used, others = timed(runners[impl], params, work)
                samples[impl].append(wall / units)
                cpu[impl].append(used / wall)
                disturbed[impl][0] += others
                disturbed[impl][1] += wall
        return samples, cpu

    all_ok = True
    disturbed = {}  # impl -> [CPU seconds of other processes, wall seconds]

    # --- step workloads ---------------------------------------------------
    for w_index, (name, (sizes, acts, batch, dtype)) in enumerate(STEP_WORKLOADS.items()):
        params = initial_params(sizes, acts, dtype)
        X, T = data(sizes, acts, batch, dtype, seed=100 + w_index)
        want = reference_step(params, acts, X, T)
        runners, blocks = {}, {}
        for impl in IMPLS:
            if not available(impl, epoch=False):
                continue
            runner = make(impl, sizes, acts, dtype)
            runner.reset(params)
            runner.steps(X, T, 1)  # compiles; also the step checked
            runner.sync()
            all_ok &= record_check("step", name, impl, runner.params(), want, params,
                                   STEP_TOL[dtype])
            blocks[impl] = calibrate(runner, params, X, T)
            runners[impl] = runner
        if not all_ok:
            return finish(False)  # no timing of implementations that disagree
        log(f"{name}: checked, timing {', '.join(f'{i} x{k}' for i, k in blocks.items())}")
        samples, cpu = interleaved(
            runners, params, settings["step_repeats"], disturbed,
            lambda impl: (lambda: runners[impl].steps(X, T, blocks[impl]), blocks[impl]))
        for impl in runners:
            store(name, impl, samples[impl], max(cpu[impl]), {"steps_per_block": blocks[impl]})

    # --- epoch workloads ---------------------------------------------------
    for w_index, (name, (base, n, batch)) in enumerate(EPOCH_WORKLOADS.items()):
        sizes, acts, _, dtype = STEP_WORKLOADS[base]
        params = initial_params(sizes, acts, dtype)
        X, T = data(sizes, acts, n, dtype, seed=200 + w_index)
        caps = settings["caps"] if name == "tiny-epoch" else {}
        reference = {}  # samples -> parameters after the NumPy loop

        def numpy_epoch(count):
            if count not in reference:
                ref = Numpy(sizes, acts, dtype)
                ref.reset(params)
                ref.epoch(X, T, batch, count)
                reference[count] = ref.params()
            return reference[count]

        runners, counts, blocks = {}, {}, {}
        for impl in IMPLS:
            if not available(impl, epoch=True):
                continue
            count = min(n, caps.get(impl, n))
            runner = make(impl, sizes, acts, dtype)
            runner.reset(params)
            first = time.perf_counter()
            runner.epoch(X, T, batch, count)  # compiles; also the epoch checked
            runner.sync()
            first = time.perf_counter() - first
            if impl == "numpy" and count not in reference:
                reference[count] = runner.params()
            all_ok &= record_check("epoch", name, impl, runner.params(), numpy_epoch(count),
                                   params, EPOCH_TOL[dtype])
            # Epochs shorter than a block are timed several to a block
            # (the first run includes compilation: re-measure short ones).
            if first < 1.0:
                first = timed(runner, params, lambda: runner.epoch(X, T, batch, count))[0]
            blocks[impl] = max(1, round(settings["block_seconds"] / first))
            if impl == "fastbp":
                runner.fit_seconds.clear()
            runners[impl], counts[impl] = runner, count
        if not all_ok:
            return finish(False)  # no timing of implementations that disagree
        log(f"{name}: checked, timing {', '.join(f'{i} x{k}' for i, k in blocks.items())}")
        def epochs(impl):
            runner, count, k = runners[impl], counts[impl], blocks[impl]

            def work():
                for _ in range(k):
                    runner.epoch(X, T, batch, count)

            return work, k * count / n  # per sample timed, scaled to the whole epoch

        samples, cpu = interleaved(runners, params, settings["epoch_repeats"], disturbed,
                                   epochs)
        for impl in runners:
            extra = {"samples_timed": counts[impl], "samples": n,
                     "epochs_per_block": blocks[impl]}
            if impl == "fastbp":
                extra["compiled_epoch"] = statistics.median(runners[impl].fit_seconds)
            store(name, impl, samples[impl], max(cpu[impl]), extra)

    return finish(all_ok)


def _numba_ran():
    """Whether numba has started a threading layer (asking otherwise raises)."""
    import numba
    try:
        numba.threading_layer()
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------- parent ---

def _thread_env(threads):
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[name] = str(threads)
    # XLA has no thread-count flag that holds in jaxlib 0.10 (these two, the
    # customary ones, still let it compute on several threads): the child's
    # CPU affinity is what limits JAX; it sizes its thread pool from it.
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    else:
        env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONWARNINGS"] = "ignore"
    # numba's on-disk cache is keyed by each kernel's own file only: a cache
    # kept across an edit of a helper in another module is loaded stale.  A
    # directory per version of fastbp's sources avoids timing old code.
    env["NUMBA_CACHE_DIR"] = str(pathlib.Path(tempfile.gettempdir())
                                 / "fastbp-compare-numba-cache" / _fastbp_digest())
    return env


def _fastbp_digest():
    spec = importlib.util.find_spec("fastbp")
    if spec is None or not spec.submodule_search_locations:
        return "none"
    root = pathlib.Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def _machine():
    model, cores, flags = platform.processor() or "unknown CPU", None, ""
    family = cpu_model = None
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and model in ("unknown CPU", platform.processor()):
                model = value
            elif key == "cpu cores" and cores is None:
                cores = value
            elif key == "flags" and not flags:
                flags = value
            elif key == "cpu family" and family is None:
                family = value
            elif key == "model" and cpu_model is None:
                cpu_model = value
    except OSError:
        pass
    extras = [name for name in ("avx2", "avx512f") if name in flags.split()]
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    text = model
    if family is not None:
        text += f" (family {family}, model {cpu_model})"
    text += f", {cores or '?'} cores per socket, {logical} logical CPUs ({usable} usable)"
    if extras:
        text += ", " + "/".join(extras).upper()
    try:
        load = pathlib.Path("/proc/loadavg").read_text().split()[:3]
        text += f"; load average at start {' '.join(load)}"
    except OSError:
        pass
    return text


def _versions():
    from importlib import metadata
    found = {"python": platform.python_version()}
    for name in ("fastbp", "numpy", "numba", "scipy", "torch", "jax", "jaxlib"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        spec = importlib.util.find_spec("fastbp")
        where = pathlib.Path(next(iter(spec.submodule_search_locations))).parent
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--",
                                "fastbp"], capture_output=True, text=True, timeout=10).stdout
        if commit:
            found["fastbp"] += f" (git {commit}{', fastbp/ modified' if dirty.strip() else ''})"
    except (Exception, SystemExit):
        pass
    return found


def _format_time(seconds):
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"


def _table(results, thread_counts, markdown):
    """Rows: workloads; columns: implementation x threads, then the ratios."""
    impls = [i for i in IMPLS if any(i in r["times"].get(w, {})
                                     for r in results.values() for w in r["times"])]
    rows = []
    names = list(STEP_WORKLOADS) + list(EPOCH_WORKLOADS)
    for name in names:
        unit = "epoch" if name in EPOCH_WORKLOADS else "step"
        row = [f"{name} (per {unit})"]
        for impl in impls:
            for n in thread_counts:
                entry = results[n]["times"].get(name, {}).get(impl)
                cell = _format_time(entry["median"] if entry else None)
                if entry and entry.get("samples_timed", 0) < entry.get("samples", 0):
                    cell += "*"
                if entry and (entry.get("others") or 0.0) > DISTURBED:
                    cell += "!"
                row.append(cell)
        for n in thread_counts:
            times = results[n]["times"].get(name, {})
            peers = [times[i]["median"] for i in ("torch", "jax", "jax-scan") if i in times]
            if "fastbp" in times and peers:
                row.append(f"{min(peers) / times['fastbp']['median']:.3g}")
            else:
                row.append("—")
        rows.append(row)
    suffix = {n: f"{n} thr" for n in thread_counts}
    if markdown:
        header = (["workload"] + [f"{LABELS[i]} {suffix[n]}" for i in impls for n in thread_counts]
                  + [f"fastbp vs best peer {suffix[n]}" for n in thread_counts])
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    second = ["workload"] + [suffix[n] for _ in impls for n in thread_counts] + \
             [suffix[n] for n in thread_counts]
    widths = [max(len(r[c]) for r in rows + [second]) for c in range(len(second))]
    # each group title spans its thread columns, widened to fit it
    titles = [LABELS[i] for i in impls] + ["fastbp vs best peer"]
    k = len(thread_counts)
    for g, label in enumerate(titles):
        cols = range(1 + g * k, 1 + (g + 1) * k)
        while sum(widths[c] for c in cols) + 2 * (k - 1) < len(label):
            widths[min(cols, key=lambda c: widths[c])] += 1
    groups = []
    for g, label in enumerate(titles):
        span = widths[1 + g * k:1 + (g + 1) * k]
        groups.append(label.center(sum(span) + 2 * (k - 1)))
    def line(cells):  # the workload name left-aligned, the figures right-aligned
        return "  ".join(c.rjust(w) if i else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    first_line = " " * widths[0] + "  " + "  ".join(groups)
    lines = [first_line.rstrip(), line(second), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    lines += [line(row) for row in rows]
    return "\n".join(lines)


def _busy_cpu_seconds():
    """CPU seconds all processes have used since boot (None off Linux)."""
    try:
        fields = pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _wait_idle(limit, window=3.0, threshold=DISTURBED):
    """Wait (up to limit seconds) until the CPUs stay idle for a window;
    returns the seconds waited."""
    start = time.perf_counter()
    while True:
        before = _busy_cpu_seconds()
        if before is None:
            return 0.0
        time.sleep(window)
        busy = (_busy_cpu_seconds() - before) / window
        if busy <= threshold:
            return time.perf_counter() - start
        if time.perf_counter() - start > limit:
            print(f"still busy ({busy:.2f} CPUs) after {limit:g} s; measuring anyway",
                  file=sys.stderr, flush=True)
            return time.perf_counter() - start
        print(f"waiting for the machine to go idle ({busy:.2f} CPUs busy) ...",
              file=sys.stderr, flush=True)


def _children_cpu_seconds():
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _parent(args):
    started = time.perf_counter()
    other_seconds, measured_seconds, waited = 0.0, 0.0, 0.0
    mode = "quick" if args.quick else "full"
    skip = [s for s in (args.skip or "").split(",") if s]
    unknown = [s for s in skip if s not in OPTIONAL]
    if unknown:
        sys.exit(f"--skip: unknown {', '.join(unknown)}; choose from {', '.join(OPTIONAL)}")
    thread_counts = [int(n) for n in args.threads.split(",")]
    results, failed = {}, False
    for n in thread_counts:
        if args.wait_idle:
            waited += _wait_idle(args.wait_idle)
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out_path = handle.name
        command = [sys.executable, os.path.abspath(__file__), "--child", str(n),
                   "--out", out_path, "--mode", mode, "--skip", ",".join(skip)]
        print(f"measuring with {n} thread{'s' if n > 1 else ''} ...", file=sys.stderr, flush=True)
        busy0, ours0, wall0 = _busy_cpu_seconds(), _children_cpu_seconds(), time.perf_counter()
        code = subprocess.run(command, env=_thread_env(n)).returncode
        if busy0 is not None:  # what other processes took meanwhile
            other_seconds += (_busy_cpu_seconds() - busy0) - (_children_cpu_seconds() - ours0)
            measured_seconds += time.perf_counter() - wall0
        try:
            with open(out_path) as stream:
                results[n] = json.load(stream)
        except (OSError, ValueError):
            sys.exit(f"the {n}-thread measurement failed (exit code {code}) before reporting")
        finally:
            os.unlink(out_path)
        failed |= not results[n]["checks_ok"]
        if failed:
            break
    elapsed = time.perf_counter() - started - waited
    others = max(0.0, other_seconds / measured_seconds) if measured_seconds else None
    _report(args, mode, [n for n in thread_counts if n in results], results, elapsed, others,
            failed)
    if failed:
        print("\nCHECK FAILED: an implementation does not compute the same step (see above); "
              "the run stopped at the first disagreement")
        return 1
    return 0


def _report(args, mode, thread_counts, results, elapsed, others, failed=False):
    settings = MODES[mode]
    versions = _versions()
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable] + sys.argv))
    lines = []
    out = lines.append
    out(f"fastbp peer comparison, {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    out(f"command:  {command}")
    out(f"machine:  {_machine()}")
    out("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    first = results[thread_counts[0]]
    for name, why in first["skipped"].items():
        out(f"skipped:  {name}: {why}")
    out(f"mode:     {mode}: median of {settings['step_repeats']} repeats per step workload "
        f"(each a block of >= {settings['block_seconds'] * 1e3:g} ms of steps), "
        f"{settings['epoch_repeats']} per epoch; SGD lr {LR:g}, loss = sum of squared errors")
    out("")
    out("One training step = forward, backward (loss = sum of squared errors, also after "
        "softmax), plain SGD update:")
    for name, (sizes, acts, batch, dtype) in STEP_WORKLOADS.items():
        out(f"  {name:6s} {sizes} {','.join(acts)}, batch {batch}, {dtype}")
    for name, (base, n, batch) in EPOCH_WORKLOADS.items():
        out(f"  {name:12s} one epoch of {n:,} random samples of `{base}` in order, batches "
            f"of {batch}")
    out("")
    # --- checks --------------------------------------------------------
    for n in thread_counts:
        by_kind = {}
        for c in results[n]["checks"]:
            by_kind.setdefault(c["kind"], []).append(c)
        for kind, checks in by_kind.items():
            verdict = "all agree" if all(c["ok"] for c in checks) else "DISAGREEMENT"
            what = ("one step from the same initial parameters vs a float64 NumPy step"
                    if kind == "step" else "parameters after the warm-up epoch vs the "
                    "NumPy loop in the same dtype")
            out(f"check ({n} thr), {what}: {verdict}; largest relative error of the "
                "parameters (of their change):")
            per_workload = {}
            for c in checks:
                per_workload.setdefault(c["workload"], []).append(
                    f"{c['impl']} {c['param']:.1e} ({c['update']:.1e})"
                    + ("" if c["ok"] else " FAIL"))
            for workload, items in per_workload.items():
                tol = next(c["tol"] for c in checks if c["workload"] == workload)
                out(f"  {workload:12s} tol {tol:g}: " + ", ".join(items))
    if failed:
        _emit(lines, args.markdown)
        return
    _emit(lines, args.markdown)
    print()
    print(_table(results, thread_counts, args.markdown))
    print()
    lines = []
    out = lines.append
    # --- notes -----------------------------------------------------------
    out("Cells: median time per step (per epoch for the -epoch rows).  'fastbp vs best peer': "
        "the faster of PyTorch and JAX (jit or lax.scan) at the same thread count divided by "
        "fastbp's time; above 1 fastbp is faster.")
    tiny = {n: results[n]["times"].get("tiny-epoch", {}) for n in thread_counts}
    capped = sorted({i for n in thread_counts for i, e in tiny[n].items()
                     if e.get("samples_timed", 0) < e.get("samples", 0)})
    for impl in capped:
        e = tiny[thread_counts[0]][impl]
        out(f"* {LABELS[impl]} tiny-epoch: {e['samples_timed']:,} of {e['samples']:,} samples "
            f"timed, scaled by {e['samples'] / e['samples_timed']:.3g}.")
    marked = [f"{w} {LABELS[i]} {n} thr ({e['others']:.2f})"
              for n in thread_counts for w, times in results[n]["times"].items()
              for i, e in times.items() if (e.get("others") or 0.0) > DISTURBED]
    if marked:
        out(f"! other processes kept more than {DISTURBED:g} CPU busy on average while the cell "
            f"was timed ({len(marked)} cells); worst: "
            + ", ".join(sorted(marked, key=lambda m: -float(m.rsplit("(", 1)[1][:-1]))[:3])
            + ".  Re-run on a quiet machine (--wait-idle) before trusting those.")
    short = []
    for n in thread_counts:
        for workload, times in results[n]["times"].items():
            wanted = settings["epoch_repeats" if workload in EPOCH_WORKLOADS else "step_repeats"]
            got = min(e["repeats"] for e in times.values())
            if got < wanted:
                short.append(f"{workload} {n} thr: {got} of {wanted}")
    if short:
        out("Time budget reached, fewer repeats: " + "; ".join(short) + ".")
    per_step = []
    for impl in IMPLS:
        cells = [(_format_time(tiny[n][impl]["median"] / tiny[n][impl]["samples"]))
                 if impl in tiny[n] else "—" for n in thread_counts]
        if any(c != "—" for c in cells):
            per_step.append(f"{LABELS[impl]} {' / '.join(cells)}")
    if per_step:
        out(f"tiny-epoch per step ({' / '.join(f'{n} thr' for n in thread_counts)}): "
            + ", ".join(per_step))
    inner = []
    for name in EPOCH_WORKLOADS:
        cells = []
        for n in thread_counts:
            e = results[n]["times"].get(name, {}).get("fastbp")
            if e and "compiled_epoch" in e:
                cells.append(f"{_format_time(e['compiled_epoch'])} of {_format_time(e['median'])}")
        if cells:
            inner.append(f"{name} {' / '.join(cells)}")
    if inner:
        out("fastbp fit: the compiled epoch alone (fit's history.time) of the whole fit call "
            f"({' / '.join(f'{n} thr' for n in thread_counts)}): " + "; ".join(inner))
    present = {i for r in results.values() for times in r["times"].values() for i in times}
    if "jax" in present:
        out("JAX jit: a Python loop calling the jitted step (parameters donated) on batches "
            "already on the device; JAX lax.scan: the whole epoch as one jitted scan.")
    if "torch" in present:
        out("PyTorch: F.linear, autograd.grad, in-place update under no_grad.")
    for n in thread_counts:
        r = results[n]
        ratios = {}
        for workload, times in r["times"].items():
            for impl, e in times.items():
                ratios[impl] = max(ratios.get(impl, 0.0), e["cpu_ratio"])
        seen = ", ".join(f"{k} {v}" for k, v in r["threads_seen"].items())
        cpus = r.get("affinity")
        pinned = ""
        if cpus:
            pinned = f"process on CPU{'s' if len(cpus) > 1 else ''} {','.join(map(str, cpus))}; "
        out(f"threads ({n} thr): {pinned}libraries report {seen or 'nothing'}; largest CPU "
            "time / wall time of a timed block: "
            + ", ".join(f"{LABELS[i]} {v:.2f}" for i, v in ratios.items()))
    minutes, seconds = divmod(round(elapsed), 60)
    out(f"Run time {minutes}m {seconds:02d}s (all thread counts, compilation included, "
        "waiting for an idle machine excluded).")
    if others is not None:
        out(f"Other processes kept {others:.2f} of the {os.cpu_count()} CPUs busy on average "
            "during the run" + (": the figures are disturbed, the multi-thread ones most (a "
                                "thread that waits for a core stalls the others)."
                                if others > DISTURBED else "."))
    _emit(lines, args.markdown)


def _emit(lines, markdown):
    """Print report text; in Markdown inside a fence, so it renders as printed."""
    if markdown:
        print("```text")
    print("\n".join(lines))
    if markdown:
        print("```")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats: about a minute")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--skip", default="", help="comma-separated implementations to treat "
                        f"as not installed ({', '.join(OPTIONAL)})")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each thread count, wait up to SECONDS for the other "
                        "processes to leave the CPUs idle")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        skip = [s for s in args.skip.split(",") if s]
        return _child_main(args.child, skip, args.mode, args.out)
    return _parent(args)


if __name__ == "__main__":
    sys.exit(main())
