"""The shared Lua runtime of the built-in servers (kt.server.lua): the
sandbox, the time limit, errors, and the utility functions, whose results
must equal the real servers' (tests/lua/*_utilities.expected.json were printed by
ktserver 1.0.0 and ttserver 1.1.41 running the same Lua files, and are
checked against them again when they are installed)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Iterator

import pytest

from servers import RunningServer, real_server_path

lupa = pytest.importorskip("lupa", reason="lupa (Lua) is not installed: pip install 'kt-typed[lua]'")

from kt.server import lua as kl  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def _read(name: str) -> bytes:
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


def _expected(name: str) -> Dict[str, str]:
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        data: Dict[str, str] = json.load(f)
    return data


def _outmap(state: kl.LuaState, out: Any) -> Dict[str, str]:
    return {k.decode(): v.decode() for k, v in out.items()}


def kt_state() -> kl.LuaState:
    state = kl.LuaState(timeout=5.0)
    env = state.runtime.table()
    kl.install(state, env, kl.kt_utilities(state))
    env[b"RVSUCCESS"] = 0
    state.globals[b"__kyototycoon__"] = env
    return state


def tt_state() -> kl.LuaState:
    state = kl.LuaState(timeout=5.0)
    kl.install(state, state.globals, kl.tt_utilities(state), prefix="_")
    return state


def _local_results(kind: str) -> Dict[str, str]:
    state = kt_state() if kind == "kyoto" else tt_state()
    state.load(_read("utilities.lua"), "utilities.lua")
    if kind == "kyoto":
        out = state.runtime.table()
        state.call(state.function(b"utilities"), state.runtime.table(), out)
        result = out[b"result"]
    else:
        (result,) = state.call(state.function(b"utilities"), b"", b"")
    data: Dict[str, str] = json.loads(result.decode())
    return data


def _real_results(server: RunningServer) -> Dict[str, str]:
    from kt import KyotoTycoon, TokyoTyrant

    if server.kind == "kyoto":
        out = KyotoTycoon(port=server.port).script("utilities", {}, encode_values=False)
        assert out is not None
        result = out["result"]
    else:
        result = TokyoTyrant(port=server.port).script("utilities", "", "")
    data: Dict[str, str] = json.loads(result.decode())
    return data


@pytest.mark.parametrize("kind", ["kyoto", "tyrant"])
def test_utilities_give_the_real_servers_results(kind: str) -> None:
    assert _local_results(kind) == _expected("%s_utilities.expected.json" % kind)


@pytest.fixture(params=["kyoto", "tyrant"])
def real_server(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[RunningServer]:
    kind = request.param
    if real_server_path(kind) is None:
        pytest.skip("no real %s server installed" % kind)
    option = "-scr" if kind == "kyoto" else "-ext"
    with RunningServer(kind, "real", databases=["*"],
                       args=[option, os.path.join(HERE, "utilities.lua")],
                       workdir=str(tmp_path)) as server:
        yield server


def test_expectations_are_the_real_servers(real_server: RunningServer) -> None:
    name = "%s_utilities.expected.json" % real_server.kind
    assert _real_results(real_server) == _expected(name)


# -- the runtime itself -------------------------------------------------------


def test_sandbox_has_no_python() -> None:
    state = kt_state()
    assert state.runtime.eval("python") is None
    state.load(b"function probe() return __kyototycoon__.split.__globals__ end", "p")
    with pytest.raises(kl.LuaScriptError):
        state.call(state.function(b"probe"))
    # the standard libraries of the real servers are there
    assert state.runtime.eval("type(string.format) .. type(table.concat) .. type(os.time)") == \
        b"functionfunctionfunction"


def test_errors_become_script_errors() -> None:
    state = kt_state()
    with pytest.raises(kl.LuaScriptError) as info:
        state.load(b"function broken( end", "broken.lua")
    assert "broken.lua" in str(info.value)
    state.load(b"function boom() error('kaboom') end\n"
               b"function bad() return __kyototycoon__.atoi() end", "e.lua")
    with pytest.raises(kl.LuaScriptError, match="kaboom"):
        state.call(state.function(b"boom"))
    with pytest.raises(kl.LuaScriptError):
        state.call(state.function(b"bad"))
    assert state.function(b"missing") is None


def test_endless_loop_is_bounded() -> None:
    state = kl.LuaState(timeout=0.3)
    state.load(b"function spin() while true do end end\n"
               b"function stubborn() while true do pcall(function() while true do end end) end end",
               "loop.lua")
    for name in (b"spin", b"stubborn"):
        started = time.monotonic()
        with pytest.raises(kl.LuaTimeout):
            state.call(state.function(name))
        assert time.monotonic() - started < 10
    # the state stays usable afterwards
    state.load(b"function ok() return 1 end", "ok.lua")
    assert state.call(state.function(b"ok")) == (1,)


def test_sleep_respects_the_deadline() -> None:
    state = kt_state()
    state.timeout = 0.2
    state.load(b"function nap() __kyototycoon__.sleep(30) end", "s.lua")
    with pytest.raises(kl.LuaTimeout):
        state.call(state.function(b"nap"))


def test_missing_lupa_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "lupa", None)
    monkeypatch.setitem(sys.modules, "lupa.lua51", None)
    with pytest.raises(kl.LuaUnavailable, match=r"kt-typed\[lua\]"):
        kl.load_lupa()


def test_coroutines_are_bounded_too() -> None:
    state = kl.LuaState(timeout=0.3)
    state.load(b"function co() coroutine.wrap(function() while true do end end)() end\n"
               b"function co2() local c = coroutine.create(function() while true do end end)\n"
               b"  while true do coroutine.resume(c) end end\n"
               b"function fine() local ok, err = pcall(error, 'x'); return ok, err end", "co.lua")
    for name in (b"co", b"co2"):
        with pytest.raises(kl.LuaTimeout):
            state.call(state.function(name))
    assert state.call(state.function(b"fine")) == (False, b"x")


def test_memory_is_bounded_and_the_state_dropped() -> None:
    state = kl.LuaState(timeout=120.0, max_memory=4 << 20)
    state.load(b"function hog() local s = 'x' while true do s = s .. s end end", "hog.lua")
    with pytest.raises(kl.LuaScriptError, match="memory"):
        state.call(state.function(b"hog"))
    assert state.broken
    made: list = []
    pool = kl.StatePool(lambda n: made.append(n) or kl.LuaState())
    first = pool.acquire()
    first.broken = True
    pool.release(first)
    pool.acquire()
    assert made == [1, 2]  # the broken state was not reused
