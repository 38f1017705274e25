"""Servers run as subprocesses: for development, tests and examples.

``EmbeddedServer`` runs a Kyoto Tycoon server, ``EmbeddedTokyoTyrantServer``
a Tokyo Tyrant one.  With the default ``server=None``, the real executable
(``ktserver`` / ``ttserver``) is used when it is on PATH, and kt's built-in
server (``python -m kt.server``, same interpreter) otherwise; the choice is
logged once.  ``server="builtin"`` forces the built-in one; any other value
names an executable, which must exist.

``run()`` returns True once the server accepts connections (it watches the
server's output for its "listening" line and the port, never a fixed
sleep) and raises ``ServerStartError`` carrying the server's own output if
it exits first.  ``stop()`` sends SIGTERM, waits, and kills after a
timeout; servers still running when the interpreter exits are stopped.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Deque, Dict, List, Optional, Sequence, TypeVar, Union

from kt.errors import ImproperlyConfigured, KyotoTycoonError
from kt.kyoto import KyotoTycoon
from kt.tyrant import TokyoTyrant

__all__ = ["EmbeddedServer", "EmbeddedTokyoTyrantServer", "ServerStartError"]

logger = logging.getLogger("kt.embedded")

#: ktserver 1.0.0 cannot listen above this port.
KT_MAX_PORT = 32767
_START_ATTEMPTS = 5
_announced: Dict[str, bool] = {}
_running: "weakref.WeakSet[_BaseServer]" = weakref.WeakSet()


_S = TypeVar("_S", bound="_BaseServer")


class ServerStartError(KyotoTycoonError):
    """The server process did not start; the message holds its output."""


def _stop_all_at_exit() -> None:
    for server in list(_running):
        try:
            server.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_stop_all_at_exit)


class _BaseServer:
    """A server run as a subprocess: what EmbeddedServer and
    EmbeddedTokyoTyrantServer share.

    EmbeddedServer documents the constructor's arguments in full.

    Args:
        server: None (the real executable if on PATH, else built-in),
            "builtin", or an executable.
        host: the listening address.
        port: the listening port (None: pick a free one).
        database: one database spec, or a list of them.
        server_args: extra command-line options.
        start_timeout: seconds ``run()`` waits for the server.
        stop_timeout: seconds ``stop()`` waits after SIGTERM.
        cwd: the server process's working directory.
        serializer: the client's serializer.
        quiet: keep the server's output off stderr.
        connection_pool: ignored (the client always pools).
        **client_options: more keyword arguments of the client.

    Raises:
        ImproperlyConfigured: ``server`` names an executable that cannot be
            found.
    """
    kind = ""
    executable = ""
    ready_marks: Sequence[str] = ()
    #: Output meaning "started, but unusable" (ttserver keeps running when it
    #: cannot open its database).
    fail_marks: Sequence[str] = ()
    port_max = 60999

    def __init__(
        self,
        server: Optional[str] = None,
        host: str = "127.0.0.1",
        port: Optional[int] = None,
        database: Union[str, Sequence[str]] = "*",
        server_args: Optional[Sequence[str]] = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        cwd: Optional[str] = None,
        serializer: Any = None,
        quiet: bool = True,
        connection_pool: Optional[bool] = None,
        **client_options: Any,
    ) -> None:
        # serializer, quiet and connection_pool: the original library's
        # keyword arguments (the client accepts connection_pool and always
        # pools its connections).
        if serializer is not None:
            client_options["serializer"] = serializer
        if connection_pool is not None:
            client_options["connection_pool"] = connection_pool
        self.quiet = quiet
        self.host = host
        self.port = port
        self._fixed_port = port is not None
        self.databases: List[str] = [database] if isinstance(database, str) else list(database)
        self.server_args: List[str] = list(server_args or [])
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        #: Working directory of the server process (relative database paths
        #: and logs land there); None: the current directory.
        self.cwd = cwd
        self.client_options = client_options
        self.command_prefix = self._resolve(server)
        self.builtin = self.command_prefix[0] == sys.executable and "kt.server" in self.command_prefix
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._output: Deque[str] = collections.deque(maxlen=200)
        self._ready = threading.Event()
        self._client: Any = None

    # -- choosing the executable ---------------------------------------------

    def _resolve(self, server: Optional[str]) -> List[str]:
        builtin = [sys.executable, "-m", "kt.server", self.kind]
        if server == "builtin":
            return builtin
        if server is None:
            path = shutil.which(self.executable)
            if path is not None:
                return [path]
            if not _announced.get(self.kind):
                _announced[self.kind] = True
                logger.info("%s is not installed: using kt's built-in %s server",
                            self.executable, self.kind)
            return builtin
        path = shutil.which(server)
        if path is None:
            raise ImproperlyConfigured(
                "server executable %r not found (give a path, a program on PATH, "
                "None for %s-or-built-in, or 'builtin')" % (server, self.executable))
        return [path]

    # -- lifecycle ----------------------------------------------------------------

    @property
    def pid(self) -> Optional[int]:
        """The server process's id, or None before run() and after stop()."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def process(self) -> "Optional[subprocess.Popen[bytes]]":
        """The server process while it runs (to send it signals), else None."""
        return self._proc

    def command(self, port: int) -> List[str]:
        """The command line that starts the server on ``port``.

        It follows the ktserver/ttserver conventions (``-host``, ``-port``, the
        ``server_args``, then the databases), which the built-in servers accept
        too.

        Args:
            port: the port to listen on.

        Returns:
            The command as a list of str, the executable first.

        Raises:
            ImproperlyConfigured: a Tokyo Tyrant server was given other than
                exactly one database.
        """
        return [*self.command_prefix, "-host", self.host, "-port", str(port),
                *self.server_args, *self._database_args()]

    def _database_args(self) -> List[str]:
        return self.databases

    def _pick_port(self) -> int:
        maximum = KT_MAX_PORT if (self.kind == "kyoto" and not self.builtin) else self.port_max
        for _ in range(100):
            port = random.randint(20000, maximum)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((self.host, port))
                except OSError:
                    continue
                return port
        raise ServerStartError("no free port found on %s" % self.host)

    def run(self) -> bool:
        """Start the server and wait until it accepts connections.

        Readiness is read from the server's output (its "listening" line) and
        a connection to the port, never a fixed sleep.  Without a fixed
        ``port`` a free one is picked, and another tried (up to 5 in all) when
        the server finds it taken.  Calling ``run()`` while the server runs does
        nothing.

        Returns:
            True once the server accepts connections.

        Raises:
            ServerStartError: the server could not be run, exited or reported a
                failure before serving, or did not accept connections within
                ``start_timeout`` (the message holds its output); or no free port
                was found.
            ImproperlyConfigured: a Tokyo Tyrant server was given other than
                exactly one database.
        """
        if self.running:
            return True
        attempts = 1 if self._fixed_port else _START_ATTEMPTS
        last: Optional[ServerStartError] = None
        for _ in range(attempts):
            port = self.port if self._fixed_port else self._pick_port()
            assert port is not None
            try:
                self._start(port)
            except ServerStartError as exc:
                last = exc
                if "in use" not in str(exc).lower() and "ttopenservsock" not in str(exc) \
                        and "not opened" not in str(exc):
                    raise
                continue
            self.port = port
            _running.add(self)
            return True
        assert last is not None
        raise last

    def _start(self, port: int) -> None:
        self._output.clear()
        self._ready.clear()
        cmd = self.command(port)
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.cwd)
        except OSError as exc:
            raise ServerStartError("cannot run %s: %s" % (cmd[0], exc)) from exc
        self._proc = proc
        reader = threading.Thread(target=self._drain, args=(proc,), daemon=True,
                                  name="kt-embedded-output")
        reader.start()
        deadline = time.monotonic() + self.start_timeout
        watch_output = self.ready_marks_seen_possible()
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                reader.join(2)
                self._proc = None
                raise ServerStartError("%s exited with status %s before serving:\n%s"
                                       % (" ".join(cmd), proc.returncode, self.output))
            if watch_output:
                if not self._ready.wait(0.02):
                    continue
            else:
                time.sleep(0.02)
            # the ready line (or a listening port): make sure it is ours
            if self._accepts(port) and proc.poll() is None:
                failed = [m for m in self.fail_marks if m in self.output]
                if failed:
                    self._kill(proc)
                    reader.join(2)
                    self._proc = None
                    raise ServerStartError("%s started but reported %r:\n%s"
                                           % (" ".join(cmd), failed[0], self.output))
                return
        self._kill(proc)
        self._proc = None
        raise ServerStartError("%s did not accept connections within %.0f s:\n%s"
                               % (" ".join(cmd), self.start_timeout, self.output))

    def ready_marks_seen_possible(self) -> bool:
        """Whether the server's output can show its ready line.

        Returns:
            False when a ``-log`` option in ``server_args`` sends the server's
            log to a file (``run()`` then polls the port), else True.
        """
        return "-log" not in self.server_args

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), 0.5):
                return True
        except OSError:
            return False

    def _drain(self, proc: "subprocess.Popen[bytes]") -> None:
        stream = proc.stdout
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self._output.append(line)
            if not self.quiet:
                sys.stderr.write(line + "\n")
            if not self._ready.is_set() and any(mark in line for mark in self.ready_marks):
                self._ready.set()
        stream.close()

    @property
    def output(self) -> str:
        """The last lines the server printed."""
        return "\n".join(self._output)

    def stop(self) -> bool:
        """Stop the server: SIGTERM, then SIGKILL after ``stop_timeout``.

        The client made by ``client`` has its connections closed first.

        Returns:
            True if a running server was stopped, False if none was running.
        """
        proc = self._proc
        self._proc = None
        _running.discard(self)
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
        if proc is None:
            return False
        if proc.poll() is not None:
            proc.wait()
            return False
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
        return True

    def restart(self) -> bool:
        """Stop the server and start it again on the same port.

        File databases keep their records; clients reconnect on their next
        request.  A server never run is simply started.

        Returns:
            True once the server accepts connections again.

        Raises:
            ServerStartError: the server did not start again (see ``run()``).
            ImproperlyConfigured: a Tokyo Tyrant server was given other than
                exactly one database.
        """
        port = self.port
        self.stop()
        if port is None:
            return self.run()
        self._start(port)
        _running.add(self)
        return True

    @staticmethod
    def _kill(proc: "subprocess.Popen[bytes]") -> None:
        try:
            proc.kill()
        except OSError:
            pass
        proc.wait()

    def _bound_client(self, make: Any) -> Any:
        """The client of this server (made on first use by ``make(host,
        port, **client_options)``)."""
        if self._client is None:
            if self.port is None:
                raise ServerStartError("run() the server before asking for its client")
            self._client = make(self.host, self.port, **self.client_options)
        return self._client

    def __enter__(self: _S) -> _S:
        self.run()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        # A finalizer may run in any thread, during garbage collection: no
        # client calls (their pools take locks), no waiting; just ask the
        # process to end (Popen reaps it later).
        proc = getattr(self, "_proc", None)
        if proc is not None:
            self._proc = None
            try:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            except Exception:  # pragma: no cover - never raise from a finalizer
                pass

    def __repr__(self) -> str:
        state = "running pid=%d" % self.pid if self.running and self.pid else "stopped"
        return "<%s %s:%s %s%s>" % (type(self).__name__, self.host, self.port, state,
                                     " (built-in)" if self.builtin else "")


