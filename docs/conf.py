"""Sphinx configuration for fastbp's documentation (``make docs``).

Builds offline: no intersphinx, no extension or theme option that fetches
anything at build time.  Any warning fails ``make docs`` (``-W``).
"""
import os
import sys

# Document the tree this file belongs to, whatever is installed.
sys.path.insert(0, os.path.abspath(".."))

import fastbp  # noqa: E402

project = "fastbp"
author = "the fastbp developers"
copyright = "the fastbp developers"
version = release = fastbp.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []

# --- autodoc -----------------------------------------------------------------
# Members are listed by name in api.rst: only the public API is documented.
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the docstrings' Parameters sections say the types
autodoc_inherit_docstrings = True
autodoc_preserve_defaults = True  # dtype=np.float64, as written, not <class ...>


def _no_type_docstring(app, what, name, obj, options, lines):
    """Module constants (``ACTIVATIONS``, ``LOSSES``) are plain tuples: show
    the text api.rst gives them, not the docstring of ``tuple``."""
    if what == "data" and getattr(obj, "__doc__", None) == type(obj).__doc__:
        lines.clear()


def setup(app):
    app.connect("autodoc-process-docstring", _no_type_docstring, priority=100)

# --- numpydoc ----------------------------------------------------------------
# api.rst lists each class's members itself (autodoc's :members:), so numpydoc
# adds no member tables of its own (they would list private methods too) and
# makes no toctree of them.
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- MyST (the Markdown pages) -----------------------------------------------
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# --- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastbp {release}"
html_static_path = []
html_theme_options = {
    # No links to hosted services, nothing loaded from elsewhere.
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False
