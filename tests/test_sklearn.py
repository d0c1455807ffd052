"""fastbp.sklearn: scikit-learn's estimator checks, its MLP's steps, and real fits.

The estimator instances of the check suite are small (8 hidden units, at most
200 epochs on the checks' data of 20-300 samples) so all of it runs in seconds.
"""
import functools
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastbp  # noqa: E402
from fastbp.sklearn import (MLPClassifier, MLPEnsembleClassifier,  # noqa: E402
                            MLPEnsembleRegressor, MLPRegressor)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Most fits here stop at a small max_iter on purpose, which scikit-learn's
# convention reports with a ConvergenceWarning; test_convergence_warning checks
# that it is given when due.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# --- scikit-learn's estimator checks ----------------------------------------

CHECKED = [
    MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01),
    MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01),
    MLPRegressor(hidden_layer_sizes=(8, 4), activation=["tanh", "relu"], solver="lbfgs",
                 max_iter=100),
    MLPClassifier(hidden_layer_sizes=(8,), activation="logistic", solver="sgd",
                  learning_rate_init=0.1),
    MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, dtype=np.float32),
    MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, dtype=np.float32),
    MLPEnsembleRegressor(hidden_layer_sizes=(8,), n_members=3, learning_rate_init=0.01,
                         max_iter=50),
    MLPEnsembleClassifier(hidden_layer_sizes=(8,), n_members=3, learning_rate_init=0.01,
                          max_iter=50),
]


def expected_failures(estimator):
    if isinstance(estimator, MLPRegressor) and estimator.dtype == np.float32:
        # The check asserts float64 predictions; dtype=np.float32 asks for a
        # float32 network, whose predictions are float32 by design.
        return {"check_regressor_multioutput": "dtype=np.float32 predicts float32"}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=expected_failures,
                         xfail_strict=True)
def test_estimator_checks(estimator, check):
    if check.func.__name__ == "check_array_api_input":
        # The check needs SCIPY_ARRAY_API=1 set before SciPy is first imported,
        # which is too late in this process: it runs in a fresh one instead.
        outcome = array_api_outcomes(tuple(sorted(check.keywords.items())))
        assert outcome[repr(estimator)] == "passed", outcome[repr(estimator)]
        return
    check(estimator)


@functools.lru_cache(maxsize=None)
def array_api_outcomes(keywords):
    """check_array_api_input on every CHECKED estimator, in one fresh process
    with SCIPY_ARRAY_API=1: {repr(estimator): "passed" or the traceback}."""
    code = (
        "import pickle, sys, traceback, warnings\n"
        "from sklearn.exceptions import ConvergenceWarning\n"
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "warnings.simplefilter('ignore', ConvergenceWarning)\n"
        "estimators, kwargs = pickle.load(sys.stdin.buffer)\n"
        "outcome = {}\n"
        "for estimator in estimators:\n"
        "    try:\n"
        "        check_array_api_input(type(estimator).__name__, estimator, **kwargs)\n"
        "        outcome[repr(estimator)] = 'passed'\n"
        "    except BaseException:\n"
        "        outcome[repr(estimator)] = traceback.format_exc()\n"
        "sys.stdout.buffer.write(pickle.dumps(outcome))\n")
    env = {**os.environ, "SCIPY_ARRAY_API": "1",
           "PYTHONPATH": os.pathsep.join([ROOT] + sys.path)}
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(
        (CHECKED, dict(keywords))), capture_output=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    return pickle.loads(done.stdout)


def test_fastbp_alone_does_not_import_sklearn():
    code = "import sys, fastbp; print('sklearn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT}, timeout=300)
    assert done.stdout.decode().strip() == "False", done.stderr.decode()


# --- the same steps as scikit-learn's MLP -----------------------------------

rng = np.random.default_rng(0)
X_SMALL = rng.normal(size=(103, 5))
Y_TWO = np.stack([np.sin(X_SMALL[:, 0]) + X_SMALL[:, 1], X_SMALL[:, 2] * X_SMALL[:, 3]], axis=1)
LABELS = (X_SMALL[:, 0] > 0).astype(int) + (X_SMALL[:, 1] > 0)   # three classes


