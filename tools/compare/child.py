"""The child process: every implementation checked, then timed, at one thread count.

Imported only in the child, once ``runner`` has limited its CPU affinity and
hidden the skipped libraries: NumPy, numba, PyTorch and JAX size their thread
pools when they load.
"""
import importlib
import json
import pathlib
import statistics
import sys
import time

import hardware
from compare import checks, peak, peers, system, workloads
from compare.settings import MIN_REPEATS, MODES, PEAK_SIZE, SETTLE_SECONDS


def import_libraries(result):
    """{name: module} of fastbp, torch and jax, those importable; records
    their versions, or why they are skipped, in ``result``."""
    libraries = {}
    for name in ("fastbp", "torch", "jax"):
        try:
            if name == "jax":
                import jax
                jax.config.update("jax_enable_x64", True)  # for the float64 workloads
                import jax.numpy  # noqa: F401
                libraries[name] = jax
            else:
                libraries[name] = importlib.import_module(name)
            result["versions"][name] = getattr(libraries[name], "__version__", "?")
        except ImportError as error:
            result["skipped"][name] = f"not importable ({error})"
    return libraries


def _numba_ran():
    """Whether numba has started a threading layer (asking otherwise raises)."""
    import numba
    try:
        numba.threading_layer()
        return True
    except ValueError:
        return False


def threads_seen(libraries):
    """{what: threads} as numba, torch and the BLAS/OpenMP pools report them."""
    seen = {}
    if "fastbp" in libraries:
        import numba
        seen["numba"] = numba.get_num_threads()
        seen["numba threading layer"] = numba.threading_layer() if _numba_ran() else "n/a"
    if "torch" in libraries:
        seen["torch"] = libraries["torch"].get_num_threads()
    try:
        import threadpoolctl
        for info in threadpoolctl.threadpool_info():
            parts = pathlib.Path(info.get("filepath", "?")).parts
            owner = (parts[parts.index("site-packages") + 1] if "site-packages" in parts
                     else parts[-1] if parts else "?")
            seen[f"{info.get('internal_api')} ({owner})"] = info.get("num_threads")
    except ImportError:
        pass
    return seen


