"""asv benchmarks for fastbp (configuration in ../asv.conf.json).

``common`` is imported first, on purpose: it sets the thread counts and numba's
cache directory, which only take effect if set before numba is imported.
"""
from . import common  # noqa: F401