def continue_both(ours_cls, theirs_cls, y, max_iter=4, **params):
    """Both estimators continued (warm_start) for ``max_iter`` epochs from the
    same parameters: fastbp's weights after one epoch, and zero biases."""
    params = dict(hidden_layer_sizes=(7, 6), activation="tanh", random_state=0,
                  max_iter=1, **params)
    ours = ours_cls(**params).fit(X_SMALL, y)
    theirs = theirs_cls(**params).fit(X_SMALL, y)
    for b in ours.intercepts_:
        b[...] = 0.0
    for mine, other in zip(ours.coefs_ + ours.intercepts_,
                           theirs.coefs_ + theirs.intercepts_):
        other[...] = mine
    ours.set_params(warm_start=True, max_iter=max_iter).fit(X_SMALL, y)
    theirs.set_params(warm_start=True, max_iter=max_iter).fit(X_SMALL, y)
    return ours, theirs


def largest_difference(ours, theirs):
    return max(np.abs(a - b).max()
               for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_))


SGD_CASES = [dict(momentum=0.9, nesterovs_momentum=True),
             dict(momentum=0.9, nesterovs_momentum=False),
             dict(momentum=0.0, learning_rate="invscaling")]


@pytest.mark.parametrize("params", SGD_CASES, ids=["nesterov", "momentum", "invscaling"])
@pytest.mark.parametrize("ours_cls, theirs_cls, y", [
    (MLPRegressor, neural_network.MLPRegressor, Y_TWO[:, 0]),
    (MLPRegressor, neural_network.MLPRegressor, Y_TWO),
    (MLPClassifier, neural_network.MLPClassifier, LABELS),
], ids=["regressor", "regressor-2-outputs", "classifier"])
def test_sgd_takes_sklearns_steps(ours_cls, theirs_cls, y, params):
    # 4 epochs of 7 batches (the last one of 7 samples) with shuffle=False:
    # float64 rounding only (observed <= 5e-16); a wrong scale is off by > 1e-3.
    ours, theirs = continue_both(ours_cls, theirs_cls, y, solver="sgd", batch_size=16,
                                 learning_rate_init=0.05, alpha=0.0, shuffle=False, **params)
    assert largest_difference(ours, theirs) < 1e-12
    np.testing.assert_allclose(ours.loss_curve_[-4:], theirs.loss_curve_[-4:], rtol=1e-12)
    assert ours.t_ == theirs.t_ == 5 * 103


def test_adam_takes_sklearns_steps_up_to_epsilon():
    # Adam's epsilon sits after the bias correction in fastbp (torch), before
    # it in scikit-learn; with epsilon=1e-8 that moves 28 steps of size ~0.01
    # by ~1e-5 (observed 1e-5).  A wrong scale of the gradient or of the step
    # is off by > 1e-3.
    ours, theirs = continue_both(MLPClassifier, neural_network.MLPClassifier, LABELS,
                                 solver="adam", batch_size=16, learning_rate_init=0.01,
                                 alpha=0.0, shuffle=False)
    assert largest_difference(ours, theirs) < 1e-4


@pytest.mark.parametrize("ours_cls, theirs_cls, y", [
    (MLPRegressor, neural_network.MLPRegressor, Y_TWO[:, 0]),
    (MLPClassifier, neural_network.MLPClassifier, LABELS),
], ids=["regressor", "classifier"])
def test_lbfgs_takes_sklearns_iterates(ours_cls, theirs_cls, y):
    # The same objective (up to the scale c) and SciPy's L-BFGS-B: 20
    # iterations agree to rounding, amplified by the line searches (observed 3e-12).
    ours, theirs = continue_both(ours_cls, theirs_cls, y, max_iter=20, solver="lbfgs",
                                 alpha=0.0)
    assert ours.n_iter_ == theirs.n_iter_ == 20
    assert largest_difference(ours, theirs) < 1e-8
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-9)


