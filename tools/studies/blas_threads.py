"""When does a second BLAS thread pay for itself on fastbp's products?  Measures it.

Times NumPy's OpenBLAS gemm, one thread against the threads allowed, for the
products a dense layer makes (m samples x n_in -> n_out, forward orientation),
in float64 and float32, interleaved, and prints the multiply-adds of each shape
with the speed-up of the threaded call.  ``--busy`` keeps one CPU busy with a
spinning process for the whole run, as a shared machine would.  The smallest
product whose speed-up is clearly above 1 is where ``blas.SERIAL_BELOW`` is set
from (docs/decisions/0020-blas-threads.md).

    python tools/studies/blas_threads.py [--busy] [--rounds 5]

Run it with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset: they change
the kernels OpenBLAS picks.
"""
import argparse
import multiprocessing
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

from blas_threshold import _median_us  # noqa: E402

from fastbp._kernels import blas  # noqa: E402

SHAPES = [(32, 64, 64), (64, 64, 64), (128, 64, 64), (64, 128, 128), (128, 128, 128),
          (256, 128, 128), (128, 256, 256), (256, 256, 256), (128, 784, 128),
          (512, 256, 256), (256, 784, 256), (1000, 64, 64), (10000, 32, 16), (10000, 64, 64)]


def _spin():
    while True:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", action="store_true", help="keep one CPU busy meanwhile")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.03, help="seconds per timing")
    args = parser.parse_args(argv)
    allowed = blas.get_threads()
    for line in describe():
        print("#", line)
    if allowed < 2:
        sys.exit("OpenBLAS allows one thread here: nothing to compare")
    spinner = None
    if args.busy:
        spinner = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
        spinner.start()
    print(f"# {'busy: one CPU spun by another process' if args.busy else 'idle'}; "
          f"medians of {args.rounds} interleaved rounds; {allowed} threads against 1")
    print(f"{'dtype':8} {'m':>6} {'n_in':>5} {'n_out':>5} {'MACs':>11} {'1 thread us':>12} "
          f"{f'{allowed} threads us':>12} {'speed-up':>9}")
    try:
        for dtype in (np.float64, np.float32):
            for m, n_in, n_out in SHAPES:
                rng = np.random.default_rng(0)
                a = rng.normal(size=(m, n_in)).astype(dtype)
                w = rng.normal(size=(n_out, n_in)).astype(dtype)
                out = np.empty((m, n_out), dtype)
                product = lambda: np.matmul(a, w.T, out=out)  # noqa: E731
                one, many = [], []
                for _ in range(args.rounds):
                    blas.set_threads(1)
                    one.append(_median_us(product, args.budget) / 1e6)
                    blas.set_threads(allowed)
                    many.append(_median_us(product, args.budget) / 1e6)
                t1, tn = float(np.median(one)), float(np.median(many))
                print(f"{np.dtype(dtype).name:8} {m:6} {n_in:5} {n_out:5} {m * n_in * n_out:11} "
                      f"{t1 * 1e6:12.1f} {tn * 1e6:12.1f} {t1 / tn:9.2f}", flush=True)
    finally:
        blas.set_threads(allowed)
        if spinner is not None:
            spinner.terminate()


if __name__ == "__main__":
    main()
