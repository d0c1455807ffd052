"""Exceptions fastbp raises beyond the built-in ones."""


class DivergenceError(FloatingPointError):
    """A training step would have made the loss or the parameters non-finite.

    The network keeps the parameters from before the offending batch.
    ``epoch`` and ``batch`` (0-based) say where it happened.
    """

    def __init__(self, message, epoch=None, batch=None):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
