"""The built-in servers' event loop (kt.server.loop) end to end: a script
procedure that blocks runs off the loop, so other connections are served
meanwhile, and the blocked connection's later requests still come back in
order; the ``-threaded`` fallback serves the same."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from typing import Callable, List, Optional, TypeVar, Union

import pytest

from kt import KyotoTycoon, TokyoTyrant
from kt.protocol import kt_binary as kb
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import ReceiveBuffer
from servers import RunningServer, make_workdir, recv_exact

T = TypeVar("T")

KYOTO_SCRIPT = '''
import os, time

def wait(ctx, inmap):
    path = inmap[b"path"].decode()
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)
    return {"waited": "yes"}
'''

TYRANT_EXT = '''
import os, time

def wait(key, value):
    path = key.decode()
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.005)
    return b"waited"
'''


def _server(kind: str, source: str, extra: List[str]) -> RunningServer:
    workdir = make_workdir("kt-test-loop-")
    path = os.path.join(workdir, "procs.py")
    with open(path, "w") as f:
        f.write(source)
    option = "-scr" if kind == "kyoto" else "-ext"
    return RunningServer(kind, "builtin", args=[option, path] + extra, workdir=workdir)


def _parse(sock: socket.socket, buf: ReceiveBuffer, parse: Callable[[ReceiveBuffer], Optional[T]]) -> T:
    while True:
        result = parse(buf)
        if result is not None:
            return result
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buf.feed(chunk)


def _nothing_to_read(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def _blocking_request(kind: str, flag: str) -> bytes:
    """The procedure that waits for ``flag``, then a get of "k"."""
    if kind == "kyoto":
        return (kb.encode_play_script(b"wait", [(b"path", flag.encode())])
                + kb.encode_get_bulk([b"k"]))
    return tb.encode_ext(b"wait", flag.encode(), b"") + tb.encode_get(b"k")


def _check_replies(kind: str, sock: socket.socket) -> None:
    buf = ReceiveBuffer()
    if kind == "kyoto":
        assert _parse(sock, buf, kb.PlayScriptReplyParser().parse) == [(b"waited", b"yes")]
        found = _parse(sock, buf, kb.GetBulkReplyParser().parse)
        assert isinstance(found, kb.BulkRecords)
        assert found.keys == [b"k"] and found.values == [b"v"]
    else:
        want = tb.encode_value_reply(b"waited") + tb.encode_value_reply(b"v")
        assert recv_exact(sock, len(want)) == want


@pytest.mark.parametrize("extra", [[], ["-threaded"]], ids=["loop", "threaded"])
@pytest.mark.parametrize("kind", ["kyoto", "tyrant"])
def test_blocking_procedure_does_not_stall_others(kind: str, extra: List[str]) -> None:
    """A procedure (ext call) waiting for a file; other connections are
    served meanwhile, and the get sent behind it is answered after it."""
    with _server(kind, KYOTO_SCRIPT if kind == "kyoto" else TYRANT_EXT, extra) as server:
        flag = os.path.join(server.workdir, "go")
        client: Union[KyotoTycoon, TokyoTyrant] = (
            KyotoTycoon(port=server.port) if kind == "kyoto" else TokyoTyrant(port=server.port))
        client.set("k", "v")
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            sock.sendall(_blocking_request(kind, flag))
            for i in range(20):
                assert client.set("other%d" % i, "x")
                assert client.get("k") == "v"
            assert _nothing_to_read(sock)
            open(flag, "w").close()
            _check_replies(kind, sock)
        client.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_many_idle_connections_without_threads() -> None:
    """500 connections, each with a request answered, held open at once;
    the server keeps answering (its thread count is not one per
    connection: the report's figures stay those of an idle server)."""
    with RunningServer("kyoto", "builtin") as server:
        socks: List[socket.socket] = []
        try:
            for i in range(500):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
                sock.sendall(kb.encode_set_bulk([(b"idle%d" % i, b"x")]))
                socks.append(sock)
            for sock in socks:
                assert recv_exact(sock, 5) == kb.encode_set_bulk_reply(1)
            client = KyotoTycoon(port=server.port)
            assert client.count() == 500
            threads = _thread_count(server)
            assert threads < 50, threads
            client.close()
        finally:
            for sock in socks:
                sock.close()


def _thread_count(server: RunningServer) -> int:
    proc = server.proc
    assert proc is not None
    with open("/proc/%d/status" % proc.pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def test_idle_timeout_closes_only_idle_connections() -> None:
    with RunningServer("tyrant", "builtin", args=["-tout", "1"]) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as idle:
            idle.sendall(tb.encode_put(b"a", b"1"))
            assert recv_exact(idle, 1) == b"\x00"
            assert idle.recv(1) == b""  # closed once idle long enough
        client = TokyoTyrant(port=server.port)
        assert client.get("a") == "1"
        client.close()


def test_stop_while_a_worker_runs() -> None:
    """SIGTERM stops the server although a procedure is still blocked."""
    server = _server("kyoto", KYOTO_SCRIPT, []).start()
    try:
        flag = os.path.join(server.workdir, "never")
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
        sock.sendall(kb.encode_play_script(b"wait", [(b"path", flag.encode())]))
        client = KyotoTycoon(port=server.port)
        assert client.status()["count"] == "0"
        client.close()
    finally:
        proc = server.proc
        server.stop()
    sock.close()
    assert proc is not None and proc.returncode == 0  # stopped by SIGTERM, not killed


def test_thread_per_connection_fallback_serves() -> None:
    with RunningServer("kyoto", "builtin", args=["-threaded"]) as server:
        clients = [KyotoTycoon(port=server.port) for _ in range(4)]
        done: List[bool] = []

        def work(c: KyotoTycoon, n: int) -> None:
            for i in range(50):
                c.set("t%d-%d" % (n, i), "v")
            done.append(True)

        threads = [threading.Thread(target=work, args=(c, n)) for n, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(done) == 4
        assert clients[0].count() == 200
        for c in clients:
            c.close()


@pytest.mark.parametrize("extra", [[], ["-threaded"]], ids=["loop", "threaded"])
@pytest.mark.parametrize("kind", ["kyoto", "tyrant"])
def test_sigterm_while_busy_stops_the_server(kind: str, extra: List[str]) -> None:
    """A SIGTERM that arrives while the server is busy answering (not
    waiting in a system call) still stops it: the compiled loop runs no
    bytecode, so nothing would run the Python-level handler unless the
    loop does (kt.server.net.run_signal_handlers)."""
    server = RunningServer(kind, "builtin", args=extra).start()
    proc = server.proc
    assert proc is not None
    keys = [b"key-%05d" % i for i in range(20000)]
    if kind == "kyoto":
        request = kb.encode_get_bulk(keys)
    else:
        request = tb.encode_mget(keys)
    stop = threading.Event()

    def hammer() -> None:
        # Requests sent back to back, replies never read: the server stays
        # busy until its send buffer fills, then blocks on nothing but us.
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                while not stop.is_set():
                    sock.sendall(request)
        except OSError:
            pass  # the server went away

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    try:
        threading.Event().wait(0.5)  # let it get busy
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, "the server did not stop on SIGTERM while busy"
    finally:
        stop.set()
        server.stop()
        thread.join(30)
