"""Whether an implementation computes the step: its parameters against a reference.

Step check: the parameters after one step against a float64 step of
``fastbp.testing``.  Epoch check: the parameters after one epoch against the
NumPy loop in the same dtype.  Both the parameters and their change from the
initial ones must agree (relative to the largest magnitude in each array): a
wrong update can hide in the parameters, which it changes little.
"""
import importlib.util
import pathlib

import numpy as np

from compare.workloads import LR

STEP_TOL = {"float64": 1e-6, "float32": 1e-3}
EPOCH_TOL = {"float64": 1e-6, "float32": 1e-3}


def _load_reference():
    """The repository's ``fastbp/testing.py``, loaded from its file.

    It imports nothing but NumPy, so this works where fastbp is hidden
    (``--skip fastbp``) or not installed, and checks every implementation
    against the same reference whichever fastbp is timed.
    """
    path = pathlib.Path(__file__).resolve().parents[2] / "fastbp" / "testing.py"
    spec = importlib.util.spec_from_file_location("compare_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


testing = _load_reference()


def reference_step(params, acts, X, T, lr=LR):
    """[(weights, biases), ...] after one float64 SGD step at rate lr (loss
    sse) from params."""
    weights = [np.asarray(w, np.float64) for w, _ in params]
    biases = [np.asarray(b, np.float64) for _, b in params]
    weights, biases = testing.sgd_step(weights, biases, acts, np.asarray(X, np.float64),
                                       np.asarray(T, np.float64), lr, loss="sse")
    return list(zip(weights, biases))


def errors(got, want, start):
    """(largest relative error of the parameters, of their change), each
    relative to the largest magnitude in its array."""
    e_param = e_update = 0.0
    for g_pair, w_pair, s_pair in zip(got, want, start):
        for g, w, s in zip(g_pair, w_pair, s_pair):
            g, w, s = (np.asarray(a, np.float64) for a in (g, w, s))
            e_param = max(e_param, testing.max_relative_error(g, w))
            e_update = max(e_update, testing.max_relative_error(g - s, w - s))
    return float(e_param), float(e_update)
