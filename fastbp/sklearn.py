"""scikit-learn estimators over ``fastbp.Network``: ``MLPRegressor``, ``MLPClassifier``,
and over ``fastbp.Ensemble``: ``MLPEnsembleRegressor``, ``MLPEnsembleClassifier``.

scikit-learn is an optional dependency (``pip install ".[sklearn]"`` in a clone of fastbp):
``import fastbp`` does not import it, this module does.  The estimators take the
parameters of scikit-learn's ``sklearn.neural_network`` namesakes and mean the
same by them, except where the class docstrings' Notes say otherwise; training
runs in fastbp's compiled epochs.
"""
import warnings

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels

from ._sklearn_base import _BaseMLP, validate_data, writeable
from ._sklearn_ensemble import _ENSEMBLE_NOTES, _EnsembleMLP

__all__ = ["MLPRegressor", "MLPClassifier", "MLPEnsembleRegressor", "MLPEnsembleClassifier"]

_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Widths of the hidden layers, first to last; ``()`` for none.
    activation : str or sequence of str, default="relu"
        Activation of the hidden layers: one name for all of them, or one name
        per hidden layer (``["tanh", "relu"]``).  Names from
        ``fastbp.ACTIVATIONS`` ("identity", "tanh", "sigmoid", "relu",
        "leaky_relu", "softplus", "softmax"), names given to
        ``fastbp.register_activation`` (in every process that fits), and
        scikit-learn's "logistic" for "sigmoid".
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
        "lbfgs" is full-batch ``fastbp.LBFGS`` (SciPy's L-BFGS-B).
    alpha : float, default=1e-4
        L2 penalty, scikit-learn's: ``0.5 * alpha * ||W||^2 / batch_size`` is
        added to the mean loss of every batch (``n_samples`` for lbfgs).  It is
        applied as the optimizers' ``weight_decay``, which decays the biases
        too (scikit-learn's penalty leaves them alone), and the last, smaller
        batch of an epoch gets the decay of a full one.
    batch_size : int or "auto", default="auto"
        Samples per update; "auto" is ``min(200, n_samples)``.  Larger than
        ``n_samples``: clipped, with a warning.  Not used by lbfgs.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        Schedule for sgd: constant; ``learning_rate_init / (t + 1) ** power_t``
        after t samples; or divided by 5 whenever the training loss (the
        validation score with ``early_stopping``) has not improved by ``tol``
        for ``n_iter_no_change`` + 1 epochs, until it is 1e-6 or less.
    learning_rate_init : float, default=1e-3
        Step size of sgd and adam.
    power_t : float, default=0.5
        Exponent of "invscaling".
    max_iter : int, default=200
        Epochs (sgd, adam) or iterations (lbfgs).
    shuffle : bool, default=True
        Reshuffle the samples every epoch (sgd, adam).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the early-stopping split:
        an int makes ``fit`` reproducible to the bit.
    tol : float, default=1e-4
        Training stops when the training loss has not decreased (the validation
        score not increased) by at least ``tol`` for ``n_iter_no_change`` + 1
        consecutive epochs; for lbfgs, the gradient tolerance (``gtol``).
    verbose : bool, default=False
        Print the loss of every epoch.
    warm_start : bool, default=False
        ``fit`` continues from the fitted network (with a fresh optimizer)
        instead of starting anew.
    momentum : float in [0, 1), default=0.9
        Momentum of sgd.
    nesterovs_momentum : bool, default=True
        Nesterov momentum for sgd (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for the
        classifier), stop when its score (accuracy, R^2) stops improving, and
        keep the parameters of the best epoch.  sgd and adam only.
    validation_fraction : float in (0, 1), default=0.1
        Held-out share for ``early_stopping``.
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
        Adam's moment decay rates.
    epsilon : float, default=1e-8
        Adam's epsilon.
    n_iter_no_change : int or np.inf, default=10
        Patience of the ``tol`` test, in epochs.
    max_fun : int, default=15000
        At most this many loss-and-gradient evaluations for lbfgs.
    dtype : np.float64 or np.float32, default=np.float64
        Dtype of the network: its parameters, its arithmetic and the
        predictions.  Inputs are converted to it once.
    threads : int or None, default=None
        The most threads a BLAS product of fit and predict may use
        (``fastbp.Network.fit``'s ``threads``); None: as many as OpenBLAS allows.
"""

_ATTRIBUTES = """
    network_ : fastbp.Network
        The trained network; ``network_.params`` holds every parameter.
    loss_ : float
        Training loss of the last epoch (iteration, for lbfgs), in
        scikit-learn's convention ({loss}), without the penalty term.
    loss_curve_ : list of float
        ``loss_`` of every epoch (lbfgs: every iteration) since the network was
        made; ``warm_start`` and ``partial_fit`` extend it.
    best_loss_ : float or None
        Smallest ``loss_curve_`` value; None with ``early_stopping``.
    validation_scores_ : list of float or None
        Score on the held-out data after every epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        Best of ``validation_scores_``: the restored parameters scored it.
    n_iter_ : int
        Epochs (iterations) run by the last call to ``fit``.
    t_ : int
        Training samples seen: epochs times samples.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X had string column names (a pandas DataFrame).
    n_layers_ : int
        Layers including input and output: ``len(network_.sizes)``.
    n_outputs_ : int
        Output units{outputs}.
    out_activation_ : str
        "{output}".
    coefs_, intercepts_ : list of ndarray
        Per-layer weights, shaped (fan_in, fan_out) as scikit-learn's, and
        biases: views into ``network_.params``.
"""

_NOTES = """
    Notes
    -----
    With the same initial parameters, ``alpha=0`` and ``shuffle=False``, the
    sgd steps (any momentum, constant rate) are scikit-learn's to rounding, and
    so are the lbfgs iterates{lbfgs}; the tests check both.  The differences:

    - Initial weights: He normal for the relu family, Glorot uniform
      otherwise, biases zero (scikit-learn: Glorot uniform for both).
    - ``alpha`` decays the biases too (see above).
    - Adam adds ``epsilon`` to the bias-corrected root mean square, as
      ``torch.optim.Adam``; scikit-learn adds it before the correction, which
      differs only while ``epsilon`` is not small against the gradients.
    - With momentum, a changing sgd rate ("invscaling", "adaptive") scales the
      whole step, as in ``torch.optim.SGD``; scikit-learn's velocity keeps the
      steps taken at earlier rates.
    - ``loss_curve_`` and ``loss_`` leave out the penalty term.
    - A training step whose loss or gradient would not be finite raises
      ``fastbp.DivergenceError`` (a ``FloatingPointError``) naming the epoch and
      batch, and the network keeps the parameters from before that batch.
    - Not supported: ``sample_weight``, sparse input, {unsupported}.{extra}
"""


class MLPRegressor(RegressorMixin, _BaseMLP):
    _loss = "mse"
    _output = "identity"
    _report = 0.5  # loss_curve_ in scikit-learn's convention: half the mean squared error

    def _grad_scale(self, n_outputs):
        # fastbp's "mse" is the mean over samples and outputs; scikit-learn
        # differentiates half the squared error summed over outputs, averaged
        # over samples.
        return 2.0 / n_outputs

    def _validate_input(self, X, y, dtype, incremental, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, order="C",
                             multi_output=True, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; "
                          "using y.ravel()", DataConversionWarning, stacklevel=4)
        T = np.ascontiguousarray(y, dtype=dtype).reshape(y.shape[0], -1)
        return writeable(X), writeable(T)

    def _n_outputs(self, T):
        return T.shape[1]

    def _validation_score(self, X, T):
        return r2_score(T, self.network_.forward(X))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y):
        """One epoch of the stochastic solver over (X, y), continuing the last call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predictions, shape (n_samples,) for one output, else (n_samples, n_outputs),
        in the network's dtype."""
        Y = self._forward(X)
        return Y.ravel() if Y.shape[1] == 1 else Y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True, "allow_nan": False}


MLPRegressor.__doc__ = f"""A multilayer perceptron regressor trained by fastbp.

    Minimises the squared error, as ``sklearn.neural_network.MLPRegressor``,
    with an identity output layer; y may have one column or several.
{_PARAMETERS}
    Attributes
    ----------{_ATTRIBUTES.format(
        loss="half the mean squared error", outputs=": the columns of y",
        output="identity")}{_NOTES.format(
        lbfgs=" for one output (for several, scikit-learn hands L-BFGS a loss "
              "averaged over outputs with the gradient of their sum; fastbp's two "
              "agree, so its iterates differ)",
        unsupported="the 'poisson' loss", extra="")}
    Examples
    --------
    >>> import numpy as np
    >>> from fastbp.sklearn import MLPRegressor
    >>> x = np.linspace(-3, 3, 1000).reshape(-1, 1)
    >>> reg = MLPRegressor((32, 32), activation="tanh", learning_rate_init=3e-3,
    ...                    max_iter=300, random_state=0).fit(x, np.sin(2 * x).ravel())
    >>> reg.score(x, np.sin(2 * x).ravel()) > 0.99
    True
    """


_BINARY = """
    - A binary problem has two softmax outputs, not one logistic unit."""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    _loss = "cross_entropy"
    _output = "softmax"

    def _validate_input(self, X, y, dtype, incremental, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, order="C",
                             multi_output=True)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; "
                          "using y.ravel()", DataConversionWarning, stacklevel=4)
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(f"y: expected class labels of shape (n_samples,), got shape "
                             f"{y.shape}; multilabel and multi-output targets are not "
                             "supported")
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not incremental and not self.warm_start):
            self.classes_ = unique_labels(y)
        elif self.warm_start and not incremental:
            if set(unique_labels(y)) != set(self.classes_):
                raise ValueError(f"warm_start: y must have the classes of the previous fit, "
                                 f"{self.classes_}; y has {unique_labels(y)}")
        labels = np.searchsorted(self.classes_, y)
        found = self.classes_[np.minimum(labels, len(self.classes_) - 1)] == y
        if not found.all():
            raise ValueError(f"y: has labels not in classes_ {self.classes_}, such as "
                             f"{y[~found][0]!r}")
        return writeable(X), labels.astype(np.int64)

    def _n_outputs(self, T):
        return len(self.classes_)

    def _validation_score(self, X, T):
        return float(np.mean(np.argmax(self.network_.forward(X), axis=1) == T))

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, classes=None):
        """One epoch of the stochastic solver over (X, y), continuing the last call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), optional
            Every class of every call; required on the first call.

        Returns
        -------
        self
        """
        if classes is not None:
            classes = unique_labels(classes)
            if hasattr(self, "classes_") and not np.array_equal(self.classes_, classes):
                raise ValueError(f"classes: {classes} is not the same as on the last call to "
                                 f"partial_fit, {self.classes_}")
            self.classes_ = classes
        elif not hasattr(self, "classes_"):
            raise ValueError("classes: must be given on the first call to partial_fit, "
                             "e.g. classes=np.unique(y_all)")
        return self._fit(X, y, incremental=True)

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._forward(X)

    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba`` (-inf where a probability underflowed to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each sample, from ``classes_``."""
        proba = self._forward(X)
        return self.classes_[np.argmax(proba, axis=1)]


MLPClassifier.__doc__ = f"""A multilayer perceptron classifier trained by fastbp.

    Minimises the log-loss, as ``sklearn.neural_network.MLPClassifier``, with a
    softmax output layer of one unit per class (two for a binary problem).
    Labels may be any sortable values (ints, strings); ``classes_`` maps them.
{_PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted; ``predict_proba``'s columns follow them.{_ATTRIBUTES.format(
        loss="the mean log-loss", outputs=": one per class, two for a binary problem",
        output="softmax")}{_NOTES.format(
        lbfgs="",
        unsupported="multilabel targets",
        extra=_BINARY)}
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastbp.sklearn import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((64,), batch_size=32, max_iter=30, random_state=0)
    >>> clf.fit(X[:1500] / 16, y[:1500]).score(X[1500:] / 16, y[1500:]) > 0.9
    True
    """


_MEMBERS = """
    n_members : int, default=5
        Networks in the ensemble.
    bootstrap : bool, default=True
        Train each member on its own bootstrap sample of the rows (bagging);
        False: every member on every row."""


class MLPEnsembleRegressor(_EnsembleMLP, MLPRegressor):
    def predict(self, X, return_std=False):
        """The members' mean prediction, (n_samples,) for one output else
        (n_samples, n_outputs); with ``return_std``, also their standard
        deviation (ddof=0), the same shape, as ``GaussianProcessRegressor``'s."""
        outputs = self._outputs(X)
        mean, std = outputs.mean(axis=0), outputs.std(axis=0)
        if self.n_outputs_ == 1:
            mean, std = mean.ravel(), std.ravel()
        return (mean, std) if return_std else mean