def test_alpha_is_sklearns_l2_penalty_on_the_weights():
    # One full-batch sgd step from zero biases, so that decaying them too
    # changes nothing: the weights must move by lr * (gradient + alpha / n * W)
    # exactly as scikit-learn's.
    ours, theirs = continue_both(MLPRegressor, neural_network.MLPRegressor, Y_TWO, max_iter=1,
                                 solver="sgd", batch_size=103, momentum=0.0,
                                 learning_rate_init=0.05, alpha=3.0)
    no_penalty, _ = continue_both(MLPRegressor, neural_network.MLPRegressor, Y_TWO,
                                  max_iter=1, solver="sgd", batch_size=103, momentum=0.0,
                                  learning_rate_init=0.05, alpha=0.0)
    assert largest_difference(ours, theirs) < 1e-14
    assert largest_difference(ours, no_penalty) > 1e-3   # the penalty did act


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive"])
def test_stopping_rule_is_sklearns(learning_rate):
    # tol so large that no epoch after the first counts as an improvement: the
    # epochs run are decided by n_iter_no_change alone, 1 + (3 + 1), and for
    # "adaptive" by the rate too: divided by 5 every 4 epochs, 1e-3 ... 1.6e-6,
    # and stopping at 3.2e-7 <= 1e-6: 1 + 6 * 4 epochs.
    params = dict(hidden_layer_sizes=(4,), solver="sgd", tol=1e9, n_iter_no_change=3,
                  learning_rate=learning_rate, max_iter=500, random_state=0)
    ours = MLPClassifier(**params).fit(X_SMALL, LABELS)
    theirs = neural_network.MLPClassifier(**params).fit(X_SMALL, LABELS)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.n_iter_ == (5 if learning_rate == "constant" else 25)


# --- real fits --------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, random_state=0, stratify=y)


@pytest.mark.parametrize("params, accuracy", [
    (dict(batch_size=32, max_iter=40), 0.96),                      # adam
    (dict(solver="sgd", batch_size=32, learning_rate_init=0.05, max_iter=60), 0.96),
    (dict(solver="lbfgs", max_iter=200), 0.96),
    (dict(batch_size=32, max_iter=40, dtype=np.float32), 0.96),
], ids=["adam", "sgd", "lbfgs", "adam-float32"])
def test_classifier_on_digits(digits, params, accuracy):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier((64,), random_state=0, **params).fit(X_train, y_train)
    # Observed 0.978, 0.971, 0.976 and 0.978 test accuracy (450 test digits).
    assert clf.score(X_test, y_test) > accuracy
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10)
    assert proba.dtype == np.dtype(params.get("dtype", np.float64))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert np.array_equal(clf.predict(X_test), clf.classes_[proba.argmax(axis=1)])
    assert clf.network_.dtype == np.dtype(params.get("dtype", np.float64))


def smooth_problem():
    x = np.linspace(-3, 3, 1000).reshape(-1, 1)
    return x, (np.sin(2 * x) * np.exp(-x ** 2 / 4)).ravel()


@pytest.mark.parametrize("params, r2", [
    (dict(learning_rate_init=3e-3, batch_size=64, max_iter=300), 0.99),
    (dict(solver="lbfgs", max_iter=500), 0.999),
], ids=["adam", "lbfgs"])
def test_regressor_on_a_smooth_function(params, r2):
    x, t = smooth_problem()
    reg = MLPRegressor((32, 32), activation="tanh", random_state=0, **params).fit(x, t)
    # Observed R^2 0.9966 (adam, stopped by tol after 87 epochs) and 0.99977 (lbfgs).
    assert reg.score(x, t) > r2
    assert reg.predict(x).shape == (1000,)
    assert reg.n_iter_ == len(reg.loss_curve_) and reg.loss_ == reg.loss_curve_[-1]


def test_multioutput_regression():
    x, t = smooth_problem()
    T = np.stack([t, np.cos(x.ravel())], axis=1)
    reg = MLPRegressor((32,), activation="tanh", solver="lbfgs", max_iter=300,
                       random_state=0).fit(x, T)
    assert reg.predict(x).shape == (1000, 2)
    assert reg.n_outputs_ == 2
    assert reg.score(x, T) > 0.99   # observed 0.9998


