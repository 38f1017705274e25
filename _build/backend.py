"""In-tree PEP 517 backend: setuptools, plus mypy when a compiled build is asked for.

``KT_USE_MYPYC=1 pip install .`` compiles the protocol modules with mypyc;
the exact mypy release is pinned here so that every compiled build of one
kt version is made by the same compiler.
"""

import os

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F401,F403  (re-export the hooks)

MYPY_REQUIREMENT = "mypy==2.4.1"


def _extra() -> list:
    if os.environ.get("KT_USE_MYPYC", "0") == "1":
        return [MYPY_REQUIREMENT]
    return []


def _discovering(hook, config_settings):
    # setuptools runs setup.py to discover requirements, before mypy is
    # installed: tell setup.py not to compile during that run.
    os.environ["_KT_DISCOVERING_REQUIREMENTS"] = "1"
    try:
        return hook(config_settings)
    finally:
        del os.environ["_KT_DISCOVERING_REQUIREMENTS"]


def get_requires_for_build_wheel(config_settings=None):
    return _discovering(_orig.get_requires_for_build_wheel, config_settings) + _extra()


def get_requires_for_build_editable(config_settings=None):
    return _discovering(_orig.get_requires_for_build_editable, config_settings) + _extra()
