"""Tests of the compiled kernels (``fastbp._kernels``), one file per module.

A package, so that its modules are ``kernels.test_custom`` and so on beside
the public-API tests of the same names in tests/ (pytest's default import
mode would otherwise import both as ``test_custom``), and so that they share
``_common``.
"""
