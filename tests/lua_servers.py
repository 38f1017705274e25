"""Servers running Lua scripts for the tests: ``lua_server`` starts one, or
skips the test with the reason when that implementation cannot run Lua (no
lupa installed, e.g. on PyPy, or a built-in server without Lua support)."""

from __future__ import annotations

from typing import Iterator, Sequence

import pytest

from kt.embedded import ServerStartError

from servers import RunningServer


def lua_server(kind: str, impl: str, script: str, databases: Sequence[str],
               workdir: str) -> Iterator[RunningServer]:
    """Yield a started server of ``kind`` ("kyoto" or "tyrant") running the
    Lua file ``script`` (-scr or -ext), stopping it afterwards."""
    option = "-scr" if kind == "kyoto" else "-ext"
    server = RunningServer(kind, impl, databases=databases, args=[option, script],
                           workdir=workdir)
    try:
        server.start()
    except (RuntimeError, ServerStartError) as exc:
        message = str(exc)
        if impl == "builtin" and ("Lua" in message or "lupa" in message):
            pytest.skip("the built-in %s server cannot run Lua here: %s"
                        % (kind, message.strip().splitlines()[-1]))
        raise
    try:
        yield server
    finally:
        server.stop()
