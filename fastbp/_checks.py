"""The one door: every check on user input, the conversions it implies, and
every message a refusal gets.

Each function either returns its argument converted to what the kernels need
(dtype, C order, 2-D) or raises a ``TypeError``/``ValueError`` that names the
argument, says what was expected and what was given.  Nothing here touches a
network's state, so a refused call leaves everything as it was.

Validation has two parts.  The checks that decide the compiled types (array,
dtype, dimensions) run here, always.  The scans of shapes and values of
arrays already in the kernels' form are left to the kernels' own guard
(``fastbp._kernels.scans.check_batch``), which returns a status before it
writes anything; ``refused`` then runs the full checks here, so the message
is the same either way.  At batch 1 a separate scan would cost as much as the
step (docs/decisions/0015-finiteness-scans.md).
"""
import functools
import numbers
import operator

import numpy as np

from ._kernels import activations, custom, losses, status
from ._kernels.scans import first_nonfinite

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _names(table):
    return ", ".join(repr(name) for name in table)


def network_dtype(dtype):
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    # ``np.dtype("float64") == None`` is True, hence the explicit None test.
    if resolved is None or resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype: expected np.float32 or np.float64, got {dtype!r}")
    return resolved


def widths(values, name, at_least, what=None, wrong_kind=TypeError):
    """A tuple of positive ints from a sequence of at least ``at_least``
    layer widths; ``what`` says how many in the message for too few, and
    ``wrong_kind`` is the exception for a width that is not an integer."""
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name}: expected a sequence of layer widths, got {values!r}") from None
    if len(values) < at_least:
        what = what or f"{at_least} widths"
        raise ValueError(f"{name}: expected at least {what}, got {list(values)}")
    checked = []
    for i, width in enumerate(values):
        if isinstance(width, bool) or not isinstance(width, numbers.Integral):
            raise wrong_kind(f"{name}[{i}]: expected a positive integer, got {width!r}")
        if width < 1:
            raise ValueError(f"{name}[{i}]: expected a positive integer width, got {width}")
        checked.append(operator.index(width))
    return tuple(checked)


def sizes(values):
    """A network's layer widths, inputs first."""
    return widths(values, "sizes", 2, what="two widths (inputs and outputs)")


def activation_code(name, where="activation"):
    """The code of a built-in or registered activation."""
    if isinstance(name, str):
        if name in activations.CODES:
            return activations.CODES[name]
        if name in custom.REGISTRY:
            return custom.REGISTRY[name][0]
    raise ValueError(
        f"{where}: unknown activation {name!r}; valid names are "
        f"{_names(list(activations.CODES) + list(custom.REGISTRY))} "
        "(fastbp.register_activation adds your own)")


def activation_names(names, n_layers):
    if isinstance(names, str):
        raise TypeError(
            f"activations: expected a sequence of {n_layers} names, one per layer, "
            f"got the string {names!r}; write [{names!r}] * {n_layers} for the same "
            f"activation everywhere")
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(f"activations: expected a sequence of names, got {names!r}") from None
    if len(names) != n_layers:
        raise ValueError(
            f"activations: expected {n_layers} names (one per layer, len(sizes) - 1), "
            f"got {len(names)}: {list(names)}")
    codes = [activation_code(name, f"activations[{i}]") for i, name in enumerate(names)]
    return names, codes


def loss_code(loss, last_activation):
    if not isinstance(loss, str) or loss not in losses.CODES:
        raise ValueError(f"loss: unknown loss {loss!r}; valid names are {_names(losses.CODES)}")
    code = losses.CODES[loss]
    if code == losses.CROSS_ENTROPY and last_activation != "softmax":
        raise ValueError(
            "loss: 'cross_entropy' needs a softmax output layer; this network's last "
            f"activation is {last_activation!r}")
    return code


def numeric(value, name):
    try:
        array = np.asarray(value)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name}: expected a rectangular array of numbers ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected real numbers, got an array of dtype {array.dtype}; "
            f"convert it with .astype(np.float64) if its values are numbers")
    return array


