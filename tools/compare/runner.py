"""The options, the parent process and the start of a child.

The parent waits for an idle machine if asked, runs one child process per
thread count (``python tools/compare --child N ...``) with the thread
variables set, reads the results each child writes and prints the report.
It imports nothing but the standard library.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import compare
from compare import report, system
from compare.peers import OPTIONAL
from compare.workloads import NAMES
from hardware import BLAS_ENV

PACKAGE = pathlib.Path(__file__).resolve().parent


def thread_env(threads, keep_blas_env=False):
    """The environment of a child that is to use ``threads`` threads."""
    env = dict(os.environ)
    # OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE force OpenBLAS's kernels (set on
    # some machines for old OpenBLAS builds): users' machines run without
    # them, so the children do too unless asked.
    if not keep_blas_env:
        for name in BLAS_ENV:
            env.pop(name, None)
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
                                 / "fastbp-compare-numba-cache" / system.fastbp_digest())
    return env


def _measure(n, mode, skip, names, keep_blas_env):
    """Run the child for n threads: (its results, CPU seconds other processes
    used meanwhile, the wall seconds that covers; both None off Linux)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out_path = handle.name
    command = [sys.executable, str(PACKAGE), "--child", str(n), "--out", out_path,
               "--mode", mode, "--skip", ",".join(skip), "--workloads", ",".join(names)]
    print(f"measuring with {n} thread{'s' if n > 1 else ''} ...", file=sys.stderr, flush=True)
    busy0, ours0, wall0 = (system.busy_cpu_seconds(), system.children_cpu_seconds(),
                           time.perf_counter())
    code = subprocess.run(command, env=thread_env(n, keep_blas_env)).returncode
    other = wall = None
    if busy0 is not None:  # what other processes took meanwhile
        other = (system.busy_cpu_seconds() - busy0) - (system.children_cpu_seconds() - ours0)
        wall = time.perf_counter() - wall0
    try:
        with open(out_path) as stream:
            return json.load(stream), other, wall
    except (OSError, ValueError):
        sys.exit(f"the {n}-thread measurement failed (exit code {code}) before reporting")
    finally:
        os.unlink(out_path)


def _parent(args, skip, names):
    started = time.perf_counter()
    other_seconds, measured_seconds, waited = 0.0, 0.0, 0.0
    mode = "quick" if args.quick else "full"
    thread_counts = [int(n) for n in args.threads.split(",")]
    results, failed = {}, False
    for n in thread_counts:
        if args.wait_idle:
            waited += system.wait_idle(args.wait_idle)
        results[n], other, wall = _measure(n, mode, skip, names, args.keep_blas_env)
        if other is not None:
            other_seconds += other
            measured_seconds += wall
        failed |= not results[n]["checks_ok"]
        if failed:
            break
    elapsed = time.perf_counter() - started - waited
    others = max(0.0, other_seconds / measured_seconds) if measured_seconds else None
    report.report(args.markdown, mode, [n for n in thread_counts if n in results], results,
                  elapsed, others, failed, names, args.keep_blas_env)
    if failed:
        print("\nCHECK FAILED: an implementation does not compute the same step (see above); "
              "the run stopped at the first disagreement")
        return 1
    return 0


def _prepare_child(threads, skip):
    """Limit the process to ``threads`` CPUs and hide the skipped libraries,
    before any of them is imported; returns the time it started."""
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
    return started


def _names(option, flag):
    """The comma-separated names of an option, each checked."""
    names = [s for s in option.split(",") if s]
    choices = OPTIONAL if flag == "--skip" else NAMES
    unknown = [s for s in names if s not in choices]
    if unknown:
        sys.exit(f"{flag}: unknown {', '.join(unknown)}; choose from {', '.join(choices)}")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=compare.__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats: about a minute")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    parser.add_argument("--skip", default="", help="comma-separated implementations to treat "
                        f"as not installed ({', '.join(OPTIONAL)})")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each thread count, wait up to SECONDS for the other "
                        "processes to leave the CPUs idle")
    parser.add_argument("--workloads", default="", help="comma-separated workloads to run "
                        f"(default all: {', '.join(NAMES)})")
    parser.add_argument("--keep-blas-env", action="store_true",
                        help=f"keep {' and '.join(BLAS_ENV)} in the children's environment "
                        "(removed by default: they force OpenBLAS's choice of kernels)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="full", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    skip = _names(args.skip, "--skip")
    chosen = _names(args.workloads, "--workloads")
    names = [name for name in NAMES if name in chosen or not chosen]
    if args.child is not None:
        started = _prepare_child(args.child, skip)
        # Imported only now: NumPy, numba and the peers load in the child alone,
        # after its CPU affinity is set.
        from compare import child
        return child.main(args.child, skip, args.mode, args.out, names, started)
    return _parent(args, skip, names)
