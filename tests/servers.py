"""Starting servers for tests: the built-in ones always, real ones when installed.

Who uses it: the fixtures of tests/conftest.py (``kt_server``, ``tt_server``,
``tt_hash_server``, ``tt_table_server``), the contract suite (its
``servers`` fixture is a ``ServerCache``) and tests that start a server of
their own.

How the suite finds real servers: the environment variables ``KT_KTSERVER``
and ``KT_TTSERVER`` name the executables; otherwise ``ktserver`` and
``ttserver`` are looked up on PATH.  ``KT_REAL_SERVERS=0`` disables them.
Tests parametrised with ``server_kinds()`` run once per available
implementation ("builtin", and "real" when found); ``KT_TEST_IMPLS=real``
or ``KT_TEST_IMPLS=builtin`` restricts them to one.

Starting, port choice (ktserver's port limit included), readiness and
stopping are kt.embedded's: ``RunningServer`` only adds a private working
directory with the server's log file in it.  Those directories are made
under one directory per test process, removed when the process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

from kt.embedded import EmbeddedServer, EmbeddedTokyoTyrantServer


_WORKDIRS: List[str] = []


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes from ``sock`` (fails if it closes first)."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data


def make_workdir(prefix: str = "kt-test-") -> str:
    """A fresh directory for one server, removed when the process exits."""
    if not _WORKDIRS:
        _WORKDIRS.append(tempfile.mkdtemp(prefix="kt-tests-"))
        atexit.register(shutil.rmtree, _WORKDIRS[0], True)
    return tempfile.mkdtemp(prefix=prefix, dir=_WORKDIRS[0])


def real_server_path(kind: str) -> Optional[str]:
    """Path of the real ktserver ("kyoto") or ttserver ("tyrant"), or None."""
    if os.environ.get("KT_REAL_SERVERS", "1") == "0":
        return None
    var, name = ("KT_KTSERVER", "ktserver") if kind == "kyoto" else ("KT_TTSERVER", "ttserver")
    path = os.environ.get(var) or shutil.which(name)
    if path and os.path.exists(path):
        return path
    return None


def server_kinds(kind: str) -> List[str]:
    """Implementations to test: "builtin", plus "real" when installed.

    ``KT_TEST_IMPLS=real`` (or ``builtin``) restricts the list.
    """
    kinds = ["builtin"]
    if real_server_path(kind) is not None:
        kinds.append("real")
    only = os.environ.get("KT_TEST_IMPLS")
    if only:
        kinds = [k for k in kinds if k in only.split(",")]
    return kinds


def server_arg(impl: str, kind: str) -> str:
    """The ``server`` argument of kt.embedded for an implementation."""
    if impl == "builtin":
        return "builtin"
    path = real_server_path(kind)
    assert path is not None, "no real %s server installed" % kind
    return path


class RunningServer:
    """A server process for one test module or test: kt.embedded's manager
    run in a fresh working directory, logging to ``server.log`` there."""

    def __init__(self, kind: str, impl: str, databases: Sequence[str] = ("*",),
                 args: Sequence[str] = (), workdir: Optional[str] = None) -> None:
        self.kind = kind
        self.impl = impl
        self.host = "127.0.0.1"
        self.workdir = workdir or make_workdir()
        self.databases = list(databases)
        self.args = list(args)
        log = os.path.join(self.workdir, "server.log")
        options = ["-log", log]
        if kind == "kyoto" and impl == "real":
            options.append("-ls")  # ktserver: log the "listening" line too
        manager = EmbeddedServer if kind == "kyoto" else EmbeddedTokyoTyrantServer
        self._manager: Union[EmbeddedServer, EmbeddedTokyoTyrantServer] = manager(
            server=server_arg(impl, kind), host=self.host, database=self.databases,
            server_args=options + self.args, cwd=self.workdir,
        )

    @property
    def port(self) -> int:
        port = self._manager.port
        return port if port is not None else 0

    @property
    def proc(self) -> "Optional[subprocess.Popen[bytes]]":
        """The server process while it runs (tests send it signals)."""
        return self._manager.process

    def start(self, port: Optional[int] = None) -> "RunningServer":
        """Start the server; ``port``, the one it had before it was stopped,
        starts it there again."""
        if port is not None:
            assert port == self._manager.port, "a server restarts on its own port"
            self._manager.restart()
        else:
            self._manager.run()
        return self

    def stop(self) -> None:
        self._manager.stop()

    def restart(self) -> None:
        """Stop and start again on the same port (persistence, reconnects)."""
        self._manager.restart()

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def scripted_server(kind: str, impl: str, python_source: str, lua_source: str,
                    databases: Sequence[str] = ("*",),
                    workdir: Optional[str] = None, lua: Optional[bool] = None) -> RunningServer:
    """A server (not started yet) that loads procedures: the built-in one
    from Python source (from Lua with ``lua=True``), a real one from Lua
    (``-scr`` for ktserver, ``-ext`` for ttserver); the script file is
    written to the server's directory."""
    workdir = workdir or make_workdir("kt-test-scr-")
    stem, option = ("procs", "-scr") if kind == "kyoto" else ("ext", "-ext")
    use_lua = impl != "builtin" if lua is None else lua
    name, source = (stem + ".lua", lua_source) if use_lua else (stem + ".py", python_source)
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(source)
    return RunningServer(kind, impl, databases=databases, args=[option, path], workdir=workdir)


class ServerCache:
    """Running servers keyed by (kind, impl, databases)."""

    def __init__(self) -> None:
        self._servers: Dict[Tuple[str, str, Tuple[str, ...]], RunningServer] = {}

    def get(self, kind: str, impl: str, databases: Sequence[str]) -> RunningServer:
        key = (kind, impl, tuple(databases))
        server = self._servers.get(key)
        if server is None:
            server = RunningServer(kind, impl, databases=databases).start()
            self._servers[key] = server
        return server

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


def scripted_fixture(kind: str, python_source: str, lua_source: str,
                     variants: Optional[Sequence[str]] = None) -> Any:
    """A module-scoped ``scripted`` fixture: a scripted_server() of ``kind``
    per variant, running for the whole module.  Variants are implementations
    (server_kinds() by default), "builtin+lua" for the built-in server
    running the Lua source."""

    @pytest.fixture(scope="module", params=list(variants or server_kinds(kind)))
    def scripted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[RunningServer]:
        workdir = str(tmp_path_factory.mktemp("scripted"))
        impl, _, flavour = request.param.partition("+")
        with scripted_server(kind, impl, python_source, lua_source, workdir=workdir,
                             lua=(flavour == "lua") or None) as server:
            yield server

    return scripted
