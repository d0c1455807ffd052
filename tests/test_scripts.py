"""The measurement scripts under benchmarks/ that asv does not run still run.

``benchmarks/call_overhead.py`` calls the kernels with their argument lists
written out, so a change of those lists breaks it without any other test
failing (it happened once).
"""
import importlib.util
import pathlib
import re

import numpy as np
import pytest
from numba import njit

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_call_overhead_times_every_part(capsys):
    load("call_overhead").main(calls=20)
    lines = capsys.readouterr().out.splitlines()
    parts = dict(re.fullmatch(r"(.+?)\s+(\d+) ns", line).groups() for line in lines)
    assert {"train_step", "sample_step direct", "sample_step kernel", "no-op direct",
            "no-op, same args", "no-op with NRT", "nothing"} <= set(parts)


def test_tiny_floor_checks_its_kernel_and_times_every_way(capsys):
    floor = load("tiny_floor")
    floor.main(n=300, rounds=1)
    lines = capsys.readouterr().out.splitlines()
    agreement = float(re.search(r"difference (\S+)", lines[0]).group(1))
    assert agreement < 1e-9
    ways = [re.match(r"(.+?)\s+\d+ ns a step", line).group(1) for line in lines[1:]]
    assert ways == ["fastbp", "specialised", "specialised, no tanh", "reordered",
                    "reordered, no tanh"]


def test_tiny_floor_refuses_a_kernel_that_computes_another_step(monkeypatch):
    floor = load("tiny_floor")
    # tanh's cubic Taylor polynomial: close, not the same step
    monkeypatch.setattr(floor, "tanh_of", njit(lambda z: z - z * z * z / 3.0))
    with pytest.raises(AssertionError, match="does not compute fastbp's step"):
        floor.main(n=50, rounds=1)


def test_blas_libraries_times_every_library(capsys):
    load("blas_libraries").main(layers=[(8, 16, 12, np.float32)], repeats=3)
    lines = capsys.readouterr().out.splitlines()[1:]  # after the backend's line
    header = lines[0]
    assert "SciPy BLAS" in header and "NumPy BLAS" in header
    rows = [re.findall(r"([\d.]+) ms", line) for line in lines[1:]]
    assert len(rows) == 3
    columns = header.count(" BLAS") + header.count("(JAX)") + header.count("PyTorch")
    assert all(len(times) == columns and all(float(t) > 0 for t in times) for times in rows)
