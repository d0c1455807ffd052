"""The measurement scripts under benchmarks/ that asv does not run still run.

``benchmarks/call_overhead.py`` calls the kernels with their argument lists
written out, so a change of those lists breaks it without any other test
failing (it happened once).
"""
import importlib.util
import pathlib
import re

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
