"""Sphinx configuration of kt's documentation site.

Build it with ``python -m sphinx -W -b html docs docs/_build/html`` (after
``pip install '.[docs]'``); CI builds it the same way, warnings as errors.
The pages are Markdown (MyST); the API reference is generated from the
docstrings and type hints of everything in ``kt.__all__``.
"""

from __future__ import annotations

import os
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
    # Google-style sections (Args:, Returns:, Raises:) in docstrings
    "sphinx.ext.napoleon",
]

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
# Type aliases shown by name rather than expanded.
autodoc_type_aliases = {"Key": "kt.protocol.convert.Key"}
nitpicky = False

html_theme = "alabaster"
html_title = "kt %s" % release
html_static_path: list = []
