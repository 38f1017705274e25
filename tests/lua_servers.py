"""Servers running Lua for the tests: ``lua_server`` starts one with a Lua
file, or skips the test with the reason when that implementation cannot
run Lua (no lupa installed, e.g. on PyPy); ``script_variants`` lists the
servers a script test runs against (the built-in one with Python and with
Lua procedures, the real one with Lua)."""

from __future__ import annotations

import os
from typing import Dict, Iterator, List, Sequence

import pytest

from kt.embedded import ServerStartError

from servers import RunningServer, server_kinds


def lua_server(kind: str, impl: str, script: str, databases: Sequence[str],
               workdir: str) -> Iterator[RunningServer]:
    """Yield a started server of ``kind`` ("kyoto" or "tyrant") running the
    Lua file ``script`` (-scr or -ext), stopping it afterwards."""
    if impl == "builtin" and not lupa_installed():
        pytest.skip("the built-in %s server runs Lua through lupa, which is not installed "
                    "here (no wheel for this interpreter)" % kind)
    option = "-scr" if kind == "kyoto" else "-ext"
    server = RunningServer(kind, impl, databases=databases, args=[option, script],
                           workdir=workdir)
    try:
        server.start()
    except Exception as exc:
        message = str(exc)
        if impl == "builtin" and ("Lua" in message or "lupa" in message):
            pytest.skip("the built-in %s server cannot run Lua here: %s"
                        % (kind, message.strip().splitlines()[-1]))
        raise
    try:
        yield server
    finally:
        server.stop()


def lupa_installed() -> bool:
    try:
        import lupa  # noqa: F401
    except ImportError:
        return False
    return True


def script_variants(kind: str) -> List[str]:
    """What to run a script test against: "builtin" (Python procedures),
    "builtin+lua" when lupa is installed, and "real" (Lua) when installed;
    ``servers.scripted_server(..., lua=True)`` starts the Lua one."""
    variants = []
    for impl in server_kinds(kind):
        variants.append(impl)
        if impl == "builtin" and lupa_installed():
            variants.append("builtin+lua")
    return variants


def without_lupa_env(directory: str) -> Dict[str, str]:
    """Environment for a server subprocess in which ``import lupa`` fails,
    as on a machine without the lua extra (a stub package in
    ``directory`` shadows the real one)."""
    stub = os.path.join(directory, "nolupa", "lupa")
    os.makedirs(stub, exist_ok=True)
    with open(os.path.join(stub, "__init__.py"), "w") as f:
        f.write("raise ImportError('lupa is hidden for this test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(stub)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env
