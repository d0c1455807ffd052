"""Two revisions of fastbp timed side by side, in one process.

    OPENBLAS_NUM_THREADS=1 python tools/side_by_side.py a6ff1b1 HEAD small tiny-epoch

Each revision's ``fastbp/`` is exported (``git archive``; ``WORKTREE`` stands
for the working tree's copy) into a temporary directory under a package name
of its own, so both import into this process; their kernels compile into a
temporary numba cache.  Blocks of calls alternate between the two revisions
(each first in half the pairs), so the machine's drift, which here reaches 1.5x
within an hour, cancels out of the ratio printed with the medians.  Workloads
are the peer comparison's (``tools/compare/workloads.py``): a step workload
times ``train_step`` on one batch with plain SGD, an epoch workload ``fit`` for
one epoch without shuffling; and ``tiny-labels``, a per-sample ``train_step``
of a ``[2,16,16,3]`` softmax classifier on an integer label.

Both revisions run in this one process, in the environment it was started
with (``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` included, if set): unset
them in the command to time OpenBLAS's own choice of kernels.
"""
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from compare.workloads import EPOCH_WORKLOADS, LR, SEED, STEP_WORKLOADS, learning_rate

REPO = pathlib.Path(__file__).resolve().parent.parent
BLOCK_SECONDS = 0.05
BLOCKS = 22  # even: each revision runs first in half of them


def export(rev, into, name):
    """Revision ``rev``'s fastbp package, importable from ``into`` as ``name``."""
    target = into / name
    if rev == "WORKTREE":
        shutil.copytree(REPO / "fastbp", target, ignore=shutil.ignore_patterns("__pycache__"))
        return
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "fastbp"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "fastbp").rename(target)


def runner(package, workload):
    """A no-argument call doing one unit of ``workload`` with ``package``."""
    import numpy as np

    if workload == "tiny-labels":  # a classifier's per-sample step, integer labels
        rng = np.random.default_rng(SEED)
        X, labels = rng.standard_normal((1, 2)), np.array([1])
        net = package.Network([2, 16, 16, 3], ["tanh", "tanh", "softmax"], seed=SEED)
        opt = package.SGD(lr=LR)
        return lambda: net.train_step(X, labels, opt, loss="cross_entropy")
    step, n, batch = EPOCH_WORKLOADS.get(workload, (workload, None, None))
    sizes, acts, step_batch, dtype = STEP_WORKLOADS[step]
    rng = np.random.default_rng(SEED)
    rows = n or step_batch
    X = rng.standard_normal((rows, sizes[0])).astype(dtype)
    T = rng.random((rows, sizes[-1])).astype(dtype)
    net = package.Network(sizes, acts, dtype=dtype, seed=SEED)
    opt = package.SGD(lr=learning_rate(workload))
    if n is None:
        return lambda: net.train_step(X, T, opt, loss="sse")
    return lambda: net.fit(X, T, epochs=1, batch_size=batch, optimizer=opt, loss="sse",
                           shuffle=False, progress=False)


def main(rev_a, rev_b, *workloads):
    import importlib

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fastbp-side-by-side-"))
    os.environ["NUMBA_CACHE_DIR"] = str(tmp / "numba-cache")  # before numba loads
    sys.path.insert(0, str(tmp))
    try:
        export(rev_a, tmp, "fastbp_a")
        export(rev_b, tmp, "fastbp_b")
        packages = [importlib.import_module(name) for name in ("fastbp_a", "fastbp_b")]
        print(f"{'workload':12s} {rev_a:>12s} {rev_b:>12s}  ratio (b/a)")
        for workload in workloads:
            calls = [runner(package, workload) for package in packages]
            for call in calls:  # compile, load, warm up
                call()
            start = time.perf_counter()
            calls[0]()
            per_block = max(1, round(BLOCK_SECONDS / (time.perf_counter() - start)))
            times = [[], []]
            for block in range(BLOCKS):
                # a, b then b, a: whichever runs second was measured 2-6% slower.
                for i in (0, 1) if block % 2 == 0 else (1, 0):
                    start = time.perf_counter()
                    for _ in range(per_block):
                        calls[i]()
                    times[i].append((time.perf_counter() - start) / per_block)
            a, b = (statistics.median(t) * 1e6 for t in times)
            print(f"{workload:12s} {a:10.2f}us {b:10.2f}us  {b / a:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
