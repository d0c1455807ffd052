"""A SHA-256 of what fastbp computes, to show that a change of layout changed none of it.

    python tools/fingerprint.py            # one line per case, then the total
    python tools/fingerprint.py --total    # the total only

Trains a fixed set of networks through the public API only (so any revision
of fastbp can run it): every built-in activation, in hidden and output
position; every loss, with target rows and with integer labels; every
optimizer and its options (momentum, Nesterov, weight decay, clipping, a
schedule); both dtypes; the batch path (products large enough for BLAS, in
both of its forms, and small ones in loops) and the per-sample path (``fit``
with ``batch_size=1`` under plain SGD, and ``train_step`` on one sample);
L-BFGS; ``forward``, ``loss_and_gradient`` with the input gradient, validation
and early stopping.  Each case hashes the bytes of everything it returns and
of the parameters it leaves, so two revisions print the same lines exactly
when they compute the same bits.

Run it at the revision before a change and after it (``git stash`` or a
second checkout), with the same numba and NumPy and on the same machine:
BLAS and LLVM may round differently on another CPU.
"""
import argparse
import hashlib

import numpy as np

import fastbp


def _bytes(value):
    if isinstance(value, np.ndarray):
        return value.dtype.str.encode() + str(value.shape).encode() + value.tobytes()
    if isinstance(value, (list, tuple)):
        return b"[" + b",".join(_bytes(v) for v in value) + b"]"
    if isinstance(value, (float, np.floating)):
        return np.float64(value).tobytes()
    return repr(value).encode()


class Digest:
    def __init__(self):
        self._hash = hashlib.sha256()

    def add(self, *values):
        for value in values:
            self._hash.update(_bytes(value))

    def hex(self):
        return self._hash.hexdigest()


