"""Contract tests of the Tokyo Tyrant servers' life: persistence across a
restart, SIGTERM, extensions (-ext), bad requests and many clients.

Run against the built-in server and, when installed, the real ttserver.
The extension functions are Python for the built-in server and the same
functions in Lua for ttserver.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from typing import List

import pytest

from kt.protocol import tt_binary as tb
from servers import RunningServer, scripted_server, server_kinds
from tt_wire import TTWire

IMPLS = server_kinds("tyrant")

EXT_PY = '''
def echo(key, value):
    return key + b":" + value

def counter(key, value):
    return str(db.addint(key, int(value)))

def nothing(key, value):
    return None

def broken(key, value):
    raise RuntimeError("on purpose")

def swap(key, value):
    old = db.get(key)
    db.put(key, value)
    return old if old is not None else b""
'''

EXT_LUA = '''
function echo(key, value)
  return key .. ":" .. value
end

function counter(key, value)
  return _addint(key, tonumber(value))
end

function nothing(key, value)
  return nil
end

function broken(key, value)
  error("on purpose")
end

function swap(key, value)
  local old = _get(key)
  _put(key, value)
  if old == nil then return "" end
  return old
end
'''


def sigterm(server: RunningServer) -> int:
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(20)
    server.stop()
    return code


@pytest.mark.parametrize("impl", IMPLS)
def test_file_databases_persist_across_sigterm(impl: str, tmp_path: object) -> None:
    workdir = str(tmp_path)
    for spec in ("h.tch", "b.tcb", "f.tcf#width=8", "t.tct"):
        server = RunningServer("tyrant", impl, databases=[spec], workdir=workdir).start()
        with TTWire(server.host, server.port) as w:
            assert w.vanish() == 0
            if spec.startswith("t.tct"):
                assert w.misc(b"setindex", [b"c", b"0"]) == (0, [])
                for i in range(50):
                    assert w.put(b"%d" % (i + 1), b"c\x00v%d\x00n\x00%d" % (i, i)) == 0
            else:
                for i in range(50):
                    assert w.put(b"%d" % (i + 1), b"value-%d" % i) == 0
            if spec.startswith("b.tcb"):
                assert w.misc(b"putdup", [b"1", b"dup"]) == (0, [])
            expected_rnum = w.rnum()
        assert sigterm(server) == 0
        server.start()
        with TTWire(server.host, server.port) as w:
            assert w.rnum() == expected_rnum, spec
            if spec.startswith("t.tct"):
                assert w.get(b"7") == b"c\x00v6\x00n\x006"
                status, found = w.search([b"addcond\x00c\x000\x00v6"])
                assert (status, found) == (0, [b"7"])
                assert w.misc(b"setindex", [b"c", b"%d" % tb.INDEX_KEEP]) == (1, [])  # kept
            elif spec.startswith("f.tcf"):
                assert w.get(b"7") == b"value-6"
            else:
                assert w.get(b"7") == b"value-6"
            if spec.startswith("b.tcb"):
                assert w.misc(b"get", [b"1"]) == (0, [b"value-0", b"dup"])
        server.stop()


@pytest.mark.parametrize("impl", IMPLS)
def test_sigint_and_sync_then_kill(impl: str, tmp_path: object) -> None:
    server = RunningServer("tyrant", impl, databases=["s.tch"], workdir=str(tmp_path)).start()
    with TTWire(server.host, server.port) as w:
        w.put(b"a", b"1")
        assert w.sync() == 0  # written to the file now
    proc = server.proc
    assert proc is not None
    proc.kill()
    proc.wait(10)
    server.stop()
    server.start()
    with TTWire(server.host, server.port) as w:
        assert w.get(b"a") == b"1"
    proc = server.proc
    assert proc is not None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    server.stop()


@pytest.mark.parametrize("impl", IMPLS)
def test_copy_writes_a_usable_database(impl: str, tmp_path: object) -> None:
    workdir = str(tmp_path)
    with RunningServer("tyrant", impl, databases=["c.tch"], workdir=workdir) as server, \
            TTWire(server.host, server.port) as w:
        w.put(b"a", b"1")
        target = os.path.join(workdir, "copy.tch")
        assert w.copy(target.encode()) == 0
        assert os.path.getsize(target) > 0
    with RunningServer("tyrant", impl, databases=["copy.tch"], workdir=workdir) as server, \
            TTWire(server.host, server.port) as w:
        assert w.get(b"a") == b"1"


def _ext_server(impl: str, tmp_path: object) -> RunningServer:
    return scripted_server("tyrant", impl, EXT_PY, EXT_LUA, workdir=str(tmp_path)).start()


@pytest.mark.parametrize("impl", IMPLS)
def test_ext_functions(impl: str, tmp_path: object) -> None:
    server = _ext_server(impl, tmp_path)
    try:
        with TTWire(server.host, server.port) as w:
            assert w.ext(b"echo", b"k", b"v") == (0, b"k:v")
            assert w.ext(b"echo", b"", b"") == (0, b":")
            assert w.ext(b"no_such_function", b"k", b"v") == (1, b"")
            assert w.ext(b"nothing", b"k", b"v") == (1, b"")
            assert w.ext(b"broken", b"k", b"v") == (1, b"")
            assert w.ext(b"swap", b"s", b"1") == (0, b"")
            assert w.ext(b"swap", b"s", b"2", tb.EXT_LOCK_RECORD) == (0, b"1")
            assert w.get(b"s") == b"2"
            assert w.ext(b"counter", b"c", b"5") == (0, b"5")
            assert w.get(b"c") == struct.pack("<i", 5)

        def work(opts: int) -> None:
            with TTWire(server.host, server.port) as w2:
                for _ in range(50):
                    assert w2.ext(b"counter", b"n", b"1", opts)[0] == 0

        threads = [threading.Thread(target=work, args=(opts,))
                   for opts in (0, tb.EXT_LOCK_RECORD, tb.EXT_LOCK_GLOBAL) * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with TTWire(server.host, server.port) as w:
            assert w.get(b"n") == struct.pack("<i", 300)
    finally:
        server.stop()


def test_lua_ext_is_refused_clearly_by_the_builtin_server(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "x.lua")
    with open(path, "w") as f:
        f.write("function echo(k, v) return k end\n")
    proc = subprocess.run([sys.executable, "-m", "kt.server", "tyrant", "-port", "0",
                           "-ext", path], capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"Lua" in proc.stderr and b"Python" in proc.stderr


def test_bad_ext_file_is_refused(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "x.py")
    with open(path, "w") as f:
        f.write("def broken(:\n")
    proc = subprocess.run([sys.executable, "-m", "kt.server", "tyrant", "-port", "0",
                           "-ext", path], capture_output=True, timeout=30)
    assert proc.returncode != 0 and b"x.py" in proc.stderr


def _closed(sock: socket.socket) -> bool:
    sock.settimeout(10)
    try:
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
            data += chunk
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("impl", IMPLS)
def test_malformed_requests_close_only_their_connection(impl: str) -> None:
    with RunningServer("tyrant", impl) as server:
        with TTWire(server.host, server.port) as good:
            good.put(b"k", b"v")
            bad_requests: List[bytes] = [
                b"\x01\x02garbage\r\n",  # not the magic byte (ttserver reads a text line)
                b"\xc8\xee",  # unknown command
                b"\xc8\x10\x80\x00\x00\x00\x00\x00\x00\x01",  # negative key size
                b"\xc8\x90" + struct.pack(">III", 5000, 0, 0),  # misc name too long
            ]
            for request in bad_requests:
                s = socket.create_connection((server.host, server.port), 10)
                s.sendall(request)
                assert _closed(s), request
                s.close()
                assert good.get(b"k") == b"v"
            # a truncated request, then the client goes away
            s = socket.create_connection((server.host, server.port), 10)
            s.sendall(tb.encode_put(b"key", b"value" * 100)[:20])
            s.close()
            # a length that promises more than will ever come: only waits
            s = socket.create_connection((server.host, server.port), 10)
            s.sendall(b"\xc8\x30" + struct.pack(">I", 1 << 27) + b"abc")
            s.close()
            assert good.get(b"k") == b"v"
            assert good.get(b"key") is None


@pytest.mark.parametrize("impl", IMPLS)
def test_many_concurrent_clients(impl: str) -> None:
    errors: List[BaseException] = []
    with RunningServer("tyrant", impl) as server:
        def client(n: int) -> None:
            try:
                with TTWire(server.host, server.port) as w:
                    for i in range(100):
                        key = b"c%d-%d" % (n, i)
                        assert w.put(key, key * 3) == 0
                        assert w.get(key) == key * 3
                        assert w.addint(b"total", 1)[0] == 0
                    found = w.mget([b"c%d-%d" % (n, i) for i in range(100)])
                    assert len(found) == 100
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        with TTWire(server.host, server.port) as w:
            assert w.rnum() == 24 * 100 + 1
            assert w.get(b"total") == struct.pack("<i", 2400)


@pytest.mark.parametrize("impl", IMPLS)
def test_pipelined_requests(impl: str) -> None:
    with RunningServer("tyrant", impl) as server, TTWire(server.host, server.port) as w:
        batch = b"".join(tb.encode_put(b"p%d" % i, b"v%d" % i) for i in range(200))
        batch += tb.encode_putnr(b"nr", b"x") + tb.encode_rnum()
        w.sock.sendall(batch)
        for _ in range(200):
            assert w.call(b"", tb.parse_status_reply) == 0
        assert w.call(b"", tb.parse_u64_reply) == (0, 201)