class Measurement:
    """The checks and timings of one child; results gathered in ``result``."""

    def __init__(self, threads, skip, mode, started, libraries, result):
        self.threads, self.skip, self.started = threads, skip, started
        self.settings = MODES[mode]
        self.libraries, self.result = libraries, result
        self.disturbed = {}  # impl -> [CPU seconds of other processes, wall seconds]

    def log(self, message):
        print(f"[{self.threads} thread{'s' if self.threads > 1 else ''}, "
              f"{time.perf_counter() - self.started:5.1f} s] {message}",
              file=sys.stderr, flush=True)

    def available(self, impl, epoch):
        base = peers.library(impl)
        if base in self.skip or (base != "numpy" and base not in self.libraries):
            return False
        return epoch or impl not in peers.EPOCH_ONLY

    def initial_params(self, sizes, acts, dtype):
        return workloads.initial_params(sizes, acts, dtype, self.libraries.get("fastbp"))

    def record_check(self, kind, workload, impl, got, want, start, tol):
        e_param, e_update = checks.errors(got, want, start)
        ok = e_param <= tol and e_update <= tol
        self.result["checks"].append({"kind": kind, "workload": workload, "impl": impl,
                                      "param": e_param, "update": e_update, "tol": tol,
                                      "ok": ok})
        if not ok:
            self.log(f"CHECK FAILED: {kind} {workload} {impl}: parameters differ by "
                     f"{e_param:.2e}, their change by {e_update:.2e} (relative), "
                     f"tolerance {tol:g}")
        return ok

    def timed(self, runner, params, work, settle=True):
        """(wall seconds, CPU seconds, CPU seconds of other processes) of
        work(), from the initial parameters."""
        runner.reset(params)
        runner.sync()
        if self.threads > 1 and settle:
            # Idle worker threads of the library timed before keep spinning
            # for a while (OpenBLAS up to ~0.1 s), taking a core from this
            # one: wait them out.  Busy-wait, not sleep: a block started right
            # after a sleep runs slower.
            until = time.perf_counter() + SETTLE_SECONDS
            while time.perf_counter() < until:
                pass
        busy0 = system.busy_cpu_seconds()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        work()
        runner.sync()
        wall, used = time.perf_counter() - wall0, time.process_time() - cpu0
        # (clipped only in total: a block is shorter than a few clock ticks)
        others = 0.0 if busy0 is None else system.busy_cpu_seconds() - busy0 - used
        return wall, used, others

    def calibrate(self, runner, params, X, T):
        """Steps per timed block: enough for block_seconds.  Measured on
        blocks of a quarter of that (the best of three), as one step can be
        far slower than the next (a thread pool waking up)."""
        k, target = 1, self.settings["block_seconds"]
        while True:
            wall = min(self.timed(runner, params, lambda: runner.steps(X, T, k),
                                  settle=False)[0] for _ in range(3))
            if wall >= target / 4 or k >= 100_000:
                return max(1, min(100_000, round(k * target / wall)))
            k *= 4

    def repeats(self, wanted):
        """range(wanted), cut short once the workload has used its budget."""
        start = time.perf_counter()
        for r in range(wanted):
            if (r >= min(MIN_REPEATS, wanted)
                    and time.perf_counter() - start > self.settings["budget_seconds"]):
                self.log(f"time budget used: {r} of {wanted} repeats")
                return
            yield r

    def interleaved(self, runners, params, n_repeats, job):
        """Time every runner in turn, the order rotated each repeat, so that a
        change in the machine's speed falls on all of them alike.

        ``job(impl)`` gives (a callable doing one block of work, how many units
        the block holds).  Returns ({impl: seconds per unit}, {impl: [CPU/wall]});
        ``self.disturbed`` receives {impl: [CPU seconds of other processes,
        wall seconds]}.
        """
        samples = {impl: [] for impl in runners}
        cpu = {impl: [] for impl in runners}
        self.disturbed = {impl: [0.0, 0.0] for impl in runners}
        order = list(runners)
        for r in self.repeats(n_repeats):
            for impl in order[r % len(order):] + order[:r % len(order)]:
                work, units = job(impl)
                wall, used, others = self.timed(runners[impl], params, work)
                samples[impl].append(wall / units)
                cpu[impl].append(used / wall)
                self.disturbed[impl][0] += others
                self.disturbed[impl][1] += wall
        return samples, cpu

    def store(self, workload, impl, samples, cpu, extra=None):
        others, wall = self.disturbed[impl]
        entry = {"median": statistics.median(samples), "all": samples,
                 "repeats": len(samples), "cpu_ratio": cpu,
                 # /proc/stat counts in clock ticks: judged only over enough time
                 "others": max(0.0, others / wall) if wall >= 0.5 else None}
        entry.update(extra or {})
        self.result["times"].setdefault(workload, {})[impl] = entry

    def step_workload(self, name):
        """Check every implementation's step on one workload, then time the
        steps if all agree; whether they did."""
        sizes, acts, batch, dtype = workloads.STEP_WORKLOADS[name]
        lr = workloads.learning_rate(name)
        params = self.initial_params(sizes, acts, dtype)
        X, T = workloads.data(sizes, acts, batch, dtype, workloads.data_seed(name))
        want = checks.reference_step(params, acts, X, T, lr)
        runners, blocks, ok = {}, {}, True
        for impl in peers.IMPLS:
            if not self.available(impl, epoch=False):
                continue
            runner = peers.make(impl, sizes, acts, dtype, lr)
            runner.reset(params)
            runner.steps(X, T, 1)  # compiles; also the step checked
            runner.sync()
            ok &= self.record_check("step", name, impl, runner.params(), want, params,
                                    checks.STEP_TOL[dtype])
            blocks[impl] = self.calibrate(runner, params, X, T)
            runners[impl] = runner
        if not ok:
            return False  # no timing of implementations that disagree
        self.log(f"{name}: checked, timing {', '.join(f'{i} x{k}' for i, k in blocks.items())}")
        samples, cpu = self.interleaved(
            runners, params, self.settings["step_repeats"],
            lambda impl: (lambda: runners[impl].steps(X, T, blocks[impl]), blocks[impl]))
        for impl in runners:
            self.store(name, impl, samples[impl], max(cpu[impl]),
                       {"steps_per_block": blocks[impl]})
        return True

    def epoch_runners(self, name, params, X, T):
        """({impl: runner}, {impl: samples timed}, {impl: epochs per block}) of
        the implementations available, each checked after its warm-up epoch;
        whether all agree."""
        _, n, batch = workloads.EPOCH_WORKLOADS[name]
        sizes, acts, dtype = workloads.network(name)
        lr = workloads.learning_rate(name)
        caps = self.settings["caps"] if name == "tiny-epoch" else {}
        reference = {}  # samples -> parameters after the NumPy loop
        runners, counts, blocks, ok = {}, {}, {}, True
        for impl in peers.IMPLS:
            if not self.available(impl, epoch=True):
                continue
            count = min(n, caps.get(impl, n))
            runner = peers.make(impl, sizes, acts, dtype, lr)
            runner.reset(params)
            first = time.perf_counter()
            runner.epoch(X, T, batch, count)  # compiles; also the epoch checked
            runner.sync()
            first = time.perf_counter() - first
            if impl == "numpy" and count not in reference:
                reference[count] = runner.params()
            if count not in reference:
                numpy_loop = peers.make("numpy", sizes, acts, dtype, lr)
                numpy_loop.reset(params)
                numpy_loop.epoch(X, T, batch, count)
                reference[count] = numpy_loop.params()
            ok &= self.record_check("epoch", name, impl, runner.params(), reference[count],
                                    params, checks.EPOCH_TOL[dtype])
            # Epochs shorter than a block are timed several to a block
            # (the first run includes compilation: re-measure short ones).
            if first < 1.0:
                first = self.timed(runner, params, lambda: runner.epoch(X, T, batch, count))[0]
            blocks[impl] = max(1, round(self.settings["block_seconds"] / first))
            if impl == "fastbp":
                runner.fit_seconds.clear()
            runners[impl], counts[impl] = runner, count
        return runners, counts, blocks, ok

    def epoch_workload(self, name):
        """Check every implementation's epoch on one workload, then time the
        epochs if all agree; whether they did."""
        _, n, batch = workloads.EPOCH_WORKLOADS[name]
        sizes, acts, dtype = workloads.network(name)
        params = self.initial_params(sizes, acts, dtype)
        X, T = workloads.data(sizes, acts, n, dtype, workloads.data_seed(name))
        runners, counts, blocks, ok = self.epoch_runners(name, params, X, T)
        if not ok:
            return False  # no timing of implementations that disagree
        self.log(f"{name}: checked, timing {', '.join(f'{i} x{k}' for i, k in blocks.items())}")

        def epochs(impl):
            runner, count, k = runners[impl], counts[impl], blocks[impl]

            def work():
                for _ in range(k):
                    runner.epoch(X, T, batch, count)

            return work, k * count / n  # per sample timed, scaled to the whole epoch

        samples, cpu = self.interleaved(runners, params, self.settings["epoch_repeats"],
                                        epochs)
        for impl in runners:
            extra = {"samples_timed": counts[impl], "samples": n,
                     "epochs_per_block": blocks[impl]}
            if impl == "fastbp":
                extra["compiled_epoch"] = statistics.median(runners[impl].fit_seconds)
            self.store(name, impl, samples[impl], max(cpu[impl]), extra)
        return True


