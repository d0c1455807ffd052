"""Layout study: which batch layout should fastbp's compiled kernels use?

Times one full training step -- forward X = A Y + b then tanh on every layer,
SSE output delta, weight/bias gradients and propagated deltas A^T K -- written
as plain @njit(cache=False) loops (no np.dot/BLAS/prange/fastmath) in two layouts:
  FM  feature-major: activations (n_features, m), one sample per column, C order
  SM  sample-major:  activations (m, n_features), one sample per row, C order
A is row-major (n_out, n_in) in both.  Variants differ in loop order (named
outermost first; axpy = unit-stride update, red = unit-stride dot-product
reduction, strd = strided; "Y^T+"/"A^T+" = transposed copy made first so the loop
can be a unit-stride axpy).  Every variant is checked against NumPy; compilation
is never timed; variants are interleaved (order rotated) in each repeat; medians.

Run from the repository root:  python tools/studies/layout_study.py [--quick]
(--quick skips [1024]*4).  It re-executes itself with NUMBA_NUM_THREADS=1 and
OMP/OPENBLAS threads 1.
"""
import os
import pathlib
import sys
import time

import numpy as np
from numba import njit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from hardware import describe  # noqa: E402

# FM shapes: A (n_out, n_in), Y (n_in, m), X and K (n_out, m), D = A^T K (n_in, m).
# Loop orders are named outermost first; the comment says what the innermost loop is.

@njit(cache=False)
def fwd_fm_oks(A, b, Y, X):          # s innermost: unit-stride axpy
    for o in range(A.shape[0]):
        for s in range(Y.shape[1]):
            X[o, s] = b[o]
        for k in range(A.shape[1]):
            a = A[o, k]
            for s in range(Y.shape[1]):
                X[o, s] += a * Y[k, s]

@njit(cache=False)
def fwd_fm_osk(A, b, Y, X):          # k innermost: dot product, Y strided by m
    for o in range(A.shape[0]):
        for s in range(Y.shape[1]):
            acc = b[o]
            for k in range(A.shape[1]):
                acc += A[o, k] * Y[k, s]
            X[o, s] = acc

@njit(cache=False)
def grad_fm_oks(K, Y, dA, db):       # s innermost: unit-stride reduction
    m = K.shape[1]
    for o in range(dA.shape[0]):
        acc = K[o, 0]                # (not 0.0, which would make float32 sums float64)
        for s in range(1, m):
            acc += K[o, s]
        db[o] = acc
        for k in range(dA.shape[1]):
            acc = K[o, 0] * Y[k, 0]
            for s in range(1, m):
                acc += K[o, s] * Y[k, s]
            dA[o, k] = acc

@njit(cache=False)
def grad_fm_osk(K, Y, dA, db):       # k innermost: axpy into dA, Y strided by m
    dA[:, :] = 0.0
    db[:] = 0.0
    for o in range(dA.shape[0]):
        for s in range(K.shape[1]):
            kv = K[o, s]
            db[o] += kv
            for k in range(dA.shape[1]):
                dA[o, k] += kv * Y[k, s]

@njit(cache=False)
def grad_fm_yt(K, Y, dA, db):        # copy Y^T (m, n_in) first; then osk is unit stride
    grad_sm_sok(K.T, np.ascontiguousarray(Y.T), dA, db)

@njit(cache=False)
def delta_fm_kos(A, K, D):           # s innermost: unit-stride axpy
    for k in range(A.shape[1]):
        for s in range(K.shape[1]):
            D[k, s] = 0.0
        for o in range(A.shape[0]):
            a = A[o, k]
            for s in range(K.shape[1]):
                D[k, s] += a * K[o, s]

# SM shapes: A (n_out, n_in), Y (m, n_in), X and K (m, n_out), D = K A (m, n_in).

@njit(cache=False)
def fwd_sm_sok(A, b, Y, X):          # k innermost: unit-stride reduction
    for s in range(Y.shape[0]):
        for o in range(A.shape[0]):
            acc = b[o]
            for k in range(A.shape[1]):
                acc += A[o, k] * Y[s, k]
            X[s, o] = acc

@njit(cache=False)
def fwd_sm_sko(A, b, Y, X):          # o innermost: axpy into X, A strided by n_in
    for s in range(Y.shape[0]):
        for o in range(A.shape[0]):
            X[s, o] = b[o]
        for k in range(A.shape[1]):
            y = Y[s, k]
            for o in range(A.shape[0]):
                X[s, o] += A[o, k] * y

@njit(cache=False)
def fwd_sm_at(A, b, Y, X):           # copy A^T (n_in, n_out) first; then sko is unit stride
    AT = np.ascontiguousarray(A.T)
    for s in range(Y.shape[0]):
        for o in range(A.shape[0]):
            X[s, o] = b[o]
        for k in range(AT.shape[0]):
            y = Y[s, k]
            for o in range(AT.shape[1]):
                X[s, o] += AT[k, o] * y