def _data(sizes, n, dtype, seed, labels=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    if labels:
        return X, rng.integers(0, sizes[-1], n)
    return X, rng.uniform(-0.9, 0.9, (n, sizes[-1])).astype(dtype)


def _history(history):
    return [history.loss, history.val_loss, history.val_accuracy, history.best_epoch,
            history.stopped_early]


# (name, sizes, activations, loss, labels?)
NETWORKS = [
    ("tanh-sse", [5, 12, 7, 3], ["tanh", "tanh", "identity"], "sse", False),
    ("sigmoid-mse", [4, 9, 2], ["sigmoid", "sigmoid"], "mse", False),
    ("relu-mse", [6, 16, 8, 2], ["relu", "leaky_relu", "identity"], "mse", False),
    ("softplus-sse", [3, 10, 4], ["softplus", "softplus"], "sse", False),
    ("softmax-hidden", [4, 8, 6, 3], ["softmax", "tanh", "identity"], "sse", False),
    ("softmax-labels", [6, 14, 5], ["relu", "softmax"], "cross_entropy", True),
    ("softmax-rows", [6, 14, 5], ["tanh", "softmax"], "cross_entropy", False),
    ("softmax-mse", [5, 10, 4], ["sigmoid", "softmax"], "mse", False),
    # Products of 8192 multiply-adds and more go to BLAS: batch 32 on widths
    # 32 <= n_in <= n_out takes the transposed form, batch 100 the plain one.
    ("blas-transposed", [48, 64, 64, 10], ["tanh", "tanh", "softmax"], "cross_entropy", True),
    ("blas-plain", [96, 80, 40, 6], ["relu", "sigmoid", "identity"], "mse", False),
]

OPTIMIZERS = {
    "sgd": lambda: fastbp.SGD(lr=0.01),
    "sgd-momentum": lambda: fastbp.SGD(lr=0.02, momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov-clip": lambda: fastbp.SGD(lr=0.02, momentum=0.8, nesterov=True, clip_norm=0.5),
    "adam": lambda: fastbp.Adam(lr=3e-3),
    "adam-decay-clip": lambda: fastbp.Adam(lr=3e-3, weight_decay=1e-2, clip_norm=1.0),
    "adamw": lambda: fastbp.AdamW(lr=fastbp.StepDecay(3e-3, step_size=2, gamma=0.5)),
    "rmsprop": lambda: fastbp.RMSprop(lr=1e-3, momentum=0.5, weight_decay=1e-4),
    "rmsprop-cosine": lambda: fastbp.RMSprop(lr=fastbp.CosineDecay(1e-3, T_max=3)),
}


def cases():
    """(name, function of a Digest) for every case, in a fixed order."""
    out = []
    for dtype in (np.float64, np.float32):
        tag = np.dtype(dtype).name
        for name, sizes, acts, loss, labels in NETWORKS:
            out.append((f"{tag} {name} passes",
                        lambda d, a=(sizes, acts, loss, labels, dtype): _passes(d, *a)))
            for opt_name, make in OPTIMIZERS.items():
                batch = 100 if name == "blas-plain" else 32
                out.append((f"{tag} {name} fit {opt_name} b{batch}",
                            lambda d, a=(sizes, acts, loss, labels, dtype, make, batch):
                            _fit(d, *a)))
            out.append((f"{tag} {name} per-sample",
                        lambda d, a=(sizes, acts, loss, labels, dtype): _per_sample(d, *a)))
        out.append((f"{tag} validation patience",
                    lambda d, dt=dtype: _validation(d, dt)))
        out.append((f"{tag} lbfgs", lambda d, dt=dtype: _lbfgs(d, dt)))
        out.append((f"{tag} lbfgs labels", lambda d, dt=dtype: _lbfgs_labels(d, dt)))
        out.append((f"{tag} registered activations", lambda d, dt=dtype: _registered(d, dt)))
    return out


def _passes(digest, sizes, acts, loss, labels, dtype):
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=1)
    X, T = _data(sizes, 37, dtype, 2, labels)
    digest.add(net.params, net.forward(X), net.forward(X[0]))
    digest.add(*net.loss_and_gradient(X, T, loss, input_gradient=True))
    digest.add(*net.loss_and_gradient(X[:1], T[:1], loss))


def _fit(digest, sizes, acts, loss, labels, dtype, make, batch):
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=3)
    X, T = _data(sizes, 230, dtype, 4, labels)
    opt = make()
    history = net.fit(X, T, epochs=3, batch_size=batch, optimizer=opt, loss=loss, seed=5,
                      progress=False)
    digest.add(_history(history), net.params, opt.steps)
    state = opt.state_dict()["state"]
    if state is not None:
        digest.add(state)
    # train_step on a batch and on one sample with the same optimizer
    digest.add(net.train_step(X[:batch], T[:batch], opt, loss=loss), net.params)
    digest.add(net.train_step(X[:1], T[:1], opt, loss=loss), net.params)


def _per_sample(digest, sizes, acts, loss, labels, dtype):
    net = fastbp.Network(sizes, acts, dtype=dtype, seed=6)
    X, T = _data(sizes, 150, dtype, 7, labels)
    opt = fastbp.SGD(lr=0.01, weight_decay=1e-4)
    history = net.fit(X, T, epochs=2, batch_size=1, optimizer=opt, loss=loss, seed=8,
                      progress=False)
    digest.add(_history(history), net.params)
    history = net.fit(X, T, epochs=1, batch_size=1, optimizer=opt, loss=loss, shuffle=False,
                      progress=False)
    digest.add(_history(history), net.params)
    for i in range(5):
        digest.add(net.train_step(X[i:i + 1], T[i:i + 1], opt, loss=loss), net.params)
    digest.add(opt.steps)


def _validation(digest, dtype):
    sizes = [8, 20, 4]
    net = fastbp.Network(sizes, ["tanh", "softmax"], dtype=dtype, seed=9)
    X, T = _data(sizes, 300, dtype, 10, labels=True)
    history = net.fit(X[:200], T[:200], epochs=12, batch_size=16, optimizer=fastbp.Adam(2e-2),
                      loss="cross_entropy", seed=11, validation_data=(X[200:], T[200:]),
                      patience=2, progress=False)
    digest.add(_history(history), net.params, net.score(X[200:], T[200:]))