def finite(array, name):
    # NaN and infinity carry into a sum, so a finite sum clears the array at
    # NumPy's speed without compiling a scan (which would add to a cold fit).
    # A sum that overflowed may hold no bad value: the scan looks.
    with np.errstate(over="ignore", invalid="ignore"):
        total = np.add.reduce(array, axis=None)
    if np.isfinite(total):
        return
    at = first_nonfinite(array)
    if at >= 0:
        where = np.unravel_index(at, array.shape)
        raise ValueError(
            f"{name} contains NaN or infinity (first at index {tuple(map(int, where))}); "
            "training needs finite values")


def samples(X, width, dtype, name="X", scan=True):
    """(X as a C-ordered (m, width) array of ``dtype``, whether X was one 1-D sample).

    ``scan=False`` leaves the scan for NaN and infinity to the compiled call,
    which reports it as a status for ``refused`` to explain.
    """
    if (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2 and X.shape[1] == width
            and X.shape[0] > 0 and X.flags.c_contiguous):
        # Already what the kernels take (the usual case in a training loop).
        if scan:
            finite(X, name)
        return X, False
    array = numeric(X, name)
    one = array.ndim == 1
    if array.ndim not in (1, 2) or array.shape[-1] != width:
        raise ValueError(
            f"{name}: expected one sample of shape ({width},) or a batch of shape "
            f"(m, {width}), got shape {array.shape}")
    if array.ndim == 2 and array.shape[0] == 0:
        raise ValueError(f"{name}: empty batch, shape {array.shape}; give at least one sample")
    array = np.ascontiguousarray(array, dtype=dtype)
    if scan:
        finite(array, name)
    return (array.reshape(1, width) if one else array), one


def targets(T, loss, m, one, width, dtype, name="T", scan=True):
    """(target rows (m, width) or an empty block, labels (m,) int64 or empty).

    Squared-error losses take rows shaped like the output.  ``cross_entropy``
    also takes integer class labels, one per sample.
    """
    if type(T) is np.ndarray and not one and T.flags.c_contiguous:
        # Fast paths for targets already in the kernels' form.
        if T.dtype == dtype and T.shape == (m, width):
            if scan:
                finite(T, name)
            return T, NO_LABELS
        if loss == losses.CROSS_ENTROPY and T.dtype == np.int64 and T.shape == (m,):
            if scan:
                labels_in_range(T, width, name)
            return empty_rows(width, dtype), T
    array = numeric(T, name)
    rows_shape = (width,) if one else (m, width)
    label_shape = () if one else (m,)
    if loss == losses.CROSS_ENTROPY and array.dtype.kind in "iu" and array.ndim <= 1:
        if array.shape != label_shape:
            raise ValueError(
                f"{name}: integer class labels must have shape {label_shape} to match X, "
                f"got {array.shape}")
        labels = np.ascontiguousarray(array, dtype=np.int64).reshape(m)
        if scan:
            labels_in_range(labels, width, name)
        return empty_rows(width, dtype), labels
    if array.shape != rows_shape:
        hint = advice = ""
        if loss == losses.CROSS_ENTROPY:
            hint = f" or integer class labels of shape {label_shape}"
        elif array.shape == (m,) and width == 1:
            hint = "; use T.reshape(-1, 1)"
        elif array.dtype.kind in "iu" and array.shape == label_shape:
            advice = ("; integer class labels need loss='cross_entropy' (with a softmax "
                      "output layer)")
        raise ValueError(
            f"{name}: expected shape {rows_shape} (one row of {width} outputs per sample "
            f"of X){hint}, got {array.shape}{advice}")
    array = np.ascontiguousarray(array, dtype=dtype)
    if scan:
        finite(array, name)
    return array.reshape(m, width), NO_LABELS


def kernel_form(X, T, loss, dtype):
    """The labels (``NO_LABELS`` for target rows) when X and T have the types
    the compiled calls take (X a 2-D array of ``dtype``; T target rows of it,
    or int64 labels for cross-entropy), else None.

    The one predicate of the fast paths (``batch``'s and ``train_step``'s):
    their order, shapes and values are left to the kernels' guard.
    """
    if (type(X) is _NDARRAY and type(T) is _NDARRAY and X.ndim == 2
            and (X.dtype is dtype or X.dtype == dtype)):
        if T.ndim == 2 and (T.dtype is dtype or T.dtype == dtype):
            return NO_LABELS
        if T.ndim == 1 and T.dtype == _INT64 and loss == losses.CROSS_ENTROPY:
            return T
    return None


