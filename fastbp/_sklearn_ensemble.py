"""``fastbp.sklearn``'s ensemble estimators: ``n_members`` networks of one
architecture trained together by ``fastbp.Ensemble``, each on its own
bootstrap sample, predicting by their mean.

They take the parameters of ``MLPRegressor`` / ``MLPClassifier`` (whose input
checks and loss scaling they reuse, ``_sklearn_base.py``) plus ``n_members``
and ``bootstrap``; what differs is in ``_ENSEMBLE_NOTES``.
"""
import numbers
import warnings

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _checks
from ._sklearn_base import validate_data, writeable
from .ensemble import Ensemble, bootstrap

_ENSEMBLE_NOTES = """
    Ensemble training
    -----------------
    Member i starts from its own initial weights (``fastbp.Ensemble``'s seed
    rule, from ``random_state``), trains on its own bootstrap sample of the
    training rows (``bootstrap=True``; else on all of them, with its own
    shuffle) and the members are trained together, one compiled call an
    epoch, spread over ``threads`` cores.  ``max_iter`` epochs are run; with
    ``early_stopping``, a held-out ``validation_fraction`` of the rows is
    scored by the mean loss, and a member whose loss has not improved by
    ``tol`` for ``n_iter_no_change`` epochs gets its best parameters back and
    stops (fastbp's ``patience``; scikit-learn's score-based rule is not used).
    Only ``solver`` "adam" and "sgd" with ``learning_rate="constant"`` are
    supported; ``warm_start`` and ``partial_fit`` are not.  A member whose
    training diverges keeps its last good parameters and is named in a warning.
"""


class _EnsembleMLP:
    """``fit`` and prediction by an ensemble; mixed in before an MLP estimator."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, n_members=5,
                 bootstrap=True, solver="adam", alpha=1e-4, batch_size="auto",
                 learning_rate="constant", learning_rate_init=1e-3, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=np.float64, threads=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun, dtype=dtype,
            threads=threads)
        self.n_members = n_members
        self.bootstrap = bootstrap

    def _check_solver(self):
        raise AttributeError("partial_fit is not available for ensembles")

    def __sklearn_is_fitted__(self):
        return hasattr(self, "ensemble_")

    def fit(self, X, y):
        """Fit the ensemble to X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        dtype = self._check_params()
        members = _checks.count(self.n_members, "n_members", 1)
        if not isinstance(self.bootstrap, (bool, np.bool_)):
            raise ValueError(f"bootstrap: expected True or False, got {self.bootstrap!r}")
        if self.solver not in ("adam", "sgd"):
            raise ValueError(f"solver: ensembles train with 'adam' or 'sgd', got "
                             f"{self.solver!r}")
        if self.learning_rate != "constant":
            raise ValueError(f"learning_rate: ensembles train at a 'constant' rate, got "
                             f"{self.learning_rate!r}")
        if self.warm_start:
            raise ValueError("warm_start: not supported by ensembles")
        hidden, names = self._hidden()
        X, T = self._validate_input(X, y, dtype, False, True)
        n_outputs = self._n_outputs(T)
        sizes = (X.shape[1],) + hidden + (n_outputs,)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        X_val = T_val = None
        if self.early_stopping:
            X, X_val, T, T_val = train_test_split(
                X, T, random_state=rng, test_size=self.validation_fraction,
                stratify=T if self._loss == "cross_entropy" else None)
        n = X.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)
        c = self._grad_scale(n_outputs)
        optimizer = self._new_optimizer(c)
        optimizer.weight_decay = c * self.alpha / batch_size
        ensemble = Ensemble(sizes, names + (self._output,), members, dtype=dtype, seed=seed)
        patience = None
        if self.early_stopping and isinstance(self.n_iter_no_change, numbers.Integral):
            patience = int(self.n_iter_no_change)
        history = ensemble.fit(
            X, T, epochs=self.max_iter, batch_size=batch_size, optimizer=optimizer,
            loss=self._loss, shuffle=self.shuffle, seed=seed,
            sample_indices=bootstrap(n, members, seed) if self.bootstrap else None,
            validation_data=None if X_val is None else (X_val, T_val), patience=patience,
            min_delta=self.tol, progress=False, threads=self.threads)
        losses = history.losses()
        self.ensemble_ = ensemble
        self.n_iter_ = len(history)
        self.loss_curve_ = [float(self._report * np.nanmean(row)) if np.isfinite(row).any()
                            else np.nan for row in losses]
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else np.nan
        self.n_layers_ = len(sizes)
        self.n_outputs_ = n_outputs
        self.out_activation_ = self._output
        if history.diverged:
            warnings.warn(f"members {sorted(history.diverged)} diverged and keep their "
                          "parameters from before the failing batch", UserWarning, stacklevel=2)
        return self

    def _outputs(self, X):
        """(members, n_samples, n_outputs): every member's outputs for X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.ensemble_.dtype, order="C")
        return self.ensemble_.predict(writeable(X), threads=self.threads)

    @property
    def coefs_(self):
        """Per member, its weight matrices shaped (fan_in, fan_out): views."""
        check_is_fitted(self)
        return [[w.T for w in net.weights] for net in self.ensemble_]

    @property
    def intercepts_(self):
        """Per member, its bias vectors: views."""
        check_is_fitted(self)
        return [list(net.biases) for net in self.ensemble_]