def test_same_random_state_same_predictions(digits):
    X_train, X_test, y_train, _ = digits
    make = lambda seed: MLPClassifier((16,), batch_size=32, max_iter=3, random_state=seed)
    first = make(3).fit(X_train, y_train).predict_proba(X_test)
    again = make(3).fit(X_train, y_train).predict_proba(X_test)
    other = make(4).fit(X_train, y_train).predict_proba(X_test)
    assert np.array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


def test_warm_start_continues(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier((16,), batch_size=32, max_iter=5, random_state=0, warm_start=True)
    clf.fit(X_train, y_train)
    network, after_first = clf.network_, clf.loss_curve_[-1]
    clf.fit(X_train, y_train)
    assert clf.network_ is network
    assert len(clf.loss_curve_) == 10 and clf.n_iter_ == 5
    # The second fit starts where the first ended, far below the first epoch's loss.
    # (observed 2.26 at epoch 1, 1.28 at 5, 1.08 at 6: a restart would give ~2.26).
    assert clf.loss_curve_[5] < after_first < 0.6 * clf.loss_curve_[0]
    clf.set_params(warm_start=False)
    clf.fit(X_train, y_train)
    assert clf.network_ is not network and len(clf.loss_curve_) == 5


def test_partial_fit_reduces_the_loss(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier((32,), batch_size=32, learning_rate_init=3e-3, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X_train, y_train)
    for _ in range(10):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 10 and clf.t_ == 10 * len(X_train)
    assert clf.loss_curve_[-1] < 0.2 * clf.loss_curve_[0]   # observed 0.075
    assert clf.score(X_test, y_test) > 0.93                    # observed 0.953
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X_train[:3], [0, 1, 11])
    reg = MLPRegressor((16,), activation="tanh", batch_size=32, random_state=0)
    x, t = smooth_problem()
    for _ in range(20):
        reg.partial_fit(x, t)
    assert reg.loss_curve_[-1] < 0.5 * reg.loss_curve_[0]   # observed 0.30
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_activation_per_layer():
    x, t = smooth_problem()
    reg = MLPRegressor((8, 6, 4), activation=["tanh", "logistic", "relu"], max_iter=5,
                       random_state=0)
    reg.fit(x, t)
    assert reg.network_.activations == ("tanh", "sigmoid", "relu", "identity")
    assert reg.network_.sizes == (1, 8, 6, 4, 1) and reg.n_layers_ == 5
    assert [c.shape for c in reg.coefs_] == [(1, 8), (8, 6), (6, 4), (4, 1)]
    with pytest.raises(ValueError, match=r"activation: expected one name, or 3 names"):
        MLPRegressor((8, 6, 4), activation=["tanh", "relu"]).fit(x, t)
    with pytest.raises(ValueError,
                       match=r"activation\[1\]: unknown activation 'gelu'.*'logistic'"):
        MLPRegressor((8, 6), activation=["tanh", "gelu"]).fit(x, t)


def test_registered_activation_by_name():
    # A network with an activation of one's own compiles its passes once per
    # process (10-20 s): the price of this test.
    from test_custom import swish, swish_derivative

    fastbp.register_activation("test_sklearn_swish", swish, swish_derivative)
    x, t = smooth_problem()
    reg = MLPRegressor((16,), activation="test_sklearn_swish", solver="lbfgs",
                       random_state=0).fit(x, t)
    assert reg.network_.activations == ("test_sklearn_swish", "identity")
    assert reg.score(x, t) > 0.99   # observed 0.998


@pytest.mark.parametrize("params, message", [
    (dict(solver="newton"), "solver: expected one of"),
    (dict(hidden_layer_sizes=(8, 0)), r"hidden_layer_sizes\[1\]"),
    (dict(learning_rate_init=0), "learning_rate_init"),
    (dict(momentum=1.0), "momentum"),
    (dict(batch_size=0), "batch_size"),
    (dict(early_stopping=True, validation_fraction=1.0), "validation_fraction"),
    (dict(dtype=np.int32), "dtype"),
])
def test_bad_parameters_are_named(params, message):
    x, t = smooth_problem()
    with pytest.raises((ValueError, TypeError), match=message):
        MLPRegressor(**params).fit(x, t)


@pytest.mark.parametrize("sizes, error, message", [
    (("a",), ValueError, r"hidden_layer_sizes\[0\]: expected a positive integer"),
    ((2.5,), ValueError, r"hidden_layer_sizes\[0\]: expected a positive integer"),
    ((True,), ValueError, r"hidden_layer_sizes\[0\]: expected a positive integer"),
    ((4, 0), ValueError, r"hidden_layer_sizes\[1\]: expected a positive integer"),
    (5.5, TypeError, r"hidden_layer_sizes: expected an int or a sequence of ints"),
])
def test_bad_hidden_layer_sizes_raise_what_scikit_learn_users_catch(sizes, error, message):
    """A width of the wrong kind or value is a ValueError, as scikit-learn's own
    parameter checks raise; only a value that is no sequence is a TypeError."""
    x, t = smooth_problem()
    with pytest.raises(error, match=message) as caught:
        MLPRegressor(hidden_layer_sizes=sizes).fit(x, t)
    assert type(caught.value) is error


def test_string_labels_and_binary_problems():
    y = np.where(LABELS == 0, "cat", "dog")
    clf = MLPClassifier((8,), solver="lbfgs", random_state=0).fit(X_SMALL, y)
    assert list(clf.classes_) == ["cat", "dog"]
    assert clf.predict_proba(X_SMALL).shape == (103, 2)
    assert set(clf.predict(X_SMALL)) <= {"cat", "dog"}
    assert clf.score(X_SMALL, y) > 0.9   # observed 1.0: the classes are separable
    with pytest.raises(ValueError, match="multilabel"):
        clf.fit(X_SMALL, np.stack([LABELS, LABELS], axis=1))


def test_early_stopping(digits):
    X_train, _, y_train, _ = digits
    clf = MLPClassifier((32,), batch_size=32, early_stopping=True, n_iter_no_change=3,
                        max_iter=200, random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.93  # observed 0.956
    assert clf.best_loss_ is None
    with pytest.raises(ValueError, match="early_stopping"):
        clf.partial_fit(X_train, y_train)


def test_pipeline_and_grid_search(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(batch_size=32, max_iter=15,
                                                         random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (48,)],
            "mlpclassifier__alpha": [1e-4, 1e-1]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train * 16, y_train)
    assert len(search.cv_results_["mean_test_score"]) == 4
    assert search.best_params_["mlpclassifier__hidden_layer_sizes"] == (48,)
    assert search.best_score_ > 0.93                              # observed 0.949
    assert search.score(X_test * 16, y_test) > 0.95               # observed 0.967


def test_pickle_round_trip(digits):
    X_train, X_test, y_train, _ = digits
    clf = MLPClassifier((16,), batch_size=32, max_iter=3, random_state=0)
    clf.fit(X_train, y_train)
    copy = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(copy.predict_proba(X_test), clf.predict_proba(X_test))
    assert copy.loss_curve_ == clf.loss_curve_
    copy.partial_fit(X_train, y_train)   # the optimizer's state came along too
    assert len(copy.loss_curve_) == 4


def test_dataframe_feature_names():
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X_SMALL, columns=[f"f{i}" for i in range(5)])
    reg = MLPRegressor((8,), solver="lbfgs", random_state=0).fit(frame, Y_TWO)
    assert list(reg.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        assert np.array_equal(reg.predict(frame), reg.predict(X_SMALL))
    with pytest.raises(ValueError, match="feature names"):
        reg.predict(frame[frame.columns[::-1]])


def test_convergence_warning():
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        MLPRegressor((4,), max_iter=3, random_state=0).fit(X_SMALL, Y_TWO)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge after 3 iterations"):
        MLPRegressor((4,), solver="lbfgs", max_iter=3, random_state=0).fit(X_SMALL, Y_TWO)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = MLPRegressor((4,), max_iter=100, tol=1e9, random_state=0).fit(X_SMALL, Y_TWO)
        assert reg.n_iter_ == 12   # stopped by tol: 1 + (n_iter_no_change + 1) epochs


def test_verbose_prints_the_loss(capsys):
    MLPRegressor((4,), max_iter=2, verbose=True, random_state=0, tol=1e9,
                 n_iter_no_change=1).fit(X_SMALL, Y_TWO)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Iteration 1, loss = ")
    assert lines[1].startswith("Iteration 2, loss = ")


def test_network_is_a_fastbp_network():
    reg = MLPRegressor((8,), solver="lbfgs", random_state=0).fit(X_SMALL, Y_TWO)
    assert isinstance(reg.network_, fastbp.Network)
    np.testing.assert_allclose(reg.network_.forward(X_SMALL), reg.predict(X_SMALL))


# --- the ensemble estimators ------------------------------------------------

def test_ensemble_regressor_is_its_ensemble():
    y = Y_TWO[:, 0]
    reg = MLPEnsembleRegressor((8,), activation="tanh", n_members=3, solver="sgd",
                               learning_rate_init=0.05, momentum=0.5, alpha=1e-3, batch_size=16,
                               max_iter=20, random_state=4).fit(X_SMALL, y)
    # The same ensemble by hand: the seed random_state gives, the loss scaling
    # of MLPRegressor (c = 2 / n_outputs), the bootstrap rows.
    seed = int(np.random.RandomState(4).randint(np.iinfo(np.int32).max))
    ens = fastbp.Ensemble([5, 8, 1], ["tanh", "identity"], 3, seed=seed)
    opt = fastbp.SGD(lr=0.05 / 2.0, momentum=0.5, nesterov=True, weight_decay=2.0 * 1e-3 / 16)
    ens.fit(X_SMALL, y.reshape(-1, 1), epochs=20, batch_size=16, optimizer=opt, loss="mse",
            seed=seed, sample_indices=fastbp.bootstrap(103, 3, seed))
    np.testing.assert_array_equal(reg.ensemble_.params, ens.params)
    mean, std = reg.predict(X_SMALL, return_std=True)
    outputs = ens.predict(X_SMALL)[:, :, 0]
    np.testing.assert_array_equal(mean, outputs.mean(axis=0))
    np.testing.assert_array_equal(std, outputs.std(axis=0))
    assert std.min() > 0 and len(reg.loss_curve_) == reg.n_iter_ == 20
    assert len(reg.coefs_) == 3 and reg.coefs_[0][0].shape == (5, 8)


def test_ensemble_classifier_averages_probabilities():
    clf = MLPEnsembleClassifier((8,), n_members=4, bootstrap=False, learning_rate_init=0.01,
                                max_iter=30, random_state=0).fit(X_SMALL, LABELS)
    proba = clf.predict_proba(X_SMALL)
    members = clf.ensemble_.predict(X_SMALL)
    np.testing.assert_allclose(proba, members.mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(clf.predict(X_SMALL), clf.classes_[proba.argmax(axis=1)])
    assert not np.array_equal(members[0], members[1])   # distinct members
    assert not hasattr(clf, "partial_fit")
    stopped = MLPEnsembleClassifier((8,), n_members=3, learning_rate_init=0.05, max_iter=200,
                                    early_stopping=True, n_iter_no_change=3,
                                    random_state=0).fit(X_SMALL, LABELS)
    assert stopped.n_iter_ < 200   # every member ran out of patience


@pytest.mark.parametrize("params, message", [
    (dict(n_members=0), "n_members"), (dict(bootstrap="yes"), "bootstrap"),
    (dict(solver="lbfgs"), "solver"), (dict(learning_rate="adaptive", solver="sgd"),
                                       "learning_rate"),
    (dict(warm_start=True), "warm_start")])
def test_ensemble_estimators_refuse_what_they_do_not_do(params, message):
    with pytest.raises(ValueError, match=message):
        MLPEnsembleRegressor((4,), max_iter=2, **params).fit(X_SMALL, Y_TWO)

