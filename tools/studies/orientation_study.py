"""Would storing each weight matrix transposed make a step's products faster?

fastbp stores A_i as (n_out, n_in), row-major, as the derivation and PyTorch
do.  Its forward product ``Y A^T`` then contracts both operands along their
contiguous axis, which OpenBLAS runs slower than the other forms; with A
stored (n_in, n_out) the forward product is fast and the input gradient
``K A`` takes the slow form instead.  This times all of a step's products
(forward, weight gradient, input gradient of every layer but the first) both
ways, interleaved, through NumPy on one thread, for the benchmark workloads.

    OPENBLAS_NUM_THREADS=1 python tools/studies/orientation_study.py
"""
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

WORKLOADS = {  # name: (sizes, batch, dtype name)
    "small": ([64, 128, 128, 10], 32, "float64"),
    "mnist": ([784, 256, 128, 10], 128, "float32"),
    "wide": ([1024, 1024, 1024, 1024], 256, "float32"),
}


def _products(sizes, m, dtype, transposed):
    """A function running one step's products with A in the given orientation."""
    rng = np.random.default_rng(0)
    pairs = list(zip(sizes[:-1], sizes[1:]))
    weights = [rng.standard_normal((n_in, n_out) if transposed else (n_out, n_in)).astype(dtype)
               for n_in, n_out in pairs]
    grads = [np.empty_like(w) for w in weights]
    acts = [rng.standard_normal((m, s)).astype(dtype) for s in sizes]
    deltas = [rng.standard_normal((m, n_out)).astype(dtype) for _, n_out in pairs]
    pre = [np.empty((m, n_out), dtype) for _, n_out in pairs]
    below = [np.empty((m, n_in), dtype) for n_in, _ in pairs]

    def run():
        for i, w in enumerate(weights):
            if transposed:
                np.dot(acts[i], w, pre[i])
                np.dot(acts[i].T, deltas[i], grads[i])
                if i:
                    np.dot(deltas[i], w.T, below[i])
            else:
                np.dot(acts[i], w.T, pre[i])
                np.dot(deltas[i].T, acts[i], grads[i])
                if i:
                    np.dot(deltas[i], w, below[i])
    return run


def _seconds(run, repeats):
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    for name, (sizes, m, dtype) in WORKLOADS.items():
        now = _products(sizes, m, dtype, transposed=False)
        alternative = _products(sizes, m, dtype, transposed=True)
        repeats = {"small": 300, "mnist": 40, "wide": 5}[name]
        a, b = [], []
        for _ in range(3):  # interleaved rounds: the machine's speed drifts
            a.append(_seconds(now, repeats))
            b.append(_seconds(alternative, repeats))
        a, b = sorted(a)[1], sorted(b)[1]
        print(f"{name:6s} A as (n_out, n_in): {a * 1e3:8.3f} ms   as (n_in, n_out): "
              f"{b * 1e3:8.3f} ms   ratio {b / a:.3f}")


if __name__ == "__main__":
    for line in describe():
        print("#", line)
    main()
