"""How fast an ensemble trains: fastbp.Ensemble against a loop of Network.fit and the peers.

Two workloads (issue-sized, each member with its own shuffle of the same data,
plain SGD so that every implementation does the same arithmetic):

- ``small``: 32 members of [64, 128, 128, 10] tanh/tanh/softmax, float64,
  cross-entropy on labels, batch 32, one epoch of 10,000 samples;
- ``tiny``: 256 members of [2, 16, 16, 1] tanh/tanh/identity, float64, mse,
  one sample at a time over 1,000 samples.

Timed, alternately within one process (medians of ``--repeats``):

- ``ensemble-N``: ``Ensemble.fit(threads=N)`` for N = 1 and every usable CPU;
- ``loop``: one ``Network.fit`` per member, one after the other, on one thread;
- ``torch.func``: ``stack_module_state`` + ``vmap(grad(functional_call))``,
  one Python step per batch, torch on every usable CPU (``--skip torch``);
- ``jax``: ``vmap`` of the step inside one jitted ``lax.scan`` over the
  epoch's batches, batches gathered beforehand (``--skip jax``).

    python tools/studies/ensemble_speed.py [--workload small tiny] [--repeats 5]

The peers need torch and jax (the ``peers`` extra); absent, they are skipped
with a note.  Figures are ratios to ``ensemble-<all CPUs>`` measured in the
same run; the header names the CPU and the BLAS.
"""
import argparse
import os
import pathlib
import sys
import time

import numba
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from hardware import describe  # noqa: E402

import fastbp  # noqa: E402

WORKLOADS = {
    "small": dict(sizes=[64, 128, 128, 10], acts=["tanh", "tanh", "softmax"], members=32,
                  n=10_000, batch=32, loss="cross_entropy", lr=1e-2),
    "tiny": dict(sizes=[2, 16, 16, 1], acts=["tanh", "tanh", "identity"], members=256,
                 n=1_000, batch=1, loss="mse", lr=1e-2),
}