def main(threads, skip, mode, out_path, names, started):
    """Measure the workloads ``names`` and write the results as JSON to
    out_path (the checks' verdict first); the exit status."""
    result = {"threads": threads, "skipped": {}, "versions": {}, "checks": [], "times": {},
              "threads_seen": {}, "affinity": system.affinity()}
    libraries = import_libraries(result)
    if "torch" in libraries:
        libraries["torch"].set_num_threads(threads)
        libraries["torch"].set_num_interop_threads(1)
    measurement = Measurement(threads, skip, mode, started, libraries, result)
    measurement.log("imported " + ", ".join(libraries))
    if "numpy" in skip:
        result["skipped"]["numpy"] = "hidden by --skip (still the check's reference)"
    measurement.log(f"gemm peak: NumPy matmul {PEAK_SIZE}^3, float32 and float64")
    result["peaks"] = peak.peaks(measurement.settings["peak_repeats"])
    measurement.log("gemm peak: " + ", ".join(f"{dtype} {p['gflops']:.0f} GFLOP/s"
                                              for dtype, p in result["peaks"].items()))
    ok = True
    for name in names:
        if name in workloads.STEP_WORKLOADS:
            ok = measurement.step_workload(name)
        else:
            ok = measurement.epoch_workload(name)
        if not ok:
            break
    result["threads_seen"] = threads_seen(libraries)
    # Described last, once every library has loaded its BLAS (and compiling
    # the probe of numba's vector width cannot disturb a timing).
    result["hardware"] = hardware.describe()
    result["checks_ok"] = bool(ok)
    with open(out_path, "w") as stream:
        json.dump(result, stream)
    return 0 if ok else 1
