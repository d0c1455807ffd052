"""Throughput of the activation kernels alone: forward and vector-Jacobian
product over one block of mnist's hidden-layer size (128 samples x 384
values), in both dtypes.

The passes call these same kernels (``_kernels.activations``), so a slow
activation shows here on its own rather than as a few per cent of a step:
softplus, for one, ran at 27 ns a value through libm's scalar log1p and expm1
while tanh ran at 1.
"""
import numpy as np

from fastbp._kernels import activations

from .common import DTYPES, OnePerProcess, warm_up

NAMES = ["tanh", "sigmoid", "relu", "softplus", "softmax"]
ROWS, COLUMNS = 128, 384

_BLOCKS = OnePerProcess()


def _blocks(name, dtype):
    """(code, pre-activations, outputs, upstream gradient) with the kernels warm."""
    def build():
        code = activations.CODES[name]
        rng = np.random.default_rng(0)
        pre = rng.uniform(-4.0, 4.0, (ROWS, COLUMNS)).astype(dtype)
        out = np.empty_like(pre)
        grad = rng.standard_normal((ROWS, COLUMNS)).astype(dtype)
        warm_up(lambda: activations.forward(code, pre, out))
        work = grad.copy()
        warm_up(lambda: activations.vjp_inplace(code, out, work))
        return code, pre, out, grad
    return _BLOCKS.get((name, dtype), build)


class Activation:
    params = [NAMES, DTYPES]
    param_names = ["activation", "dtype"]

    def setup(self, name, dtype):
        self.code, self.pre, self.out, self.grad = _blocks(name, dtype)
        self.work = self.grad.copy()

    def time_forward(self, name, dtype):
        activations.forward(self.code, self.pre, self.out)

    def time_vjp(self, name, dtype):
        # From the same gradient every time: repeated products would shrink it
        # into subnormals, which are slow.  The copy is about 2 us of it.
        np.copyto(self.work, self.grad)
        activations.vjp_inplace(self.code, self.out, self.work)