def batch(X, T, loss, n_in, n_out, dtype, no_rows):
    """(X, target rows, labels, whether X was one 1-D sample, exact) for a
    training call.

    Arrays in the kernels' form (``kernel_form``) and "carray" (C order,
    aligned, writeable) with X ``n_in`` wide take a fast path: the kernel
    checks their other shapes and their values before it computes anything
    and ``refused`` explains its status.  ``exact`` says the fast path was
    taken: the arrays returned have the same numba types on every such call,
    so the caller may skip numba's dispatch (``_engine.Engine.call``).
    """
    labels = kernel_form(X, T, loss, dtype)
    # X's width too: the caller sizes its workspace by X's rows.
    if labels is not None and X.shape[1] == n_in and X.flags.carray and T.flags.carray:
        return X, (T if labels is NO_LABELS else no_rows), labels, False, True
    X, one = samples(X, n_in, dtype, scan=False)
    target, labels = targets(T, loss, X.shape[0], one, n_out, dtype, scan=False)
    return X, target, labels, one, False


_INT64 = np.dtype(np.int64)
_NDARRAY = np.ndarray  # a global: one lookup less per call


def read_only_params():
    """Raise the error for training a network whose ``params`` were made read-only."""
    raise ValueError(
        "params: this network's parameters are read-only (params.flags.writeable is "
        "False) and training updates them in place; set net.params.flags.writeable = True")


def labels_in_range(labels, n_classes, name="T"):
    # NumPy reductions rather than the kernels' scan: no compile for it.
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = np.flatnonzero((labels < 0) | (labels >= n_classes))[0]
        raise ValueError(
            f"{name}: class labels must lie in [0, {n_classes}) for {n_classes} outputs; "
            f"found {labels[bad]} at index {bad}")


def batch_values(X, one, target, labels, sizes, loss):
    """Every check the kernels' guard makes of a batch (shapes, finite values,
    labels in range), here, with its message; returns nothing if all pass."""
    samples(X, sizes[0], X.dtype, scan=False)
    targets(target if labels is NO_LABELS else labels, loss, X.shape[0], False, sizes[-1],
            X.dtype, scan=False)
    finite(X[0] if one else X, "X")
    finite(target[0] if one and target.shape[0] else target, "T")
    labels_in_range(labels, sizes[-1])


def refused(code, X, one, target, labels, sizes, loss=None):
    """Raise the error a compiled call's input status stands for.

    ``sizes`` are the network's layer widths, ``loss`` the loss code of a
    training call.
    """
    n_classes = sizes[-1]
    if code == status.BAD_SHAPE:
        # Only the fast path of ``batch`` hands the kernel unchecked shapes,
        # and the user's own arrays: the full checks name what is wrong.
        X, one = samples(X, sizes[0], X.dtype, scan=False)
        targets(target if labels is NO_LABELS else labels, loss, X.shape[0], one, n_classes,
                X.dtype, scan=False)
    elif code == status.BAD_INPUT:
        finite(X[0] if one else X, "X")
    elif code == status.BAD_TARGET:
        finite(target[0] if one else target, "T")
    elif code == status.BAD_LABEL:
        labels_in_range(labels, n_classes)
    raise AssertionError(f"status {code} is not an input error")  # pragma: no cover


NO_LABELS = np.empty(0, dtype=np.int64)


@functools.lru_cache(maxsize=None)
def empty_rows(width, dtype):
    # Kernels take targets and labels together; the unused one is empty.
    # Cached so that a call allocates nothing for it.
    return np.empty((0, width), dtype)


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise TypeError(f"{name}: expected a finite real number, got {value!r}")
    return float(value)


def positive_number(value, name):
    value = _real(value, name)
    if value <= 0:
        raise ValueError(f"{name}: expected a positive number, got {value}")
    return value


def nonnegative_number(value, name):
    value = _real(value, name)
    if value < 0:
        raise ValueError(f"{name}: expected a number >= 0, got {value}")
    return value


def fraction(value, name):
    """A number in [0, 1), such as a momentum or a decay rate."""
    value = _real(value, name)
    if not 0 <= value < 1:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value}")
    return value


def threads(value):
    """``threads=``: None (no bound) or a count of at least 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"threads: expected None or an integer >= 1, got {value!r}")
    return int(value)


def count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)