MLPEnsembleRegressor.__doc__ = f"""An ensemble of multilayer perceptron regressors trained by fastbp.

    ``n_members`` ``MLPRegressor`` networks trained together (``fastbp.Ensemble``);
    ``predict`` gives their mean, and with ``return_std=True`` their spread.
{_PARAMETERS}{_MEMBERS}
    Attributes
    ----------
    ensemble_ : fastbp.Ensemble
        The trained members.
    loss_curve_ : list of float
        Per epoch, the members' mean training loss (half the mean squared error).
    loss_, n_iter_, n_features_in_, n_layers_, n_outputs_, out_activation_
        As ``MLPRegressor``'s.
    coefs_, intercepts_ : list of lists of ndarray
        Per member, as ``MLPRegressor``'s.
{_ENSEMBLE_NOTES}
    Examples
    --------
    >>> import numpy as np
    >>> from fastbp.sklearn import MLPEnsembleRegressor
    >>> x = np.linspace(-3, 3, 400).reshape(-1, 1)
    >>> reg = MLPEnsembleRegressor((32,), activation="tanh", n_members=4, max_iter=100,
    ...                            learning_rate_init=1e-2, random_state=0)
    >>> mean, std = reg.fit(x, np.sin(x).ravel()).predict(x, return_std=True)
    >>> mean.shape, std.shape
    ((400,), (400,))
    """


