"""Contract tests of the Kyoto Tycoon servers: persistence across restarts,
SIGTERM, expiration over time, scripts, start-up errors.

Runs against the built-in server and, when installed, the real ktserver.
Scripts: the built-in server loads Python procedures (``-scr procs.py``),
ktserver Lua ones; the tests write the same procedures in both languages
and expect the same answers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional

import pytest

from kt import KyotoTycoon
from kt.errors import ServerError
from kt.protocol import kt_binary as kb
from kt_wire import KTWire
from lua_servers import without_lupa_env
from servers import RunningServer, real_server_path, scripted_server, server_kinds

IMPLS = server_kinds("kyoto")

PYTHON_SCRIPT = '''\
"""Test procedures for the built-in server (same as procs.lua)."""
from kt.server.kyoto.scripting import RV_EINVALID, RV_ELOGIC, ScriptError


def echo(ctx, inmap):
    return dict(inmap)


def incrby(ctx, inmap):
    return {"num": ctx.db.increment(inmap[b"key"], int(inmap[b"num"]))}


def store(ctx, inmap):
    ctx.database("tree.kct").set(inmap[b"key"], inmap[b"value"])
    return {"stored": inmap[b"key"]}


def refuse(ctx, inmap):
    raise ScriptError(RV_ELOGIC)


def invalid(ctx, inmap):
    raise ScriptError(RV_EINVALID)


def boom(ctx, inmap):
    raise RuntimeError("boom")
'''

LUA_SCRIPT = '''\
kt = __kyototycoon__
db = kt.db

function echo(inmap, outmap)
   for key, value in pairs(inmap) do
      outmap[key] = value
   end
   return kt.RVSUCCESS
end

function incrby(inmap, outmap)
   outmap.num = db:increment(inmap.key, tonumber(inmap.num))
   return kt.RVSUCCESS
end

function store(inmap, outmap)
   local tree = kt.dbs["tree.kct"]
   if not tree:set(inmap.key, inmap.value) then return kt.RVEINTERNAL end
   outmap.stored = inmap.key
   return kt.RVSUCCESS
end

function refuse(inmap, outmap) return kt.RVELOGIC end
function invalid(inmap, outmap) return kt.RVEINVALID end

function boom(inmap, outmap)
   error("boom")
end
'''


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _terminate(server: RunningServer, sig: int = signal.SIGTERM) -> int:
    proc = server.proc
    assert proc is not None
    proc.send_signal(sig)
    code = proc.wait(20)
    server.stop()
    return code


# -- persistence --------------------------------------------------------------------


def test_file_databases_persist_across_restart(impl: str) -> None:
    server = RunningServer("kyoto", impl, databases=["casket.kch", "tree.kct", "*"]).start()
    try:
        with KTWire(server.host, server.port) as w:
            w.set_bulk([(b"h%d" % i, b"v%d" % i) for i in range(200)], db=0)
            w.set_bulk([(b"t%d" % i, b"w%d" % i) for i in range(200)], db=1)
            w.set_bulk([(b"mem", b"gone")], db=2)
            w.set_bulk([(b"exp", b"later")], db=1, xt=3600)
            w.set_bulk([(b"bin\x00\xff", bytes(range(256)))], db=0)
            w.rpc("increment", key="n", num="42", DB="0")
            assert w.rpc("remove", key="h7", DB="0").status == 200
        expire_at = None
        with KTWire(server.host, server.port) as w:
            expire_at = w.get_bulk([b"exp"], db=1).xts[0]
        server.restart()
        with KTWire(server.host, server.port) as w:
            assert w.rpc("status", DB="0")["count"] == b"201"  # 199 + bin + n
            assert w.rpc("status", DB="1")["count"] == b"201"
            assert w.rpc("status", DB="2")["count"] == b"0"  # in memory: not kept
            assert w.get(b"h3") == b"v3" and w.get(b"h7") is None
            assert w.get(b"bin\x00\xff") == bytes(range(256))
            assert w.rpc("increment", key="n", num="1", DB="0")["num"] == b"43"
            recs = w.get_bulk([b"exp"], db=1)
            assert recs.values == [b"later"] and recs.xts == [expire_at]
            # The tree keeps its order.
            keys = w.rpc("match_prefix", prefix="t1", max="3", DB="tree.kct").matched()
            assert keys == [b"t1", b"t10", b"t100"]
    finally:
        server.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_exits_zero_and_flushes(impl: str, sig: int) -> None:
    if impl == "real" and sig == signal.SIGINT:
        pytest.skip("one signal is enough for the real server")
    server = RunningServer("kyoto", impl, databases=["casket.kch"]).start()
    try:
        with KTWire(server.host, server.port) as w:
            w.set_bulk([(b"k%d" % i, b"v") for i in range(50)])
        port = server.port
        assert _terminate(server, sig) == 0
        server.start(port)
        with KTWire(server.host, server.port) as w:
            assert w.rpc("status")["count"] == b"50"
        if impl == "builtin":
            log = open(os.path.join(server.workdir, "server.log")).read()
            assert "closing a database: path=casket.kch" in log
            assert "[FINISH]" in log
    finally:
        server.stop()


# -- expiration over time -------------------------------------------------------------


def test_expired_records_vanish(impl: str) -> None:
    server = RunningServer("kyoto", impl, databases=["*", "%"]).start()
    try:
        with KTWire(server.host, server.port) as w:
            for db in ("0", "1"):
                for k in ("e1", "e2", "e3"):
                    w.rpc("set", key=k, value="v", xt="1", DB=db)
                w.rpc("set", key="live", value="v", DB=db)
                assert w.rpc("get", key="e1", DB=db).status == 200
            w.set_bulk([(b"bin", b"v")], db=1, xt=1)
            time.sleep(2.1)
            for db in ("0", "1"):
                assert w.rpc("get", key="e1", DB=db).status == 450
                assert w.rpc("check", key="e2", DB=db).status == 450
                assert w.rpc("get_bulk", _e1="", _live="", DB=db).pairs == \
                    [(b"_live", b"v"), (b"num", b"1")]
                # Expired records count until they are purged, and vacuum
                # purges them all.
                assert int(w.rpc("status", DB=db)["count"]) >= 1
                assert w.rpc("vacuum", DB=db).status == 200
                assert w.rpc("status", DB=db)["count"] == b"1"
            assert w.get_bulk([b"bin"], db=1).keys == []
            assert w.rest("GET", b"e3", db=b"1").status == 404
            w.rpc("cur_jump", CUR="1", DB="1")
            assert w.rpc("cur_get_key", CUR="1")["key"] == b"live"
            # An expired record is absent for add and increment too.
            w.rpc("set", key="x", value="12345678", xt="-5", DB="1")
            assert w.rpc("add", key="x", value="new", DB="1").status == 200
            w.rpc("set", key="y", value="12345678", xt="-5", DB="1")
            assert w.rpc("increment", key="y", num="1", orig="10", DB="1")["num"] == b"11"
    finally:
        server.stop()


# -- scripts ---------------------------------------------------------------------------


@pytest.fixture(scope="module", params=IMPLS)
def script_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    server = scripted_server("kyoto", request.param, PYTHON_SCRIPT, LUA_SCRIPT,
                             databases=["*", "tree.kct"]).start()
    yield server
    server.stop()


def test_script_procedures_over_rpc(script_server: RunningServer) -> None:
    with KTWire(script_server.host, script_server.port) as w:
        r = w.rpc("play_script", name="echo", _a="1", _b="2", other="x")
        assert (r.status, r.pairs) == (200, [(b"_a", b"1"), (b"_b", b"2")])
        w.rpc("remove", key="n")
        r = w.rpc("play_script", name="incrby", _key="n", _num="15")
        assert (r.status, r.pairs) == (200, [(b"_num", b"15")])
        assert w.get(b"n") == b"\x00" * 7 + b"\x0f"
        r = w.rpc("play_script", name="store", _key="s", _value="val")
        assert (r.status, r.pairs) == (200, [(b"_stored", b"s")])
        assert w.rpc("get", key="s", DB="1")["value"] == b"val"
        for name, status, message in (
                ("refuse", 450, b"the scripting procedure failed"),
                ("invalid", 400, b"the scripting procedure failed"),
                ("boom", 500, b"the scripting procedure failed"),
                ("nosuch", 501, b"no such scripting procedure")):
            r = w.rpc("play_script", name=name)
            assert (r.status, r.error) == (status, message), name
        for bad in ("", "a-b", "a_b"):
            r = w.rpc("play_script", name=bad)
            assert (r.status, r.error) == (400, b"invalid parameters"), bad
        r = w.rpc("play_script", _a="1")
        assert (r.status, r.error) == (400, b"invalid parameters")


def test_script_procedures_over_binary(script_server: RunningServer) -> None:
    with KTWire(script_server.host, script_server.port) as w:
        assert w.play_script(b"echo", [(b"z", b"1"), (b"a", b"\x00\xff")]) == \
            [(b"a", b"\x00\xff"), (b"z", b"1")]
        assert w.play_script(b"echo", []) == []
        for name in (b"refuse", b"boom", b"nosuch"):
            w.send(kb.encode_play_script(name, []))
            assert w.read(lambda b: b.take(1) if b.ensure(1) else None) == b"\xbf"
        w.send(kb.encode_play_script(b"store", [(b"key", b"nr"), (b"value", b"1")],
                                     flags=kb.FLAG_NO_REPLY))
        assert w.get(b"nr", db=1) == b"1"


def test_scripts_through_the_client(script_server: RunningServer) -> None:
    client = KyotoTycoon(script_server.host, script_server.port, timeout=10)
    try:
        assert client.script("echo", {"a": "1"}, encode_values=False) == {"a": b"1"}
        assert client.lua.echo(b="2") == {"b": "2"}
        with pytest.raises(ServerError):
            client.script("refuse")
    finally:
        client.close()


# -- start-up --------------------------------------------------------------------------


def _run_builtin(args: List[str], cwd: str, env: Optional[Dict[str, str]] = None
                 ) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "kt.server", "kyoto", "-port", "0", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=30, env=env)


def test_startup_errors(impl: str, tmp_path: "os.PathLike[str]") -> None:
    cases = [["-scr", os.path.join(str(tmp_path), "missing.lua")], ["db.unknown"]]
    for args in cases:
        if impl == "builtin":
            result = _run_builtin(args, str(tmp_path))
            assert result.returncode == 1, result
            assert "listening" not in result.stdout
        else:
            path = real_server_path("kyoto")
            assert path is not None
            log = os.path.join(str(tmp_path), "real.log")
            result2 = subprocess.run([path, "-port", "21999", "-log", log, *args],
                                     cwd=str(tmp_path), capture_output=True, timeout=30)
            assert result2.returncode == 1


def test_builtin_without_lupa_refuses_lua_scripts(tmp_path: "os.PathLike[str]") -> None:
    script = os.path.join(str(tmp_path), "procs.lua")
    with open(script, "w") as f:
        f.write(LUA_SCRIPT)
    result = _run_builtin(["-scr", script], str(tmp_path), without_lupa_env(str(tmp_path)))
    assert result.returncode == 1
    assert "kt-typed[lua]" in result.stderr and "procs.lua" in result.stderr


def test_builtin_no_database_argument_means_stash(tmp_path: "os.PathLike[str]") -> None:
    server = RunningServer("kyoto", "builtin", databases=[], workdir=str(tmp_path)).start()
    try:
        with KTWire(server.host, server.port) as w:
            assert w.rpc("status")["path"] == b":"
            assert w.rpc("status")["type"] == b"24"
    finally:
        server.stop()
