"""Starting servers for tests: the built-in ones always, real ones when installed.

How the suite finds real servers: the environment variables ``KT_KTSERVER``
and ``KT_TTSERVER`` name the executables; otherwise ``ktserver`` and
``ttserver`` are looked up on PATH.  ``KT_REAL_SERVERS=0`` disables them.
Tests parametrised with ``server_kinds()`` run once per available
implementation ("builtin", and "real" when found); ``KT_TEST_IMPLS=real``
or ``KT_TEST_IMPLS=builtin`` restricts them to one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import IO, List, Optional, Sequence

ROOT_ENV = dict(os.environ)

KT_PORT_MAX = 32767  # ktserver 1.0.0 refuses ports above this


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


def free_port(maximum: int = 60999) -> int:
    """A port that was free a moment ago (between 20000 and ``maximum``)."""
    import random

    for _ in range(200):
        port = random.randint(20000, maximum)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s: %s" % (proc.returncode, _stderr(proc)))
        try:
            with socket.create_connection((host, port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("server did not listen on %s:%d within %ss" % (host, port, timeout))


def _stderr(proc: subprocess.Popen) -> str:
    """What the server wrote to stderr (kept in a file, so that a server
    that writes a lot never blocks on a full pipe)."""
    try:
        proc.wait(timeout=2)
    except Exception:
        pass
    path = getattr(proc, "kt_stderr_path", None)
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()[-4000:]
    except OSError:
        return ""


class RunningServer:
    """A server process for one test module or test."""

    def __init__(self, kind: str, impl: str, databases: Sequence[str] = ("*",),
                 args: Sequence[str] = (), workdir: Optional[str] = None) -> None:
        self.kind = kind
        self.impl = impl
        self.host = "127.0.0.1"
        self.workdir = workdir or tempfile.mkdtemp(prefix="kt-test-")
        self.databases = list(databases)
        self.args = list(args)
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def _stderr_file(self) -> "IO[bytes]":
        self._stderr_path = os.path.join(self.workdir, "server.stderr")
        return open(self._stderr_path, "ab")

    def start(self, port: Optional[int] = None) -> "RunningServer":
        log = os.path.join(self.workdir, "server.log")
        if self.impl == "builtin":
            cmd = [sys.executable, "-m", "kt.server", self.kind, "-host", self.host,
                   "-port", str(port or 0), "-log", log,
                   *self.args, *self.databases]
            with self._stderr_file() as err:
                self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.PIPE,
                                             stderr=err)
            self.proc.kt_stderr_path = self._stderr_path  # type: ignore[attr-defined]
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().decode()
            if "listening on" not in line:
                raise RuntimeError("built-in server failed to start: %r %s" % (line, _stderr(self.proc)))
            self.port = int(line.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1])
        else:
            path = real_server_path(self.kind)
            assert path is not None
            maximum = KT_PORT_MAX if self.kind == "kyoto" else 60999
            self.port = port or free_port(maximum)
            if self.kind == "kyoto":
                cmd = [path, "-host", self.host, "-port", str(self.port), "-log", log, "-ls",
                       *self.args, *self.databases]
            else:
                cmd = [path, "-host", self.host, "-port", str(self.port), "-log", log,
                       *self.args, *self.databases[:1]]
            with self._stderr_file() as err:
                self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdout=subprocess.DEVNULL,
                                             stderr=err)
            self.proc.kt_stderr_path = self._stderr_path  # type: ignore[attr-defined]
            wait_for_port(self.host, self.port, self.proc)
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        self.proc = None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def restart(self) -> None:
        """Stop and start again on the same port (persistence, reconnects)."""
        port = self.port
        self.stop()
        self.start(port)

    def __enter__(self) -> "RunningServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
