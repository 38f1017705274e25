"""Sphinx configuration of kt's documentation site.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (after
``pip install '.[docs]'``); CI builds it the same way, warnings as errors.
The pages are Markdown (MyST); the API reference is generated from the
docstrings and type hints of everything in ``kt.__all__``.
"""

from __future__ import annotations

import os
import re
import sys

sys.path.insert(0, os.path.abspath(".."))

import kt  # noqa: E402

project = "kt"
author = "kt developers"
copyright = "2026, kt developers"
release = kt.__version__
version = kt.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

# Docstrings are Google style (Args:, Returns:, Raises:); see
# tests/test_api_docs.py, which checks every public method has them.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {
    "members": True,
    "undoc-members": False,
    "show-inheritance": True,
}
# Type aliases (Key = str | bytes) are shown expanded: the alias mapping
# of autodoc renders them as TypeAliasForwardRef(...) inside generics.
nitpicky = False

html_theme = "alabaster"
html_title = "kt %s" % release
html_static_path: list = []


def _plain_data_argument(app, what, name, obj, options, signature, return_annotation):
    """Show the mapping argument of set_bulk(), update() and script() as
    ``data``: in the source it is ``__data`` (so that ``data=...`` stays
    a record key), which Python mangles to ``_Class__data``."""
    if signature:
        signature = re.sub(r"\b_[A-Za-z]+__data\b", "data", signature)
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-signature", _plain_data_argument)
