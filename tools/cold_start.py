"""Cold compiles of two revisions of fastbp, alternating, each with an empty numba cache.

    python tools/cold_start.py 867679e WORKTREE              # fit alone, float64
    python tools/cold_start.py 867679e WORKTREE --all --dtype float32 --rounds 5

Each revision's ``fastbp/`` is exported (``WORKTREE`` is the working tree's
copy) into a temporary directory of its own.  Every round runs, for each
revision in turn (which goes first alternates), a fresh interpreter with a new,
empty ``NUMBA_CACHE_DIR`` on asv's cold-start script
(``benchmarks/bench_startup.py``: ``_COLD_FIT``, the first ``fit`` of a new
network, or with ``--all`` ``_COLD_START``, every entry point), and prints
each run's seconds, then the medians and their ratio.  Compile times follow
the machine's load: only the ratio of runs interleaved like this means much.
"""
import argparse
import ast
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

from side_by_side import REPO, export


def startup_script(name):
    """The source of ``name`` in benchmarks/bench_startup.py, read without importing it."""
    tree = ast.parse((REPO / "benchmarks" / "bench_startup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"benchmarks/bench_startup.py defines no {name}")


def cold_seconds(package_dir, script, dtype, cache):
    """Seconds of one cold run of ``script`` on the fastbp in ``package_dir``."""
    env = {**os.environ, "PYTHONPATH": str(package_dir), "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", script, dtype], env=env, cwd=package_dir,
                          capture_output=True, text=True, check=True)
    value = json.loads(done.stdout.strip().splitlines()[-1])
    return sum(value.values()) if isinstance(value, dict) else float(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev_a")
    parser.add_argument("rev_b")
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--all", action="store_true",
                        help="every entry point (_COLD_START), not fit alone (_COLD_FIT)")
    args = parser.parse_args(argv)
    script = startup_script("_COLD_START" if args.all else "_COLD_FIT")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="fastbp-cold-start-"))
    try:
        dirs = []
        for i, rev in enumerate((args.rev_a, args.rev_b)):
            (tmp / str(i)).mkdir()
            export(rev, tmp / str(i), "fastbp")
            dirs.append(tmp / str(i))
        times = [[], []]
        for round_ in range(args.rounds):
            for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                cache = tmp / f"cache-{round_}-{i}"
                times[i].append(cold_seconds(dirs[i], script, args.dtype, cache))
                shutil.rmtree(cache, ignore_errors=True)
            print(f"round {round_ + 1}: {args.rev_a} {times[0][-1]:.2f} s, "
                  f"{args.rev_b} {times[1][-1]:.2f} s", flush=True)
        a, b = (statistics.median(t) for t in times)
        what = "every entry point" if args.all else "fit"
        print(f"cold {what}, {args.dtype}, medians of {args.rounds}: {args.rev_a} {a:.2f} s, "
              f"{args.rev_b} {b:.2f} s, ratio (b/a) {b / a:.3f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
