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


def test_an_ensemble_split_over_a_local_cluster_equals_one_machine():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 4))
    labels = rng.integers(0, 3, 90)
    train, test = fastbp.kfold(90, 6, seed=1)
    options = dict(epochs=4, batch_size=8, loss="cross_entropy",
                   validation_data=(X, labels), patience=2)
    here = fastbp.Ensemble([4, 8, 3], ["tanh", "softmax"], 6, seed=2)
    there = fastbp.Ensemble.from_networks(here)
    rates = [1e-2, 3e-2, 1e-1, 3e-1, 1.0, 3.0]
    expected = here.fit(X, labels, optimizer=[fastbp.SGD(lr, momentum=0.9) for lr in rates],
                        seed=5, sample_indices=train, validation_indices=test, **options)
    mine = [fastbp.SGD(lr, momentum=0.9) for lr in rates]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = there.fit_distributed(client, X, labels, parts=3, optimizer=mine, seed=5,
                                    sample_indices=train, validation_indices=test, **options)
    assert np.array_equal(there.params, here.params)
    assert there.status == here.status
    for a, b in zip(mine, here.optimizers):   # the given optimizers took the trained state
        assert a.steps == b.steps > 0 and a.epoch == b.epoch
        assert np.array_equal(a.state, b.state)
    np.testing.assert_array_equal(got.losses(), expected.losses())
    np.testing.assert_array_equal(got.losses("val_loss"), expected.losses("val_loss"))
    assert got.best_epoch == expected.best_epoch and got.stopped_early == expected.stopped_early
