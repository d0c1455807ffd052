"""What ``fastbp.sklearn``'s two estimators share: parameters, their checks, and
the training loops that turn scikit-learn's MLP semantics into ``Network.fit`` calls.

How scikit-learn's hyperparameters map onto fastbp's optimizers: fastbp's loss is
``c`` times scikit-learn's (c = 1 for the log-loss; for squared error fastbp's
"mse" averages over outputs where scikit-learn differentiates half the sum over
outputs, so c = 2 / n_outputs).  Dividing SGD's learning rate by c, multiplying
Adam's epsilon and L-BFGS's gradient tolerance by c, and scaling the L2 penalty
to ``c * alpha / batch_size`` then takes scikit-learn's steps.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn < 1.6
    def validate_data(estimator, /, X="no_validation", y="no_validation", **kwargs):
        return estimator._validate_data(X, y, **kwargs)

from . import _checks
from .lbfgs import LBFGS
from .network import Network
from .optimizers import SGD, Adam

_SOLVERS = ("sgd", "adam", "lbfgs")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_ALIASES = {"logistic": "sigmoid"}  # scikit-learn's name -> fastbp's


def _one_of(value, options, name):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, options))}, "
                         f"got {value!r}")
    return value


def writeable(array):
    # Compiled kernels are specialised on read-only arrays too: a read-only
    # input (a memmap, a broadcast view) would cost a fresh compilation.
    return array if array.flags.writeable else array.copy()


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, checks, the training loops.

    Subclasses set ``_loss`` and ``_output`` (fastbp's loss and output
    activation), ``_report`` (fastbp's loss value -> ``loss_curve_``'s), and
    define ``_grad_scale``, ``_validate_input``, ``_n_outputs`` and
    ``_validation_score``.
    """

    _loss = _output = None
    _report = 1.0

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate="constant",
                 learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dtype=np.float64, threads=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.threads = threads

    # --- parameters --------------------------------------------------------

    def _hidden(self):
        """(hidden widths, hidden activation names) from the parameters."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if not hasattr(sizes, "__iter__"):
            raise TypeError(f"hidden_layer_sizes: expected an int or a sequence of ints, "
                            f"got {sizes!r}")
        # ValueError for a width of the wrong kind, as scikit-learn's own checks.
        sizes = _checks.widths(sizes, "hidden_layer_sizes", 0, wrong_kind=ValueError)
        names = self.activation
        if isinstance(names, str):
            names = (names,) * len(sizes)
        else:
            try:
                names = tuple(names)
            except TypeError:
                raise TypeError(f"activation: expected a name or a sequence of names, got "
                                f"{names!r}") from None
            if len(names) != len(sizes):
                raise ValueError(
                    f"activation: expected one name, or {len(sizes)} names (one per hidden "
                    f"layer of hidden_layer_sizes={sizes}), got {len(names)}: {list(names)}")
        names = tuple(_ALIASES.get(n, n) if isinstance(n, str) else n for n in names)
        for i, name in enumerate(names):
            where = "activation" if isinstance(self.activation, str) else f"activation[{i}]"
            try:
                _checks.activation_code(name, where)   # built-in or registered
            except ValueError as exc:
                raise ValueError(f"{exc}; and scikit-learn's 'logistic' for 'sigmoid'") from None
        return tuple(int(w) for w in sizes), names

    def _check_params(self):
        """Every parameter checked, before anything is touched."""
        _one_of(self.solver, _SOLVERS, "solver")
        _one_of(self.learning_rate, _SCHEDULES, "learning_rate")
        _checks.nonnegative_number(self.alpha, "alpha")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            _checks.count(self.batch_size, "batch_size", 1)
        _checks.positive_number(self.learning_rate_init, "learning_rate_init")
        _checks.nonnegative_number(self.power_t, "power_t")
        _checks.count(self.max_iter, "max_iter", 1)
        _checks.nonnegative_number(self.tol, "tol")
        _checks.fraction(self.momentum, "momentum")
        _checks.fraction(self.beta_1, "beta_1")
        _checks.fraction(self.beta_2, "beta_2")
        _checks.positive_number(self.epsilon, "epsilon")
        if self.early_stopping:
            fraction = _checks.positive_number(self.validation_fraction, "validation_fraction")
            if fraction >= 1:
                raise ValueError(f"validation_fraction: expected a number in (0, 1), got "
                                 f"{fraction}")
        if self.n_iter_no_change != np.inf:
            _checks.count(self.n_iter_no_change, "n_iter_no_change", 1)
        _checks.count(self.max_fun, "max_fun", 1)
        _checks.threads(self.threads)
        return _checks.network_dtype(self.dtype)

    def _grad_scale(self, n_outputs):
        """c with fastbp's loss = c * scikit-learn's (so their gradients too)."""
        return 1.0

    # --- fitting -------------------------------------------------------------

    def fit(self, X, y):
        """Fit the network to X and y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for the classifier).

        Returns
        -------
        self
        """
        return self._fit(X, y, incremental=False)

    def _check_solver(self):
        if self.solver == "lbfgs":
            raise AttributeError("partial_fit is only available for the stochastic solvers "
                                 "'sgd' and 'adam', not for 'lbfgs'")
        return True

    def _fit(self, X, y, incremental):
        dtype = self._check_params()
        hidden, names = self._hidden()
        if self.early_stopping and incremental:  # as scikit-learn
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not hasattr(self, "network_") or (not self.warm_start and not incremental)
        X, T = self._validate_input(X, y, dtype, incremental, first)
        n_outputs = self._n_outputs(T)
        sizes = (X.shape[1],) + hidden + (n_outputs,)
        activations = names + (self._output,)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        if first:
            self.network_ = Network(sizes, activations, dtype=dtype, seed=seed)
            self.n_layers_ = len(sizes)
            self.n_outputs_ = n_outputs
            self.out_activation_ = self._output
            self.n_iter_ = self.t_ = 0
            self.loss_curve_ = []
            self._no_improvement_count = 0
            self.best_loss_ = np.inf
            self.validation_scores_ = self.best_validation_score_ = None
            self.__dict__.pop("_optimizer", None)
        elif (self.network_.sizes != sizes or self.network_.activations != activations
              or self.network_.dtype != dtype):
            raise ValueError(
                f"{'partial_fit' if incremental else 'warm_start'}: the fitted network is "
                f"{self.network_!r}, but the parameters and data now give sizes "
                f"{list(sizes)}, activations {list(activations)} and dtype {dtype.name}; "
                "fit again with warm_start=False to start afresh")
        # Each training call shuffles with its own seed, derived from
        # random_state and the epochs done so far, so partial_fit's epochs differ.
        shuffle_seed = int(np.random.SeedSequence(
            [seed, len(self.loss_curve_)]).generate_state(1)[0])
        # As scikit-learn: with early stopping, validation scores replace best_loss_
        # (lbfgs ignores early_stopping).
        if self.early_stopping and self.solver != "lbfgs":
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None
        elif self.best_loss_ is None:
            self.best_loss_ = np.inf
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, T, n_outputs)
        else:
            self._fit_stochastic(X, T, n_outputs, incremental, rng, shuffle_seed)
        return self

    def _new_optimizer(self, c):
        if self.solver == "sgd":
            return SGD(lr=self.learning_rate_init / c, momentum=self.momentum,
                       nesterov=self.nesterovs_momentum and self.momentum > 0)
        return Adam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2),
                    eps=self.epsilon * c)

    def _fit_stochastic(self, X, T, n_outputs, incremental, rng, seed):
        X_val = T_val = None
        if self.early_stopping:
            stratify = T if is_classifier(self) else None
            X, X_val, T, T_val = train_test_split(
                X, T, random_state=rng, test_size=self.validation_fraction, stratify=stratify)
            if X_val.shape[0] < 2:
                raise ValueError("validation_fraction: the validation set has fewer than 2 "
                                 "samples; increase validation_fraction or give more data")
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn(f"batch_size={self.batch_size} is larger than the {n} training "
                              f"samples; using {n}", UserWarning, stacklevel=4)
            batch_size = min(self.batch_size, n)
        c = self._grad_scale(n_outputs)
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer(c)
        opt = self._optimizer
        # scikit-learn's penalty is 0.5 * alpha * ||W||^2 / batch_size.
        opt.weight_decay = c * self.alpha / batch_size
        net = self.network_
        best = {"params": net.params.copy() if self.early_stopping else None,
                "stopped": False}
        self.n_iter_ = 0

        def after_epoch(net, history):
            self._record(history, n)
            if self.early_stopping:
                score = self._validation_score(X_val, T_val)
                self.validation_scores_.append(score)
                if self.verbose:
                    print(f"Validation score: {score:f}")
                improved = score >= self.best_validation_score_ + self.tol
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best["params"] = net.params.copy()
            else:
                improved = self.loss_ <= self.best_loss_ - self.tol
                self.best_loss_ = min(self.best_loss_, self.loss_)
            self._no_improvement_count = 0 if improved else self._no_improvement_count + 1
            if self.solver == "sgd" and self.learning_rate == "invscaling":
                opt.lr = self.learning_rate_init / c / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = "Validation score" if self.early_stopping else "Training loss"
                message = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                if (self.solver == "sgd" and self.learning_rate == "adaptive"
                        and opt.lr * c > 1e-6):
                    opt.lr /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"{message} Setting learning rate to {opt.lr * c:f}")
                    return False
                if self.verbose:
                    print(f"{message} Stopping.")
                best["stopped"] = True
                return True
            return False

        history = net.fit(X, T, epochs=1 if incremental else self.max_iter,
                          batch_size=batch_size, optimizer=opt, loss=self._loss,
                          shuffle=self.shuffle, seed=seed, progress=False,
                          callbacks=[after_epoch], threads=self.threads)
        if history.interrupted:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        elif not incremental and not best["stopped"] and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        if self.early_stopping:
            net.params = best["params"]

    def _record(self, history, n):
        """Bookkeeping after each epoch (L-BFGS iteration) of n samples."""
        self.n_iter_ += 1
        self.t_ += n
        self.loss_ = self._report * history.loss[-1]
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")

    def _fit_lbfgs(self, X, T, n_outputs):
        c = self._grad_scale(n_outputs)
        n = X.shape[0]
        # Full batch: scikit-learn's penalty is 0.5 * alpha * ||W||^2 / n_samples,
        # its gtol is ``tol`` on its objective, which fastbp's is c times.
        opt = LBFGS(tol=c * self.tol, max_evals=self.max_fun, weight_decay=c * self.alpha / n)

        def after_iteration(net, history):
            self._record(history, n)
            return False

        self.n_iter_ = 0
        history = self.network_.fit(X, T, epochs=self.max_iter, optimizer=opt, loss=self._loss,
                                    progress=False, callbacks=[after_iteration],
                                    threads=self.threads)
        self.best_loss_ = min([self.best_loss_] + self.loss_curve_[len(self.loss_curve_)
                                                                   - self.n_iter_:])
        if history.interrupted:
            warnings.warn("Training interrupted by user.", stacklevel=4)
        elif opt.result is not None and opt.result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iterations "
                          f"(max_iter={self.max_iter}, max_fun={self.max_fun}): "
                          f"{opt.result.message}", ConvergenceWarning, stacklevel=4)

    # --- what both estimators expose --------------------------------------

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    def _forward(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.network_.dtype, order="C")
        return self.network_.forward(writeable(X), threads=self.threads)

    @property
    def coefs_(self):
        """Weight matrices in scikit-learn's orientation, (fan_in, fan_out): views
        (transposed) into ``network_.params``."""
        check_is_fitted(self)
        return [w.T for w in self.network_.weights]

    @property
    def intercepts_(self):
        """Bias vectors: views into ``network_.params``."""
        check_is_fitted(self)
        return list(self.network_.biases)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags


