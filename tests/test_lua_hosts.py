"""The Lua hosts of the built-in servers: ktserver's ``__kyototycoon__``
(kt.server.kyoto_lua) and ttserver's ``_`` functions (kt.server.tyrant_lua).

tests/lua/utilities.lua ("api") exercises the database, cursor, visitor
and ``_`` functions step by step and must answer what ktserver 1.0.0 and
ttserver 1.1.41 answered (tests/lua/{kyoto,tyrant}_api.expected.txt), on
the built-in hosts and, when installed, on the real servers.
"""

from __future__ import annotations

import os
import threading
from typing import Dict, Iterator, List, Tuple

import pytest

from concurrency import run_threads
from servers import RunningServer, real_server_path

pytest.importorskip("lupa", reason="lupa (Lua) is not installed: pip install 'kt-typed[lua]'")

from kt import KyotoTycoon, TokyoTyrant, lua_script_path  # noqa: E402
from kt.server.kyoto.luascript import LuaScriptHost  # noqa: E402
from kt.server.kyoto.scripting import ScriptLoadError  # noqa: E402
from kt.server.kyoto.storage import open_database  # noqa: E402
from kt.server.log import Logger  # noqa: E402
from kt.server.lua import LuaScriptError  # noqa: E402
from kt.server.tyrant.luascript import LuaExtension, LuaExtLoadError  # noqa: E402
from kt.server.tyrant.scripting import ExtDatabase  # noqa: E402
from kt.server.tyrant.storage import open_database as open_tt_database  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")
SCRIPT = os.path.join(HERE, "utilities.lua")


def _expected(kind: str) -> bytes:
    with open(os.path.join(HERE, "%s_api.expected.txt" % kind), "rb") as f:
        return f.read()


# -- Kyoto Tycoon ---------------------------------------------------------------


def host(path: str = SCRIPT, timeout: float = 30.0) -> Tuple[LuaScriptHost, List[Tuple[str, str]]]:
    logs: List[Tuple[str, str]] = []
    dbs = [open_database("*"), open_database("%")]
    h = LuaScriptHost(path, dbs, {b"*": 0, b"%": 1}, lambda level, msg: logs.append((level, msg)),
                      timeout=timeout)
    h.load()
    return h, logs


def test_api_answers_as_ktserver() -> None:
    h, logs = host()
    results: List[bytes] = []
    for db in (b"*", b"%"):
        status, out = h(b"api", {b"db": db})
        assert status == 0
        results.append(out[b"result"])
    assert b"\n".join(results) + b"\n" == _expected("kyoto")
    assert ("INFO", "[SCRIPT]: api ran 26 steps") in logs


def test_api_expectations_are_ktservers(tmp_path: str) -> None:
    if real_server_path("kyoto") is None:
        pytest.skip("no real ktserver installed")
    with RunningServer("kyoto", "real", databases=["*", "%"], args=["-scr", SCRIPT],
                       workdir=str(tmp_path)) as server:
        client = KyotoTycoon(port=server.port)
        parts = []
        for db in ("*", "%"):
            out = client.script("api", {"db": db}, encode_values=False)
            assert out is not None
            parts.append(out["result"])
    assert b"\n".join(parts) + b"\n" == _expected("kyoto")


def test_status_outmap_and_failures() -> None:
    h, logs = host(timeout=0.3)
    assert h(b"status", {}) == (0, {b"count": b"0", b"path": b"*", b"type": b"table",
                                    b"size": b"true"})
    assert h(b"fail", {})[0] == 3  # RVELOGIC
    assert h(b"crash", {}) == (5, {})  # RVEINTERNAL, logged
    assert any("deliberate" in msg for level, msg in logs if level == "ERROR")
    assert h(b"spin", {}) == (5, {})  # bounded by the time limit
    assert h(b"no_such_procedure", {}) == (1, {})  # RVENOIMPL
    assert h(b"status", {})[0] == 0  # still serving
    assert "api" in h.procedures and "status" in h.procedures


def test_states_are_pooled_per_concurrent_call() -> None:
    h, _ = host(lua_script_path("kyoto"))

    def worker(n: int) -> None:
        for i in range(50):
            status, out = h(b"queue_add", {b"queue": b"q", b"data": b"%d-%d" % (n, i)})
            assert status == 0

    run_threads(worker, 4)
    status, out = h(b"queue_size", {b"queue": b"q"})
    assert out == {b"num": b"200"}
    status, out = h(b"queue_pop", {b"queue": b"q", b"n": b"-1"})
    assert len(out) == 200 and len(set(out.values())) == 200


