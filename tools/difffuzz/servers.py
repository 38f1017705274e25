"""Starting the two servers the fuzzer compares, from a spec string.

Specs (KIND is "kyoto" or "tyrant"):

  builtin            this interpreter's ``python -m kt.server KIND`` (the
                     installed kt: compiled in the mypyc build)
  builtin-pure       the same with PYTHONPATH set to this checkout, so the
                     pure sources of the checkout are imported
  python:PATH        ``PATH -m kt.server KIND`` with that interpreter
  real               ktserver / ttserver from KT_KTSERVER / KT_TTSERVER or PATH
  exec:PATH          a real server binary at PATH
  tcp:HOST:PORT      a server that is already running (never restarted;
                     between runs the fuzzer clears its databases)

Every started server runs in a fresh temporary directory (so file databases
and ``python -m`` never pick up the current directory).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KT_PORT_MAX = 32767  # ktserver 1.0.0 refuses ports above this


def real_path(kind: str) -> Optional[str]:
    var, name = ("KT_KTSERVER", "ktserver") if kind == "kyoto" else ("KT_TTSERVER", "ttserver")
    path = os.environ.get(var) or shutil.which(name)
    if path and os.path.exists(path):
        return path
    return None


def _bindable(port: int) -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def _free_port(maximum: int) -> int:
    """A port that was free a moment ago, between 20000 and ``maximum``."""
    import random

    found = next((p for p in random.sample(range(20000, maximum + 1), 500) if _bindable(p)), 0)
    if not found:
        raise RuntimeError("no free port")
    return found


class Server:
    """One server process (or a running server for ``tcp:``)."""

    def __init__(self, spec: str, kind: str, databases: Sequence[str]) -> None:
        self.spec = spec
        self.kind = kind
        self.databases = list(databases)
        self.host = "127.0.0.1"
        self.port = 0
        self.proc: Optional["subprocess.Popen[bytes]"] = None
        self.workdir = ""
        self.external = spec.startswith("tcp:")
        if self.external:
            host, port = spec[4:].rsplit(":", 1)
            self.host, self.port = host, int(port)

    @property
    def builtin(self) -> bool:
        return self.spec.startswith(("builtin", "python:"))

    def start(self) -> "Server":
        if self.external:
            return self
        self.workdir = tempfile.mkdtemp(prefix="kt-difffuzz-")
        log = os.path.join(self.workdir, "server.log")
        err = open(os.path.join(self.workdir, "server.stderr"), "ab")
        env = dict(os.environ)
        if self.builtin:
            python = sys.executable
            if self.spec.startswith("python:"):
                python = self.spec[len("python:"):]
            if self.spec == "builtin-pure":
                env["PYTHONPATH"] = ROOT
            cmd = [python, "-m", "kt.server", self.kind, "-host", self.host, "-port", "0",
                   "-log", log, *self.databases]
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=subprocess.PIPE,
                                         stderr=err)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().decode()
            if "listening on" not in line:
                raise RuntimeError("%s did not start: %r (see %s)" % (self.spec, line, self.workdir))
            self.port = int(line.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1])
        else:
            path = real_path(self.kind) if self.spec == "real" else self.spec[len("exec:"):]
            if path is None:
                raise RuntimeError("no real %s server installed" % self.kind)
            self.port = _free_port(KT_PORT_MAX if self.kind == "kyoto" else 60999)
            cmd = [path, "-host", self.host, "-port", str(self.port), "-log", log]
            if self.kind == "kyoto":
                cmd += ["-ls", *self.databases]
            else:
                cmd += self.databases[:1]
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env,
                                         stdout=subprocess.DEVNULL, stderr=err)
            self._wait()
        err.close()
        return self

    def _wait(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.spec, self.proc.returncode))
            try:
                with socket.create_connection((self.host, self.port), 0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("%s did not listen" % self.spec)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = ""

    def describe(self) -> str:
        return "%s (%s:%d)" % (self.spec, self.host, self.port)


def describe_specs(specs: List[str]) -> str:
    return " vs ".join(specs)
