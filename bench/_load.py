"""Load generation and server processes shared by the server benchmarks.

The load is raw sockets sending pre-encoded requests and reading exactly
the known reply size, one process per connection, so that what is measured
is the server, not a client library.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from kt.protocol.buffer import ReceiveBuffer


def recv_exact(sock: socket.socket, view: memoryview, n: int) -> None:
    got = 0
    while got < n:
        k = sock.recv_into(view[got:n])
        if k == 0:
            raise ConnectionError("server closed the connection")
        got += k


def load(args: Tuple[int, List[bytes], List[int], float]) -> int:
    """Send ``requests`` in a loop for ``seconds`` over one connection (reply
    i has ``sizes[i]`` bytes); return how many completed."""
    port, requests, sizes, seconds = args
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    view = memoryview(bytearray(max(sizes) + 16))
    n = len(requests)
    done = 0
    i = 0
    sendall = sock.sendall
    deadline = time.perf_counter() + seconds
    while True:
        for _ in range(64):
            sendall(requests[i])
            recv_exact(sock, view, sizes[i])
            i += 1
            if i == n:
                i = 0
        done += 64
        if time.perf_counter() >= deadline:
            break
    sock.close()
    return done


#: The signature of ``rate`` (benchmarks take another measuring function of it).
Rate = Callable[[int, List[bytes], Union[int, List[int]], int, float], float]


def rate(port: int, requests: List[bytes], sizes: Union[int, List[int]], conns: int,
         seconds: float) -> float:
    """Requests per second with ``conns`` connections (one process each)."""
    size_list = [sizes] * len(requests) if isinstance(sizes, int) else sizes
    if conns == 1:
        t0 = time.perf_counter()
        done = load((port, requests, size_list, seconds))
        return done / (time.perf_counter() - t0)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(conns) as pool:
        t0 = time.perf_counter()
        counts = pool.map(load, [(port, requests, size_list, seconds)] * conns)
        elapsed = time.perf_counter() - t0
    return sum(counts) / elapsed


def call(sock: socket.socket, request: bytes, parse: object) -> object:
    """One request, its reply parsed with a kt.protocol parse function."""
    buf = ReceiveBuffer()
    sock.sendall(request)
    while True:
        result = parse(buf)  # type: ignore[operator]
        if result is not None:
            return result
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf.feed(chunk)


def free_port(maximum: int = 60999) -> int:
    for _ in range(100):
        port = random.randint(20000, maximum)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port")


def start_server(cmd: List[str], env: Dict[str, str], port: Optional[int],
                 workdir: str) -> Tuple["subprocess.Popen[bytes]", int]:
    """Start a server; ``port`` None means a built-in server on -port 0
    (its ready line gives the port), else wait for ``port`` to accept."""
    proc = subprocess.Popen(cmd, env=env, cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    if port is None:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if "listening on" not in line:
            raise SystemExit("the server did not start: %r" % line)
        return proc, int(line.split("listening on", 1)[1].split()[0].rsplit(":", 1)[1])
    for _ in range(250):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    raise SystemExit("the server did not listen on %d" % port)


def stop_server(proc: "subprocess.Popen[bytes]") -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_on_server(cmd: List[str], env: Dict[str, str], port: Optional[int], workdir: str,
                  workload: Callable[[int, float], Dict[str, float]],
                  seconds: float) -> Dict[str, float]:
    """Start a server (see start_server), run ``workload(port, seconds)``
    against it and stop it."""
    proc, port = start_server(cmd, env, port, workdir)
    try:
        return workload(port, seconds)
    finally:
        stop_server(proc)


def builtin_servers(kind: str, extra: List[str]) -> Iterator[Tuple[str, List[str], Dict[str, str]]]:
    """(build, command line, environment) of the built-in ``kind`` server
    of each build (bench/_builds.py), listening on a free port."""
    from _builds import builds, python_for

    for build, path in builds():
        env = dict(os.environ, PYTHONPATH=str(path), KT_BENCH_BUILD=build)
        cmd = [python_for(build), "-m", "kt.server", kind, "-host", "127.0.0.1", "-port", "0"]
        print("measuring the built-in server (%s build)..." % build, file=sys.stderr, flush=True)
        yield build, cmd + extra, env


def print_table(columns: List[Tuple[str, Dict[str, float]]], real: Optional[str],
                ratio_label: str) -> None:
    """Print requests/s per workload (rows) and server (columns); with the
    real server's column label ``real``, add the compiled build's ratio to
    it.  The raw figures go to stderr as JSON."""
    names = list(columns[0][1])
    width = max(len(n) for n in names) + 2
    header = "%-*s" % (width, "requests/s") + "".join("%20s" % label for label, _ in columns)
    if real:
        header += "%16s" % ratio_label
    print(header)
    for name in names:
        row = "%-*s" % (width, name) + "".join("%20.0f" % res.get(name, 0.0) for _, res in columns)
        if real:
            compiled = dict(columns)["built-in compiled"].get(name, 0.0)
            ref = dict(columns)[real].get(name, 0.0)
            row += "%16.2f" % (compiled / ref if ref else 0.0)
        print(row)
    print(json.dumps({label: res for label, res in columns}), file=sys.stderr)


def keep_best_figures(name: str, argv: List[str], env: Dict[str, str],
               figures: Dict[str, Dict[str, float]]) -> None:
    """Run one benchmark worker process (``argv``; its last stdout line is
    a JSON object of figures) and keep, per row, the best figure of
    ``name`` in ``figures``: the highest, or the lowest for "mem" rows."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print("%s failed:\n%s" % (name, proc.stderr))
        return
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    best = figures.setdefault(name, {})
    for row, value in result.items():
        if row.startswith("mem"):
            best[row] = min(best.get(row, value), value)
        else:
            best[row] = max(best.get(row, 0.0), value)


def ops_per_second(fn: Callable[[int], object], min_time: float) -> float:
    """Operations per second: ``fn(i)`` is one operation, run for
    ``min_time`` seconds."""
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + min_time
    while True:
        for _ in range(50):
            fn(n)
            n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - t0)


class RawFloor:
    """The raw-socket floor of the client benchmarks: pre-encoded requests
    over one socket, reading exactly the known reply size (no parsing)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, request: bytes, reply_size: int) -> None:
        self.sock.sendall(request)
        got = 0
        recv = self.sock.recv
        while got < reply_size:
            chunk = recv(max(65536, reply_size))
            if not chunk:
                raise ConnectionError("closed")
            got += len(chunk)

    def reply_size(self, request: bytes) -> int:
        """Send ``request`` once and count the bytes of its reply."""
        self.sock.sendall(request)
        time.sleep(0.05)
        data = self.sock.recv(1 << 24)
        time.sleep(0.05)
        self.sock.setblocking(False)
        try:
            while True:
                more = self.sock.recv(1 << 24)
                if not more:
                    break
                data += more
        except BlockingIOError:
            pass
        self.sock.setblocking(True)
        return len(data)
