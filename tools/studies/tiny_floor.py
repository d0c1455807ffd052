"""How far below fastbp's per-sample step numba-compiled code can go: the tiny
network [2, 16, 16, 1] (tanh, tanh, identity; loss = sum of squared errors;
plain SGD, one sample a step) over 10,000 samples, timed three ways side by
side in one process:

- ``fastbp``: ``fit(batch_size=1)`` with plain SGD, its compiled epoch alone
  (``history.time``);
- ``specialised``: one kernel written for this one network: sizes constant,
  layers unrolled, the update fused into the backward pass as fastbp does,
  and none of fastbp's tests (finite loss, gradient and parameters).  Its
  parameters after an epoch are checked against fastbp's;
- ``specialised, no tanh``: the same with both activations dropped (identity),
  the arithmetic of the products and the update alone;
- each of these ``reordered`` too: compiled with fastmath's reassociation (which
  fastbp's per-sample step does not use, see ``training.sample_steps``), so
  that LLVM may vectorise the sums.

Issue 4 asks for 0.15 us a step; the figures show what remains when every
generality and every check is gone.

    OPENBLAS_NUM_THREADS=1 python tools/studies/tiny_floor.py
"""
import pathlib
import sys
import time

import numpy as np
from numba import njit

import fastbp
from fastbp._kernels.fastfn import tanh_of

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

N0, N1, N2 = 2, 16, 16
# fastbp's parameter layout: each layer's row-major weights, then its biases.
W1 = 0
B1 = W1 + N1 * N0
W2 = B1 + N1
B2 = W2 + N2 * N1
W3 = B2 + N2
B3 = W3 + N2


def _specialised(with_tanh, reordered=False):
    flags = {"reassoc", "contract", "nsz", "arcp"} if reordered else False

    @njit(nogil=True, error_model="numpy", fastmath=flags)
    def epoch(params, X, T, work, lr):
        w1, b1 = params[W1:B1], params[B1:W2]
        w2, b2 = params[W2:B2], params[B2:W3]
        w3 = params[W3:B3]
        a1, a2 = work[:N1], work[N1:N1 + N2]
        d2, g1 = work[N1 + N2:N1 + 2 * N2], work[N1 + 2 * N2:2 * N1 + 2 * N2]
        total = 0.0
        for s in range(X.shape[0]):
            x0, x1 = X[s, 0], X[s, 1]
            for j in range(N1):
                z = b1[j] + w1[2 * j] * x0 + w1[2 * j + 1] * x1
                a1[j] = tanh_of(z) if with_tanh else z
            for j in range(N2):
                z = 0.0
                for k in range(N1):
                    z += w2[j * N1 + k] * a1[k]
                z += b2[j]
                a2[j] = tanh_of(z) if with_tanh else z
            y = 0.0
            for k in range(N2):
                y += w3[k] * a2[k]
            e = y + params[B3] - T[s, 0]
            total += e * e
            d3 = 2.0 * e
            # Down the layers: each row's share of the next delta, then its update.
            for k in range(N2):
                a = a2[k]
                d2[k] = d3 * w3[k] * ((1.0 - a * a) if with_tanh else 1.0)
                w3[k] -= lr * (d3 * a)
            params[B3] -= lr * d3
            for k in range(N1):
                g1[k] = 0.0
            for j in range(N2):
                d = d2[j]
                for k in range(N1):
                    p = w2[j * N1 + k]
                    g1[k] += d * p
                    w2[j * N1 + k] = p - lr * (d * a1[k])
                b2[j] -= lr * d
            for j in range(N1):
                a = a1[j]
                d = g1[j] * ((1.0 - a * a) if with_tanh else 1.0)
                w1[2 * j] -= lr * (d * x0)
                w1[2 * j + 1] -= lr * (d * x1)
                b1[j] -= lr * d
        return total
    return epoch


def main(n=10_000, rounds=15):
    """Print each way's median time a step over ``rounds`` alternating epochs,
    after checking the specialised kernel against fastbp (tests pass less)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, N0))
    T = rng.uniform(-0.9, 0.9, (n, 1))
    lr = 1e-3
    net = fastbp.Network([N0, N1, N2, 1], ["tanh", "tanh", "identity"], seed=0)
    start = net.params.copy()
    opt = fastbp.SGD(lr=lr)
    with_tanh, no_tanh = _specialised(True), _specialised(False)
    with_tanh_r, no_tanh_r = _specialised(True, True), _specialised(False, True)
    work = np.zeros(64)

    def fastbp_epoch():
        history = net.fit(X, T, epochs=1, batch_size=1, optimizer=opt, loss="sse",
                          shuffle=False, progress=False)
        return history.time[0]

    def timed(kernel):
        def epoch():
            params = start.copy()
            t0 = time.perf_counter()
            kernel(params, X, T, work, lr)
            return time.perf_counter() - t0
        return epoch

    net.params = start
    fastbp_epoch()
    mine = start.copy()
    with_tanh(mine, X, T, work, lr)
    for kernel in (no_tanh, with_tanh_r, no_tanh_r):
        kernel(start.copy(), X, T, work, lr)
    agreement = float(np.max(np.abs(mine - net.params)) / np.max(np.abs(net.params)))
    print(f"specialised vs fastbp after one epoch: largest relative difference {agreement:.1e}")
    if not agreement < 1e-9:
        raise AssertionError("the specialised kernel does not compute fastbp's step")
    ways = {"fastbp": fastbp_epoch, "specialised": timed(with_tanh),
            "specialised, no tanh": timed(no_tanh),
            "reordered": timed(with_tanh_r), "reordered, no tanh": timed(no_tanh_r)}
    seconds = {name: [] for name in ways}
    for r in range(rounds):
        names = list(ways) if r % 2 == 0 else list(ways)[::-1]
        for name in names:
            net.params = start
            seconds[name].append(ways[name]())
    base = np.array(seconds["fastbp"])
    for name, values in seconds.items():
        ratio = np.median(np.array(values) / base)
        print(f"{name:22s} {np.median(values) / n * 1e9:6.0f} ns a step"
              f"  ({ratio:.2f}x fastbp's time, median of pairs)")


if __name__ == "__main__":
    for line in describe():
        print("#", line)
    main()
