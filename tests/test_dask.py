"""A grid search over fastbp's estimators on a Dask cluster gives the serial result.

The cluster is a LocalCluster of two worker processes on 127.0.0.1 (no
dashboard: there may be no network); joblib's "dask" backend sends each
(parameters, fold) fit to a worker.  The workers compile nothing: they load the
kernels the serial search compiled into fastbp/_kernels/__pycache__.
"""
import numpy as np
import pytest

pytest.importorskip("sklearn")
distributed = pytest.importorskip("distributed")

import joblib  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import fastbp  # noqa: E402
from fastbp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def kernel_report():
    """Where a process found fastbp, and its kernels' disk-cache hits and misses."""
    from fastbp._kernels.entries import BUILTIN
    return {"file": fastbp.__file__,
            "hits": {name: sum(kernel.stats.cache_hits.values())
                     for name, kernel in BUILTIN._asdict().items()},
            "misses": {name: sum(kernel.stats.cache_misses.values())
                       for name, kernel in BUILTIN._asdict().items()}}


def searches():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16, y[:600]
    t = np.sin(X[:, :8].sum(axis=1))   # a smooth regression target on the same inputs
    classify = GridSearchCV(
        MLPClassifier(batch_size=32, learning_rate_init=0.01, max_iter=8, random_state=0),
        {"hidden_layer_sizes": [(16,), (32,)], "alpha": [1e-4, 1.0]}, cv=3)
    regress = GridSearchCV(
        MLPRegressor(activation="tanh", solver="lbfgs", max_iter=30, random_state=0),
        {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1.0]}, cv=3)
    return [(classify, X, y), (regress, X, t)]


def test_grid_search_on_a_local_cluster_matches_serial():
    # Serially first: this also compiles (or loads) the kernels the workers use.
    serial = [search.fit(X, y) for search, X, y in searches()]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_config(backend="dask"):
            parallel = [search.set_params(n_jobs=-1).fit(X, y) for search, X, y in searches()]
        workers = client.run(kernel_report)
    assert len(workers) == 2
    for report in workers.values():
        assert report["file"] == fastbp.__file__
        assert sum(report["misses"].values()) == 0, report   # nothing compiled
        assert report["hits"]["epoch"] >= 1, report            # ... yet they trained
    for s, p in zip(serial, parallel):
        assert p.best_params_ == s.best_params_
        # Exactly: every fit is seeded by random_state and runs the same
        # compiled code on the same CPU, whichever process runs it.
        assert np.array_equal(p.cv_results_["mean_test_score"],
                              s.cv_results_["mean_test_score"])
    # The scores are real: the searches learned (observed 0.868 accuracy, R^2 0.916).
    assert serial[0].best_score_ > 0.8 and serial[1].best_score_ > 0.85
