"""Where a cold start's compilation goes: every function numba compiles, and its seconds.

Runs, in a fresh interpreter with an empty numba cache, the first ``fit`` of
the demo's network (digits-sized data: 64 inputs, 10 classes, float64, Adam,
cross-entropy, validation data) under numba's compile-event recorder, and
prints each compiled function with its signature count and its seconds
exclusive of the functions it compiled in turn, largest first, then the total.

    python tools/studies/compile_profile.py [--top 25] [--script cold-fit]

``--script cold-fit`` profiles asv's ``_COLD_FIT`` (benchmarks/bench_startup.py)
instead of the demo's fit.
"""
import argparse
import ast
import json
import os
import pathlib
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from hardware import describe  # noqa: E402

DEMO_FIT = """
import numpy as np
import fastbp
rng = np.random.default_rng(0)
X = rng.standard_normal((1347, 64)); y = rng.integers(0, 10, 1347)
Xv = rng.standard_normal((450, 64)); yv = rng.integers(0, 10, 450)
net = fastbp.Network([64, 64, 10], ["relu", "softmax"], seed=0)
net.fit(X, y, epochs=1, batch_size=32, optimizer=fastbp.Adam(1e-3), loss="cross_entropy",
        validation_data=(Xv, yv), seed=0, progress=False)
"""

RECORD = """
import json, sys, time
from numba.core import event
spans, stack = [], []
class Listener(event.Listener):
    def on_start(self, ev):
        stack.append((time.perf_counter(), ev.data["dispatcher"].py_func.__qualname__, 0.0))
    def on_end(self, ev):
        start, name, inner = stack.pop()
        total = time.perf_counter() - start
        spans.append((name, total - inner))
        if stack:
            s, n, i = stack[-1]
            stack[-1] = (s, n, i + total)
began = time.perf_counter()
with event.install_listener("numba:compile", Listener()):
    exec(compile(sys.argv[1], "<profiled>", "exec"))
print(json.dumps({"spans": spans, "wall": time.perf_counter() - began}))
"""


def _cold_fit():
    tree = ast.parse((REPO / "benchmarks" / "bench_startup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_COLD_FIT":
            return ast.literal_eval(node.value).replace("sys.argv[1]", "'float64'")
    raise LookupError("benchmarks/bench_startup.py defines no _COLD_FIT")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--script", choices=["demo-fit", "cold-fit"], default="demo-fit")
    args = parser.parse_args(argv)
    script = DEMO_FIT if args.script == "demo-fit" else _cold_fit()
    with tempfile.TemporaryDirectory(prefix="fastbp-profile-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        done = subprocess.run([sys.executable, "-c", RECORD, script], env=env, check=True,
                              stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for line in describe():
        print("#", line)
    by_name = {}
    for name, seconds in result["spans"]:
        count, total = by_name.get(name, (0, 0.0))
        by_name[name] = (count + 1, total + seconds)
    compiled = sum(total for _, total in by_name.values())
    print(f"{args.script}: {result['wall']:.2f} s wall, {compiled:.2f} s compiling "
          f"{len(result['spans'])} specialisations of {len(by_name)} functions")
    print(f"{'function':48} {'versions':>8} {'seconds':>8} {'share':>6}")
    for name, (count, total) in sorted(by_name.items(), key=lambda x: -x[1][1])[:args.top]:
        print(f"{name:48} {count:8} {total:8.2f} {total / compiled:6.1%}")


if __name__ == "__main__":
    main()