@njit(cache=False)
def grad_sm_sok(K, Y, dA, db):       # k innermost: unit-stride axpy
    dA[:, :] = 0.0
    db[:] = 0.0
    for s in range(K.shape[0]):
        for o in range(dA.shape[0]):
            kv = K[s, o]
            db[o] += kv
            for k in range(dA.shape[1]):
                dA[o, k] += kv * Y[s, k]

@njit(cache=False)
def delta_sm_sok(A, K, D):           # k innermost: unit-stride axpy
    for s in range(K.shape[0]):
        for k in range(A.shape[1]):
            D[s, k] = 0.0
        for o in range(A.shape[0]):
            kv = K[s, o]
            for k in range(A.shape[1]):
                D[s, k] += kv * A[o, k]

@njit(cache=False)
def step(fwd, grad, delta, As, bs, Xs, Ys, dAs, dbs, Ds, T, n_iter):
    """n_iter identical steps; Xs[i] holds X_{i+1}, then K_{i+1}; Ys[i] = Y_i."""
    L = len(As)
    for _ in range(n_iter):
        for i in range(L):
            fwd(As[i], bs[i], Ys[i], Xs[i])
            x, y = Xs[i].reshape(-1), Ys[i + 1].reshape(-1)
            for j in range(x.size):
                y[j] = np.tanh(x[j])
        k, y, t = Xs[L - 1].reshape(-1), Ys[L].reshape(-1), T.reshape(-1)
        for j in range(k.size):            # K_n = (1 - Y^2) * 2 (Y - T)
            k[j] = (1.0 - y[j] ** 2) * 2.0 * (y[j] - t[j])
        for i in range(L - 1, -1, -1):
            grad(Xs[i], Ys[i], dAs[i], dbs[i])
            if i > 0:                      # K_i = (1 - Y_i^2) * (A_{i+1}^T K_{i+1})
                delta(As[i], Xs[i], Ds[i])
                k, y, d = Xs[i - 1].reshape(-1), Ys[i].reshape(-1), Ds[i].reshape(-1)
                for j in range(k.size):
                    k[j] = (1.0 - y[j] ** 2) * d[j]

VARIANTS = {  # name: (feature-major?, fwd, grad, delta); loop order outermost first
    "FM fwd oks(axpy) dA oks(red)  dlt kos(axpy)": (True, fwd_fm_oks, grad_fm_oks, delta_fm_kos),
    "FM fwd osk(strd) dA osk(strd) dlt kos(axpy)": (True, fwd_fm_osk, grad_fm_osk, delta_fm_kos),
    "FM fwd oks(axpy) dA Y^T+sok(axpy) dlt kos(axpy)": (True, fwd_fm_oks, grad_fm_yt, delta_fm_kos),
    "SM fwd sok(red)  dA sok(axpy) dlt sok(axpy)": (False, fwd_sm_sok, grad_sm_sok, delta_sm_sok),
    "SM fwd sko(strd) dA sok(axpy) dlt sok(axpy)": (False, fwd_sm_sko, grad_sm_sok, delta_sm_sok),
    "SM fwd A^T+sko(axpy) dA sok(axpy) dlt sok(axpy)": (False, fwd_sm_at, grad_sm_sok, delta_sm_sok),
}
WORKLOADS = [([2, 16, 16, 1], 1, np.float64), ([64, 128, 128, 10], 32, np.float64),
             ([784, 256, 128, 10], 128, np.float32), ([1024, 1024, 1024, 1024], 256, np.float32)]