def test_concurrent_updates_of_one_record_are_not_lost() -> None:
    """Four threads add fields to one hash through Lua (a visitor each);
    with kt.db:accept's compare-and-swap no update overwrites another."""
    h, _ = host(lua_script_path("kyoto"))

    def worker(n: int) -> None:
        for i in range(40):
            args = {b"table_key": b"shared", b"key": b"f%d-%d" % (n, i), b"value": b"v"}
            assert h(b"hset", args) == (0, {b"num": b"1"})

    run_threads(worker, 4)
    assert h(b"hlen", {b"table_key": b"shared"}) == (0, {b"num": b"160"})


def test_kyoto_load_errors(tmp_path: str) -> None:
    bad = os.path.join(str(tmp_path), "bad.lua")
    with open(bad, "w") as f:
        f.write("function broken( end")
    with pytest.raises(ScriptLoadError, match="bad.lua"):
        host(bad)
    with pytest.raises(ScriptLoadError):
        host(os.path.join(str(tmp_path), "missing.lua"))


def test_outmap_values_convert_as_ktserver(tmp_path: str) -> None:
    path = os.path.join(str(tmp_path), "conv.lua")
    with open(path, "w") as f:
        f.write("function conv(i, o) o.int = 42; o.float = 1.5; o.yes = true; o.tbl = {}; "
                "o[7] = 'seven'; return '0' end\n"
                "function none(i, o) o.x = 'y' end\n"
                "function echo(i, o) for k, v in pairs(i) do o[k] = v end; return 0 end")
    h, _ = host(path)
    assert h(b"conv", {}) == (0, {b"int": b"42", b"float": b"1.500000", b"yes": b"true",
                                  b"7": b"seven"})
    assert h(b"none", {}) == (0, {b"x": b"y"})
    data: Dict[bytes, bytes] = {b"k\x00": b"\xff\x00v", b"": b""}
    assert h(b"echo", data) == (0, data)


# -- Tokyo Tyrant ----------------------------------------------------------------


def extension(path: str = SCRIPT, timeout: float = 30.0) -> Tuple[LuaExtension, List[str]]:
    logs: List[str] = []
    db = ExtDatabase(open_tt_database("*"), threading.RLock(), Logger(level="NONE"))
    ext = LuaExtension(path, db, logs.append, timeout=timeout)
    return ext, logs


@pytest.fixture
def in_tmp(tmp_path: str) -> Iterator[None]:
    cwd = os.getcwd()
    os.chdir(str(tmp_path))
    try:
        yield
    finally:
        os.chdir(cwd)


def test_api_answers_as_ttserver(in_tmp: None) -> None:
    ext, logs = extension()
    functions = ext.load()
    assert functions["api"](b"", b"") + b"\n" == _expected("tyrant")
    assert logs == ["api ran 20 steps"]


def test_api_expectations_are_ttservers(tmp_path: str) -> None:
    if real_server_path("tyrant") is None:
        pytest.skip("no real ttserver installed")
    with RunningServer("tyrant", "real", databases=["*"], args=["-ext", SCRIPT],
                       workdir=str(tmp_path)) as server:
        assert TokyoTyrant(port=server.port).script("api", "", "") + b"\n" == _expected("tyrant")


def test_results_convert_as_ttserver() -> None:
    ext, _ = extension(timeout=0.3)
    f = ext.load()
    assert f["number"](b"k", b"v") == b"42"
    assert f["yes"](b"k", b"v") == b"true"
    assert f["no"](b"k", b"v") is None
    assert f["first"](b"k", b"v") == b"one"
    with pytest.raises(LuaScriptError, match="deliberate"):
        f["crash"](b"k", b"v")
    with pytest.raises(LuaScriptError, match="timed out"):
        f["spin"](b"k", b"v")
    assert f["number"](b"k", b"v") == b"42"
    assert "utilities" in f and not any(name.startswith("_") for name in f)


def test_helper_library_runs(in_tmp: None) -> None:
    ext, _ = extension(lua_script_path("tyrant"))
    f = ext.load()
    assert f["queue_add"](b"q", b"a") == b"1" and f["queue_add"](b"q", b"b") == b"2"
    assert f["queue_size"](b"q", b"") == b"2"
    assert f["queue_pop"](b"q", b"-1") == b"1:a1:b"
    assert f["lock"](b"x", b"") == b"true" and f["unlock"](b"x", b"") == b"true"


def test_eval_reaches_every_state(in_tmp: None) -> None:
    ext, _ = extension()
    f = ext.load()
    f["api"](b"", b"")  # runs _eval("evaluated = 40 + 2") in its state
    other = ext._new_state(2)  # as a second worker thread would have
    ext._catch_up(other)
    assert other.globals[b"evaluated"] == 42


def test_tyrant_load_errors(tmp_path: str) -> None:
    bad = os.path.join(str(tmp_path), "bad.lua")
    with open(bad, "w") as f:
        f.write("function broken( end")
    with pytest.raises(LuaExtLoadError, match="bad.lua"):
        extension(bad)[0].load()
    with pytest.raises(LuaExtLoadError):
        extension(os.path.join(str(tmp_path), "missing.lua"))[0].load()
