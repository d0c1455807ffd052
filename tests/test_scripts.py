"""The measurement scripts under tools/ still run.

``tools/call_overhead.py`` calls the kernels with their argument lists
written out, so a change of those lists breaks it without any other test
failing (it happened once).  ``tools/compare`` runs end to end on its
smallest workload, and its NumPy peer takes the reference's step.
"""
import importlib
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

REPO = pathlib.Path(__file__).resolve().parent.parent
TOOLS = REPO / "tools"


def load(path):
    """The script at ``path`` (under tools/) as a module."""
    path = TOOLS / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_call_overhead_times_every_part(capsys):
    load("call_overhead.py").main(calls=20)
    lines = capsys.readouterr().out.splitlines()
    parts = dict(re.fullmatch(r"(.+?)\s+(\d+) ns", line).groups() for line in lines)
    assert {"train_step", "sample_step direct", "sample_step kernel", "no-op direct",
            "no-op, same args", "no-op with NRT", "nothing"} <= set(parts)


def test_tiny_floor_checks_its_kernel_and_times_every_way(capsys):
    floor = load("studies/tiny_floor.py")
    floor.main(n=300, rounds=1)
    lines = capsys.readouterr().out.splitlines()
    agreement = float(re.search(r"difference (\S+)", lines[0]).group(1))
    assert agreement < 1e-9
    ways = [re.match(r"(.+?)\s+\d+ ns a step", line).group(1) for line in lines[1:]]
    assert ways == ["fastbp", "specialised", "specialised, no tanh", "reordered",
                    "reordered, no tanh"]


def test_tiny_floor_refuses_a_kernel_that_computes_another_step(monkeypatch):
    floor = load("studies/tiny_floor.py")
    # tanh's cubic Taylor polynomial: close, not the same step
    monkeypatch.setattr(floor, "tanh_of", njit(lambda z: z - z * z * z / 3.0))
    with pytest.raises(AssertionError, match="does not compute fastbp's step"):
        floor.main(n=50, rounds=1)


def test_blas_libraries_times_every_library(capsys):
    load("studies/blas_libraries.py").main(layers=[(8, 16, 12, np.float32)], repeats=3)
    lines = capsys.readouterr().out.splitlines()[1:]  # after the backend's line
    header = lines[0]
    assert "SciPy BLAS" in header and "NumPy BLAS" in header
    rows = [re.findall(r"([\d.]+) ms", line) for line in lines[1:]]
    assert len(rows) == 3
    columns = header.count(" BLAS") + header.count("(JAX)") + header.count("PyTorch")
    assert all(len(times) == columns and all(float(t) > 0 for t in times) for times in rows)


def test_compare_runs_its_quickest_mode_on_the_tiny_step():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    run = subprocess.run([sys.executable, "tools/compare", "--quick", "--threads", "1",
                          "--workloads", "tiny"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "one step from the same initial parameters vs a float64 NumPy step: all agree" in out
    rows = [line for line in out.splitlines() if re.match(r"\S+ \(per (step|epoch)\)", line)]
    assert len(rows) == 1 and rows[0].startswith("tiny (per step)")
    cells = re.findall(r"[\d.]+ [µnm]?s", rows[0])
    assert len(cells) >= 2  # fastbp and NumPy at least


@pytest.fixture
def compare(monkeypatch):
    """The package tools/compare, imported as ``python tools/compare`` imports it."""
    monkeypatch.syspath_prepend(str(TOOLS))
    return importlib.import_module("compare")


@pytest.mark.parametrize("name", ["tiny", "small", "mnist"])
def test_compare_numpy_peer_takes_the_reference_step(compare, name):
    checks = importlib.import_module("compare.checks")
    peers = importlib.import_module("compare.peers")
    workloads = importlib.import_module("compare.workloads")
    sizes, acts, batch, dtype = workloads.STEP_WORKLOADS[name]
    params = workloads.initial_params(sizes, acts, dtype)
    X, T = workloads.data(sizes, acts, batch, dtype, workloads.data_seed(name))
    want = checks.reference_step(params, acts, X, T)
    peer = peers.make("numpy", sizes, acts, dtype)
    peer.reset(params)
    peer.steps(X, T, 1)
    assert max(checks.errors(peer.params(), want, params)) <= checks.STEP_TOL[dtype]
    peer.steps(X, T, 1)  # a second step: the check must see the difference
    assert max(checks.errors(peer.params(), want, params)) > checks.STEP_TOL[dtype]


def test_cold_start_reads_the_scripts_asv_runs(monkeypatch):
    """``tools/cold_start.py`` times asv's own cold-start scripts: it reads them
    from benchmarks/bench_startup.py, and each prints what it reads back."""
    monkeypatch.syspath_prepend(str(TOOLS))
    cold = load("cold_start.py")
    fit, every = cold.startup_script("_COLD_FIT"), cold.startup_script("_COLD_START")
    assert "net.fit(" in fit and "train_step" in every
    with pytest.raises(LookupError, match="_NOPE"):
        cold.startup_script("_NOPE")


def test_fingerprint_is_reproducible_on_a_case(capsys):
    """``tools/fingerprint.py``'s digests are the same for the same case run twice
    and differ for another case."""
    fingerprint = load("fingerprint.py")
    cases = dict(fingerprint.cases())
    digests = []
    for name in ("float64 tanh-sse passes", "float64 tanh-sse passes",
                 "float64 sigmoid-mse passes"):
        digest = fingerprint.Digest()
        cases[name](digest)
        digests.append(digest.hex())
    assert digests[0] == digests[1] != digests[2]
