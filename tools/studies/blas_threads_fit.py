"""Which ``blas.SERIAL_BELOW`` keeps training fast on an idle and on a busy machine?

For each candidate threshold (multiply-adds below which a product runs on one
thread; 0 leaves the choice to OpenBLAS, which goes serial only below about
524,288 on two threads), a child process compiles fastbp with it (its own numba
cache) and times whole calls users make, at default settings: ``fit`` of the
small workload, the README's L-BFGS example, a validation-sized ``forward``, and
train steps of mnist and wide.  Within each candidate's process, every round
times every call idle, then with another process spinning on one CPU (started
and stopped by the child).  Prints medians (ms) and each candidate's busy/idle
ratio.

    python tools/studies/blas_threads_fit.py [--rounds 3] [--candidates 0 22 24 inf]

Candidates are given as powers of two (``22`` is 2**22, for both dtypes),
``inf``, or ``default`` (``SERIAL_BELOW`` as the package sets it).  Run it with
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

CHILD = r"""
import json, sys, time
import numpy as np
from fastbp._kernels import blas
if sys.argv[1] != "default":
    below = int(sys.argv[1])
    blas.SERIAL_BELOW.update(float32=below, float64=below)
import fastbp

def timed(call, repeats):
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1e3

rng = np.random.default_rng(0)
small = fastbp.Network([64, 128, 128, 10], ["tanh", "tanh", "softmax"], seed=0)
Xs = rng.normal(size=(3200, 64)); ys = np.arange(3200) % 10
x = np.linspace(-3, 3, 2000).reshape(-1, 1); t = np.sin(2 * x) * np.exp(-x**2 / 4)
Xv = rng.normal(size=(450, 64))
mnist = fastbp.Network([784, 256, 128, 10], ["tanh", "tanh", "softmax"], np.float32, seed=0)
Xm = rng.normal(size=(128, 784)).astype(np.float32); ym = np.arange(128) % 10
wide = fastbp.Network([1024] * 4, ["tanh"] * 3, np.float32, seed=0)
Xw = rng.normal(size=(256, 1024)).astype(np.float32); Tw = np.zeros((256, 1024), np.float32)
sgd, sgd_wide = fastbp.SGD(1e-3), fastbp.SGD(1e-3)

def lbfgs():
    net = fastbp.Network([1, 32, 32, 1], ["tanh", "tanh", "identity"], seed=0)
    net.fit(x, t, epochs=100, optimizer=fastbp.LBFGS(), loss="mse", progress=False)

calls = {
    "small fit (1 epoch)": (lambda: small.fit(Xs, ys, epochs=1, batch_size=32,
        optimizer=fastbp.SGD(1e-3), loss="cross_entropy", seed=0, progress=False), 7),
    "L-BFGS example (100 it.)": (lbfgs, 5),
    "forward 450 x small": (lambda: small.forward(Xv), 51),
    "mnist step": (lambda: mnist.train_step(Xm, ym, sgd, "cross_entropy"), 51),
    "wide step": (lambda: wide.train_step(Xw, Tw, sgd_wide, "mse"), 21),
}
import subprocess
out = {"idle": {name: [] for name in calls}, "busy": {name: [] for name in calls}}
for _ in range(int(sys.argv[2])):
    for load in ("idle", "busy"):
        spinner = None
        if load == "busy":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.3)
        try:
            for name, (call, repeats) in calls.items():
                out[load][name].append(timed(call, repeats))
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
print(json.dumps(out))
"""


def _candidate(text):
    if text in ("default", "0"):
        return text
    return str(1 << 62 if text == "inf" else 1 << int(text))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--candidates", nargs="+", default=["0", "default", "inf"])
    args = parser.parse_args(argv)
    for line in describe():
        print("#", line)
    results = {}
    for c in args.candidates:
        with tempfile.TemporaryDirectory(prefix="fastbp-threads-") as cache:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache)
            done = subprocess.run([sys.executable, "-c", CHILD, _candidate(c), str(args.rounds)],
                                  env=env, stdout=subprocess.PIPE, text=True, check=True)
        results[c] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{c}: done", file=sys.stderr, flush=True)
    names = list(results[args.candidates[0]]["idle"])
    print(f"# medians of {args.rounds} rounds, ms; busy: another process spins on one CPU")
    print(f"{'SERIAL_BELOW':>12} " + " ".join(f"{n[:24]:>26}" for n in names))
    for c in args.candidates:
        cells = []
        for n in names:
            idle = statistics.median(results[c]["idle"][n])
            busy = statistics.median(results[c]["busy"][n])
            cells.append(f"{idle:8.2f} / {busy:8.2f} {busy / idle:5.2f}x")
        label = {"0": "OpenBLAS", "inf": "never", "default": "fastbp's"}.get(c, f"2**{c}")
        print(f"{label:>12} " + " ".join(f"{x:>26}" for x in cells))
    print("# each cell: idle / busy, and busy / idle")


if __name__ == "__main__":
    main()
