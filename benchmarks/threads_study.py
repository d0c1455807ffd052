"""Two cores for one ``fit``: OpenBLAS's threads inside each product, or the
batch split between threads (``fit(threads=2)``), against one core.

Three ways of running the same epoch (float32, plain SGD, in order), timed
alternating in one process, with a pause after each so that OpenBLAS's idle
threads, which spin for a while after a product, stop before the next:

- ``one core``: ``threads=1`` with the BLAS limited to one thread;
- ``OpenBLAS x2``: ``threads=1`` with the BLAS on two threads (the default on
  a 2-core machine);
- ``parts x2``: ``threads=2`` (each part's BLAS on one thread).

Each figure is the median over rounds of the time relative to one core's in
the same round.

    python benchmarks/threads_study.py mnist 128
    python benchmarks/threads_study.py mnist 512
    python benchmarks/threads_study.py wide 256
"""
import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastbp

SHAPES = {
    "mnist": ([784, 256, 128, 10], ["tanh", "tanh", "softmax"], 20_000),
    "wide": ([1024, 1024, 1024, 1024], ["tanh", "tanh", "tanh"], 2_560),
}
WAYS = ["one core", "OpenBLAS x2", "parts x2"]


def main(workload="mnist", batch=128, rounds=9, samples=None, pause=0.3):
    sizes, acts, n = SHAPES[workload]
    n = samples or n
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    T = rng.uniform(-0.9, 0.9, (n, sizes[-1])).astype(np.float32)
    net = fastbp.Network(sizes, acts, dtype=np.float32, seed=0)
    start = net.params.copy()

    def epoch(way):
        net.params = start
        # parts x2 leaves the BLAS to fit, which limits it to one thread a part.
        blas, threads = {"one core": (1, 1), "OpenBLAS x2": (2, 1), "parts x2": (None, 2)}[way]
        with threadpool_limits(blas, user_api="blas"):
            history = net.fit(X, T, epochs=1, batch_size=batch, optimizer=fastbp.SGD(lr=1e-4),
                              loss="sse", shuffle=False, progress=False, threads=threads)
        time.sleep(pause)
        return history.time[0]

    for way in WAYS:  # compiled or loaded from the cache
        epoch(way)
    seconds = {way: [] for way in WAYS}
    for r in range(rounds):
        for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
            seconds[way].append(epoch(way))
    one = np.array(seconds["one core"])
    print(f"{workload} {sizes}, batch {batch}, {n} samples, float32; median of {rounds} rounds")
    for way in WAYS:
        ratio = np.median(np.array(seconds[way]) / one)
        print(f"{way:12s} {np.median(seconds[way]) * 1e3:8.1f} ms  {ratio:.3f}x one core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(SHAPES))
    parser.add_argument("batch", type=int)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    main(args.workload, args.batch, args.rounds)