class MLPEnsembleClassifier(_EnsembleMLP, MLPClassifier):
    def predict_proba(self, X):
        """The members' mean class probabilities, (n_samples, n_classes)."""
        return self._outputs(X).mean(axis=0)

    def predict(self, X):
        """The class of highest mean probability, from ``classes_``."""
        proba = self.predict_proba(X)  # first: unfitted, it raises NotFittedError
        return self.classes_[np.argmax(proba, axis=1)]


MLPEnsembleClassifier.__doc__ = f"""An ensemble of multilayer perceptron classifiers trained by fastbp.

    ``n_members`` ``MLPClassifier`` networks trained together (``fastbp.Ensemble``);
    ``predict_proba`` is their mean probability.
{_PARAMETERS}{_MEMBERS}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    ensemble_ : fastbp.Ensemble
        The trained members.
    loss_curve_ : list of float
        Per epoch, the members' mean training log-loss.
    loss_, n_iter_, n_features_in_, n_layers_, n_outputs_, out_activation_
        As ``MLPClassifier``'s.
    coefs_, intercepts_ : list of lists of ndarray
        Per member, as ``MLPClassifier``'s.
{_ENSEMBLE_NOTES}
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastbp.sklearn import MLPEnsembleClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPEnsembleClassifier((32,), n_members=4, bootstrap=False, batch_size=32,
    ...                             max_iter=40, random_state=0)
    >>> clf.fit(X[:1500] / 16, y[:1500]).score(X[1500:] / 16, y[1500:]) > 0.9
    True
    """