def problem(w, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((w["n"], w["sizes"][0]))
    if w["loss"] == "cross_entropy":
        T = rng.integers(0, w["sizes"][-1], w["n"])
    else:
        T = np.sin(X.sum(axis=1, keepdims=True))
    return X, T


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def fastbp_runners(w, X, T, cpus):
    ens = fastbp.Ensemble(w["sizes"], w["acts"], w["members"], seed=0)
    nets = list(fastbp.Ensemble(w["sizes"], w["acts"], w["members"], seed=0))

    def ensemble(threads):
        return lambda: ens.fit(X, T, epochs=1, batch_size=w["batch"], loss=w["loss"],
                               optimizer=fastbp.SGD(w["lr"]), seed=1, threads=threads,
                               progress=False)

    def loop():
        for i, net in enumerate(nets):
            net.fit(X, T, epochs=1, batch_size=w["batch"], loss=w["loss"],
                    optimizer=fastbp.SGD(w["lr"]), seed=i, threads=1, progress=False)

    def loop_on_one_thread():
        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            loop()
        finally:
            numba.set_num_threads(before)

    runners = {f"ensemble-{c}": ensemble(c) for c in sorted({1, cpus})}
    runners["loop"] = loop_on_one_thread
    return runners


def torch_runner(w, X, T, cpus):
    import torch
    from torch import nn
    from torch.func import functional_call, grad, stack_module_state, vmap

    torch.set_num_threads(cpus)
    torch.set_default_dtype(torch.float64)
    layers = []
    for n_in, n_out, act in zip(w["sizes"], w["sizes"][1:], w["acts"]):
        layers.append(nn.Linear(n_in, n_out))
        if act == "tanh":
            layers.append(nn.Tanh())
    models = [nn.Sequential(*layers) for _ in range(w["members"])]
    for m in models:
        for p in m.parameters():
            nn.init.normal_(p, std=0.1)
    params, buffers = stack_module_state(models)
    base = models[0].to("meta")
    Xt = torch.from_numpy(X)
    Tt = torch.from_numpy(T)

    def loss_of(p, b, x, t):
        out = functional_call(base, (p, b), (x,))
        if w["loss"] == "cross_entropy":
            return nn.functional.cross_entropy(out, t)
        return ((out - t) ** 2).mean()

    step = vmap(grad(loss_of), in_dims=(0, 0, 0, 0))
    rng = np.random.default_rng(1)
    orders = torch.from_numpy(np.stack([rng.permutation(w["n"]) for _ in range(w["members"])]))
    lr, batch = w["lr"], w["batch"]

    def epoch():
        for lo in range(0, w["n"], batch):
            rows = orders[:, lo:lo + batch]
            g = step(params, buffers, Xt[rows], Tt[rows])
            with torch.no_grad():
                for k in params:
                    params[k] -= lr * g[k]

    return epoch


def jax_runner(w, X, T, cpus):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    key = jax.random.PRNGKey(0)
    P = []
    for n_in, n_out in zip(w["sizes"], w["sizes"][1:]):
        key, k = jax.random.split(key)
        P.append((0.1 * jax.random.normal(k, (w["members"], n_out, n_in)),
                  jnp.zeros((w["members"], n_out))))
    acts = w["acts"]

    def loss_of(p, x, t):
        y = x
        for (A, B), act in zip(p, acts):
            y = y @ A.T + B
            if act == "tanh":
                y = jnp.tanh(y)
        if w["loss"] == "cross_entropy":
            logp = jax.nn.log_softmax(y)
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))
        return jnp.mean((y - t) ** 2)

    lr = w["lr"]

    def step(p, x, t):
        g = jax.grad(loss_of)(p, x, t)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)

    vstep = jax.vmap(step)

    @jax.jit
    def epoch(p, Xb, Tb):
        p, _ = jax.lax.scan(lambda p, xt: (vstep(p, *xt), None), p, (Xb, Tb))
        return p

    rng = np.random.default_rng(1)
    full = w["n"] // w["batch"] * w["batch"]
    orders = np.stack([rng.permutation(w["n"])[:full] for _ in range(w["members"])])
    # (batches, members, batch, features): every member's own shuffle.
    rows = orders.reshape(w["members"], -1, w["batch"]).transpose(1, 0, 2)
    Xb, Tb = jnp.asarray(X[rows]), jnp.asarray(T[rows])
    state = {"P": P}

    def run():
        state["P"] = epoch(state["P"], Xb, Tb)
        jax.block_until_ready(state["P"])

    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS),
                        default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], choices=["torch", "jax"])
    args = parser.parse_args(argv)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for line in describe():
        print("#", line)
    for name in args.workload:
        w = WORKLOADS[name]
        X, T = problem(w)
        runners = fastbp_runners(w, X, T, cpus)
        for peer, make in (("torch.func", torch_runner), ("jax", jax_runner)):
            if peer.split(".")[0] in args.skip:
                continue
            try:
                runners[peer] = make(w, X, T, cpus)
            except ImportError as exc:
                print(f"# {peer} skipped: {exc}")
        for run in runners.values():  # compile, trace, warm up
            run()
        times = {label: [] for label in runners}
        for _ in range(args.repeats):  # alternately, so drift hits all alike
            for label, run in runners.items():
                times[label].append(median_time(run, 1))
        medians = {label: float(np.median(t)) for label, t in times.items()}
        best = medians[f"ensemble-{cpus}"]
        print(f"\n{name}: {w['members']} members of {w['sizes']}, batch {w['batch']}, "
              f"{w['n']} samples, float64, SGD; median of {args.repeats}")
        print(f"{'implementation':16} {'seconds':>9} {'÷ ensemble-' + str(cpus):>14}")
        for label, seconds in medians.items():
            print(f"{label:16} {seconds:9.4f} {seconds / best:14.2f}")


if __name__ == "__main__":
    main()