class EmbeddedServer(_BaseServer):
    """A Kyoto Tycoon server in a subprocess.

    ``run()`` starts it (or use the server as a context manager), ``client``
    gives a KyotoTycoon client bound to it and ``stop()`` ends it; servers
    still running when the interpreter exits are stopped.

    Args:
        server: None (ktserver if installed, else the built-in server),
            "builtin", or the ktserver executable to run.
        host: address to listen on.
        port: port (None: a free one is picked, at most 32767 for ktserver).
        database: database spec, or a list of them ("*", "%", "x.kct"...).
        server_args: more command-line options for the server.
        start_timeout: seconds to wait for the server to accept connections.
        stop_timeout: seconds to wait for the server to exit after SIGTERM.
        cwd: working directory of the server process (None: the current one).
        serializer: the client's serializer (the original library's
            argument; the same as passing it in ``client_options``).
        quiet: True (the default): the server's output is only kept for
            ``output`` and errors; False: it is also copied to stderr.
        connection_pool: accepted for code written for the original
            library; the client always keeps a pool of connections.
        **client_options: keyword arguments for ``client`` (timeout...).

    Raises:
        ImproperlyConfigured: ``server`` names an executable that is not
            found.
    """

    kind = "kyoto"
    executable = "ktserver"
    ready_marks = ("listening server socket started", "listening on")

    @property
    def client(self) -> KyotoTycoon:
        """A KyotoTycoon client bound to this server."""
        client: KyotoTycoon = self._bound_client(KyotoTycoon)
        return client


class EmbeddedTokyoTyrantServer(_BaseServer):
    """A Tokyo Tyrant server in a subprocess.

    It takes the parameters of EmbeddedServer, with ttserver in place of
    ktserver, and serves exactly one database (a list of more makes
    ``run()`` raise ImproperlyConfigured); ``client`` gives a TokyoTyrant
    client bound to it.
    """

    kind = "tyrant"
    executable = "ttserver"
    ready_marks = ("service started", "listening on")
    fail_marks = ("tcadbopen failed",)

    def _database_args(self) -> List[str]:
        if len(self.databases) != 1:
            raise ImproperlyConfigured("Tokyo Tyrant serves exactly one database, not %d"
                                       % len(self.databases))
        return self.databases

    @property
    def client(self) -> TokyoTyrant:
        """A TokyoTyrant client bound to this server."""
        client: TokyoTyrant = self._bound_client(TokyoTyrant)
        return client