def aligned(a, align=64):
    """C-order copy of `a` whose data starts on an `align`-byte boundary."""
    raw = np.zeros(a.size + align // a.itemsize, a.dtype)
    off = (-raw.ctypes.data % align) // a.itemsize
    out = raw[off:off + a.size].reshape(a.shape)
    out[...] = a
    return out

def make_args(sizes, m, fm, W, B, X0, T):
    """Aligned buffers for one layout (FM stores activations transposed)."""
    z = lambda n: aligned(np.zeros((n, m) if fm else (m, n), X0.dtype))
    tr = (lambda a: a.T) if fm else (lambda a: a)
    return (tuple(map(aligned, W)), tuple(map(aligned, B)),      # As, bs
            tuple(z(n) for n in sizes[1:]),                       # Xs (then Ks)
            (aligned(tr(X0)),) + tuple(z(n) for n in sizes[1:]),  # Ys
            tuple(aligned(0 * w) for w in W), tuple(aligned(0 * b) for b in B),  # dAs, dbs
            tuple(z(n) for n in sizes[:-1]), aligned(tr(T)))      # Ds, T

def numpy_reference(W, B, X0, T):
    """The same step in plain sample-major NumPy, float64: (output, dAs, dbs)."""
    Ys = [X0.astype(np.float64)]
    for w, b in zip(W, B):
        Ys.append(np.tanh(Ys[-1] @ w.T.astype(np.float64) + b))
    K = (1 - Ys[-1] ** 2) * 2 * (Ys[-1] - T)
    dA, db = [None] * len(W), [None] * len(W)
    for i in range(len(W) - 1, -1, -1):
        dA[i], db[i] = K.T @ Ys[i], K.sum(axis=0)
        K = (K @ W[i].astype(np.float64)) * (1 - Ys[i] ** 2)
    return [Ys[-1]] + dA + db

def run_workload(sizes, m, dtype, rng, slow_repeats=5):
    W = [(rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype)
         for i, o in zip(sizes[:-1], sizes[1:])]
    B = [(0.1 * rng.standard_normal(o)).astype(dtype) for o in sizes[1:]]
    X0 = rng.standard_normal((m, sizes[0])).astype(dtype)
    T = (0.5 * rng.standard_normal((m, sizes[-1]))).astype(dtype)
    ref = numpy_reference(W, B, X0, T)
    rtol = 1e-9 if dtype == np.float64 else 2e-3
    calls, t_one = {}, 0.0
    for name, (fm, fwd, grad, delta) in VARIANTS.items():
        a = make_args(sizes, m, fm, W, B, X0, T)
        step(fwd, grad, delta, *a, 1)                     # compile (untimed)
        t0 = time.perf_counter()
        step(fwd, grad, delta, *a, 1)
        t1 = time.perf_counter() - t0
        got = [a[3][-1].T if fm else a[3][-1]] + list(a[4]) + list(a[5])
        for g, r in zip(got, ref):
            assert np.allclose(g, r, rtol=rtol, atol=rtol * np.abs(r).max()), name
        n_iter = max(1, int(2e-3 / t1))                   # ~2 ms per timed call
        calls[name] = ((lambda f=fwd, g=grad, d=delta, a=a, n=n_iter: step(f, g, d, *a, n)),
                       n_iter)
        t_one = max(t_one, t1)
    repeats = 101 if t_one < 5e-3 else 21 if t_one < 0.1 else slow_repeats
    names, times = list(calls), {n: [] for n in calls}
    for r in range(repeats):                              # interleaved, order rotated
        for name in names[r % len(names):] + names[:r % len(names)]:
            call, n_iter = calls[name]
            t0 = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t0) / n_iter)
    return {n: np.median(t) * 1e6 for n, t in times.items()}, repeats

def packed_simd(kernel):
    """{dtype: does the compiled kernel accumulate with packed (ymm/zmm) adds?}"""
    out = {}
    for sig, asm in kernel.inspect_asm().items():
        lines = asm.lower().splitlines()
        out[str(sig[0].dtype)] = any(("vaddp" in ln or "vfmadd" in ln) and
                                     ("ymm" in ln or "zmm" in ln) for ln in lines)
    return out

def main():
    quick = "--quick" in sys.argv
    rng = np.random.default_rng(0)
    import numba
    print(f"numba {numba.__version__}, numpy {np.__version__}, "
          f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']}, all variants == NumPy")
    head = f"{'workload':<32}{'layout / loop orders':<50}{'median us/step':>15}{'ratio':>7}"
    print(head + "\n" + "-" * len(head))
    names = list(VARIANTS)
    for sizes, m, dtype in WORKLOADS[:3] if quick else WORKLOADS:
        res, reps = run_workload(sizes, m, dtype, rng)
        wl = f"{','.join(map(str, sizes))} m={m} {np.dtype(dtype).name[0]}{np.dtype(dtype).itemsize * 8}"
        for name in names:
            print(f"{wl:<32}{name:<50}{res[name]:>15.2f}{res[name] / res[names[0]]:>7.2f}")
        best = {lay: min(res[n] for n in names if n.startswith(lay)) for lay in ("FM", "SM")}
        print(f"{'  (' + str(reps) + ' repeats)':<32}best SM / best FM = {best['SM'] / best['FM']:.2f}"
              f"  -> {'SM' if best['SM'] < best['FM'] else 'FM'} wins\n")
    print("ratio = time / first FM row.  red = unit-stride reduction, strd = strided,\n"
          "axpy = unit-stride update.  Packed (ymm/zmm) add/FMA in compiled kernel:")
    for k in (fwd_fm_oks, fwd_fm_osk, grad_fm_oks, grad_fm_osk, delta_fm_kos,
              fwd_sm_sok, fwd_sm_sko, fwd_sm_at, grad_sm_sok, delta_sm_sok):
        print(f"  {k.__name__:<14}" + "  ".join(f"{d}: {'yes' if v else 'no'}"
                                                 for d, v in sorted(packed_simd(k).items())))

if __name__ == "__main__":
    want = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if any(os.environ.get(k) != v for k, v in want.items()):
        os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, **want})
    for line in describe():
        print("#", line)
    main()
