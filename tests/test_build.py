"""The build under test is the one CI asked for."""

from __future__ import annotations

import os

import kt


def test_compiled_flag_matches_the_requested_build() -> None:
    # CI runs the suite twice: KT_USE_MYPYC=1 after a mypyc install, unset or
    # 0 after a pure one.  kt.COMPILED must tell which modules are imported.
    wanted = os.environ.get("KT_USE_MYPYC", "0") == "1"
    assert kt.COMPILED is wanted, kt.__file__


def test_public_names() -> None:
    for name in kt.__all__:
        assert hasattr(kt, name), name
    assert isinstance(kt.__version__, str)
