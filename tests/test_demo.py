"""The main job, ``python -m fastbp.demo``: its command line, what it prints, its timing."""
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

from fastbp import demo

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A cold numba cache compiles for a minute or more on a slow machine.
RUN_TIMEOUT = 900


def run(args, cwd, timeout):
    """``python args...`` in a child process that imports this checkout's fastbp."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def run_demo(args, cwd, timeout=RUN_TIMEOUT):
    return run(["-m", "fastbp.demo", *args], cwd, timeout)


# --- the wording of the comparison ------------------------------------------

@pytest.mark.parametrize("factor, words", [
    (3.1, "3.1x faster"), (3.14, "3.1x faster"), (1.0, "1.0x faster"), (12.0, "12.0x faster"),
    (0.5, "2.0x slower"), (0.1, "10.0x slower"), (0.8, "1.2x slower"),
    (0.23 / 2.3, "10.0x slower"),  # scikit-learn 0.23 s, fastbp 2.3 s
])
def test_comparison_says_how_many_times_faster_or_slower(factor, words):
    assert demo.comparison(factor) == words


@pytest.mark.parametrize("factor", [0.0, -2.0, math.nan, math.inf])
def test_comparison_refuses_a_factor_that_is_no_ratio_of_times(factor):
    with pytest.raises(ValueError, match="positive finite"):
        demo.comparison(factor)


# --- the command line ---------------------------------------------------------

def test_command_line_defaults_are_the_demo_of_a_plain_run():
    args = demo.parser().parse_args([])
    assert (args.epochs, args.seed, args.plot) == (40, 0, "digits-loss.png")


def test_command_line_options():
    args = demo.parser().parse_args(["--epochs", "3", "--seed", "7", "--plot", "out.png"])
    assert (args.epochs, args.seed, args.plot) == (3, 7, "out.png")
    assert demo.parser().parse_args(["--no-plot"]).plot is None


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "expected at least 1"),
    (["--epochs", "two"], "expected a whole number"),
    (["--plot", "a.png", "--no-plot"], "not allowed with"),
])
def test_command_line_refuses(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        demo.parser().parse_args(argv)
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_help_describes_the_demo_without_training(tmp_path):
    done = run_demo(["--help"], tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m fastbp.demo")
    for option in ("--epochs", "--seed", "--plot PATH", "--no-plot", 'pip install ".[demo]"'):
        assert option in done.stdout
    # None of a run's output: no data loaded, nothing trained.
    assert not re.search(r"^digits: \d+ training|first call \(|test accuracy \d", done.stdout, re.M)
    assert list(tmp_path.iterdir()) == []


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import raises ImportError
    with pytest.raises(SystemExit, match=re.escape('pip install ".[demo]"')):
        demo._data()


# --- a run ------------------------------------------------------------------

def parse(out):
    """The figures of the demo's output, by name."""
    first = re.search(r"^fastbp first call \(compiling .*\): (\d+\.\d+) s, not counted", out,
                      re.M)
    mine = re.search(r"^fastbp: +test accuracy (\d\.\d{4}) +fit (\d+\.\d) ms +(\d+\.\d\d) ms "
                     r"per epoch \(median\)$", out, re.M)
    theirs = re.search(r"^scikit-learn: +test accuracy (\d\.\d{4}) +fit (\d+\.\d) ms +"
                       r"(\d+\.\d\d) ms per epoch \(mean\)$", out, re.M)
    verdict = re.search(r"^fastbp's warm fit is (\d+\.\d)x (faster|slower) than MLPClassifier's",
                        out, re.M)
    assert first and mine and theirs and verdict, out
    return {"first_s": float(first[1]),
            "acc": float(mine[1]), "fit_ms": float(mine[2]), "epoch_ms": float(mine[3]),
            "sk_acc": float(theirs[1]), "sk_fit_ms": float(theirs[2]),
            "sk_epoch_ms": float(theirs[3]),
            "times": float(verdict[1]), "word": verdict[2]}


def test_a_short_run_prints_the_first_call_both_accuracies_and_a_true_comparison(tmp_path):
    pytest.importorskip("sklearn")
    done = run_demo(["--epochs", "2", "--no-plot"], tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "batch 32, 2 epochs, cross-entropy" in out.splitlines()[0]
    got = parse(out)
    assert got["first_s"] > 0
    # Two epochs of Adam reach well above chance (0.1) on the digits.
    assert 0.5 < got["acc"] <= 1 and 0.5 < got["sk_acc"] <= 1
    assert 0 < got["epoch_ms"] <= got["fit_ms"]
    assert got["sk_epoch_ms"] == pytest.approx(got["sk_fit_ms"] / 2, abs=0.06)
    # The verdict is scikit-learn's time over fastbp's, in the words of comparison();
    # the printed times are rounded to 0.1 ms.
    ratio = got["sk_fit_ms"] / got["fit_ms"]
    expected = ratio if got["word"] == "faster" else 1 / ratio
    assert got["times"] == pytest.approx(expected, rel=0.03, abs=0.06)
    assert "saved to" not in out and list(tmp_path.iterdir()) == []


def test_a_run_saves_its_plot_where_asked(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    done = run_demo(["--epochs", "1", "--plot", "curves.png"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cross-entropy and test accuracy per epoch saved to curves.png" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# A fresh process: which compiled versions fastbp's dispatchers hold before the
# warm-up, before the timed fit, and after it and the score that follows it.
CHILD = textwrap.dedent("""
    import json, sys
    from numba.core.dispatcher import Dispatcher
    from fastbp import demo

    def versions():
        return {f"{name}.{attr}": len(value.signatures)
                for name, module in list(sys.modules.items()) if name.startswith("fastbp")
                for attr, value in vars(module).items() if isinstance(value, Dispatcher)}

    seen = []
    fit = demo._fastbp_fit

    def recorded(*args):
        seen.append(versions())
        return fit(*args)

    demo._fastbp_fit = recorded
    demo._fastbp(*demo._data(), 2, 0)
    seen.append(versions())
    print(json.dumps(seen))
""")


def test_the_warm_up_compiles_every_kernel_the_timed_fit_calls(tmp_path):
    pytest.importorskip("sklearn")
    done = run(["-c", CHILD], tmp_path, RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    before, warm, after = json.loads(done.stdout)
    assert not any(before.values())  # a fresh process: nothing compiled or loaded yet
    for kernel in ("_kernels.training.epoch", "_kernels.training.evaluate",
                   "_kernels.passes.predict"):
        assert warm[f"fastbp.{kernel}"] == 1
    # The timed fit and the score find everything compiled by the warm-up.
    assert after == warm