def _lbfgs(digest, dtype):
    x = np.linspace(-2, 2, 300).reshape(-1, 1).astype(dtype)
    t = np.sin(2 * x) * np.exp(-x ** 2 / 3)
    net = fastbp.Network([1, 12, 12, 1], ["tanh", "tanh", "identity"], dtype=dtype, seed=12)
    opt = fastbp.LBFGS(weight_decay=1e-4)
    history = net.fit(x, t, epochs=25, optimizer=opt, loss="mse", progress=False)
    digest.add(_history(history), net.params, opt.evaluations, net.score(x, t))


def _lbfgs_labels(digest, dtype):
    sizes = [5, 10, 3]
    net = fastbp.Network(sizes, ["sigmoid", "softmax"], dtype=dtype, seed=13)
    X, T = _data(sizes, 2500, dtype, 14, labels=True)  # more rows than one chunk
    opt = fastbp.LBFGS()
    history = net.fit(X, T, epochs=8, optimizer=opt, loss="cross_entropy", progress=False)
    digest.add(_history(history), net.params, opt.evaluations)


def _register():
    import numba

    @numba.njit
    def swish(x):
        return x / (1.0 + np.exp(-x))

    @numba.njit
    def swish_slope(x):
        s = 1.0 / (1.0 + np.exp(-x))
        return s + x * s * (1.0 - s)

    @numba.njit
    def normalised(x, y):  # y = x / |x|_1 shifted to be positive: a vector activation
        total = 0.0
        for j in range(x.size):
            total += abs(x[j]) + 1.0
        for j in range(x.size):
            y[j] = (abs(x[j]) + 1.0) / total

    @numba.njit
    def normalised_vjp(x, y, g):
        total = 0.0
        for j in range(x.size):
            total += abs(x[j]) + 1.0
        dot = 0.0
        for j in range(x.size):
            dot += g[j] * y[j]
        for j in range(x.size):
            sign = 1.0 if x[j] > 0 else -1.0
            g[j] = sign * (g[j] - dot) / total

    fastbp.register_activation("fingerprint_swish", swish, swish_slope)
    fastbp.register_activation("fingerprint_normalised", normalised, vjp=normalised_vjp)


def _registered(digest, dtype):
    if "fingerprint_swish" not in fastbp.ACTIVATIONS and not _registered.done:
        _register()
        _registered.done = True
    sizes = [3, 10, 6, 2]
    net = fastbp.Network(sizes, ["fingerprint_swish", "fingerprint_normalised", "identity"],
                         dtype=dtype, seed=15)
    X, T = _data(sizes, 120, dtype, 16)
    digest.add(net.forward(X), *net.loss_and_gradient(X, T, "mse", input_gradient=True))
    history = net.fit(X, T, epochs=3, batch_size=16, optimizer=fastbp.Adam(1e-2), loss="mse",
                      seed=17, progress=False)
    digest.add(_history(history), net.params)
    history = net.fit(X, T, epochs=1, batch_size=1, optimizer=fastbp.SGD(1e-2), loss="mse",
                      seed=18, progress=False)
    digest.add(_history(history), net.params)


_registered.done = False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", action="store_true", help="print the total digest only")
    args = parser.parse_args(argv)
    total = Digest()
    for name, run in cases():
        digest = Digest()
        try:
            run(digest)
        except fastbp.DivergenceError as exc:  # an outcome like any other
            digest.add("diverged", exc.epoch, exc.batch, str(exc))
        total.add(digest.hex())
        if not args.total:
            print(f"{digest.hex()[:16]}  {name}")
    print(f"{total.hex()}  total")


if __name__ == "__main__":
    main()
