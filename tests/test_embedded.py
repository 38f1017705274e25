"""EmbeddedServer / EmbeddedTokyoTyrantServer with the built-in servers (and
the real ones when installed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kt import (
    KT_JSON,
    EmbeddedServer,
    EmbeddedTokyoTyrantServer,
    ImproperlyConfigured,
    KyotoTycoon,
    ServerStartError,
    TokyoTyrant,
)
from servers import real_server_path, server_arg as _server_arg, server_kinds


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_kyoto_manager_lifecycle(impl: str) -> None:
    server = EmbeddedServer(server=_server_arg(impl, "kyoto"))
    assert server.run() is True
    assert server.run() is True  # harmless
    assert server.port is not None and server.running
    client = server.client
    assert isinstance(client, KyotoTycoon)
    assert client.set("k1", "v1") == 1
    assert client.get("k1") == "v1"
    assert server.stop() is True
    assert server.stop() is False
    assert not server.running


@pytest.mark.parametrize("impl", server_kinds("tyrant"))
def test_tyrant_manager_lifecycle(impl: str) -> None:
    with EmbeddedTokyoTyrantServer(server=_server_arg(impl, "tyrant")) as server:
        client = server.client
        assert isinstance(client, TokyoTyrant)
        assert client.set("k1", "v1") is True
        assert client.get("k1") == "v1"
    assert not server.running


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_databases_args_and_client_options(impl: str, tmp_path: Path) -> None:
    path = str(tmp_path / "data.kct")
    with EmbeddedServer(server=_server_arg(impl, "kyoto"), database=["*", path],
                        serializer=KT_JSON, server_args=["-tout", "20"]) as server:
        server.client.set("doc", {"a": 1}, db=1)
        assert server.client.get("doc", db=1) == {"a": 1}
        assert server.client.status(db=1)["path"].endswith("data.kct")
    assert os.path.exists(path)


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_failed_start_carries_server_message(impl: str) -> None:
    server = EmbeddedServer(server=_server_arg(impl, "kyoto"), database="/nonexistent/dir/x.kch")
    with pytest.raises(ServerStartError) as info:
        server.run()
    assert "/nonexistent/dir/x.kch" in str(info.value)
    assert not server.running


@pytest.mark.parametrize("impl", server_kinds("tyrant"))
def test_failed_tyrant_start(impl: str) -> None:
    server = EmbeddedTokyoTyrantServer(server=_server_arg(impl, "tyrant"),
                                       database="/nonexistent/dir/x.tch")
    with pytest.raises(ServerStartError):
        server.run()


def test_missing_executable_is_an_error() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        EmbeddedServer(server="/no/such/ktserver")
    assert "/no/such/ktserver" in str(info.value)


def test_default_falls_back_to_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    server = EmbeddedServer()
    assert server.builtin
    tt = EmbeddedTokyoTyrantServer()
    assert tt.builtin


def test_stop_after_the_server_died() -> None:
    server = EmbeddedServer(server="builtin")
    server.run()
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    time.sleep(0.3)
    assert server.stop() is False
    assert not server.running


def test_fixed_port_and_restart() -> None:
    first = EmbeddedServer(server="builtin")
    first.run()
    port = first.port
    first.stop()
    again = EmbeddedServer(server="builtin", port=port)
    assert again.run()
    assert again.port == port
    again.stop()


def test_no_process_left_at_interpreter_exit(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        from kt import EmbeddedServer, EmbeddedTokyoTyrantServer
        a = EmbeddedServer(server='builtin'); a.run()
        b = EmbeddedTokyoTyrantServer(server='builtin'); b.run()
        print(a.pid, b.pid, flush=True)
        # no stop(): the interpreter exits with both running
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    pids = [int(p) for p in out.stdout.split()]
    deadline = time.time() + 10
    for pid in pids:
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            # a zombie is reaped by init only; check its state
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().split()[2] == "Z":
                        break
            except OSError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("server %d still running after the interpreter exited" % pid)
