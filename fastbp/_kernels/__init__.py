"""Compiled kernels: every ``@njit`` of fastbp lives in this package.

Kernels take only arrays and scalars, write into buffers they are given, and
never validate: the Python layer (``fastbp.network``, ``fastbp._checks``) is the
one door where input is checked, converted and allocated.
"""
