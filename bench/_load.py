"""Load generation and server processes shared by the server benchmarks,
and the raw floor, interleaving and CPU pinning of the client benchmarks.

The server benchmarks' load is raw sockets sending pre-encoded requests and
reading exactly the known reply size, one process per connection, so that
what is measured is the server, not a client library.  The client
benchmarks (client_kyoto.py, client_tyrant.py) compare a client with
RawFloor, which also splits each reply into its records, as a client must.
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
import statistics
import struct
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

from kt.protocol.buffer import ReceiveBuffer

_HEAD = struct.Struct(">BI")  # KT magic or TT status, count
_SIZES = struct.Struct(">II")  # ksiz, vsiz
_U32 = struct.Struct(">I")

#: CPUs of the pinned server and of the pinned benchmark client
SERVER_CPU = 0
CLIENT_CPU = 1


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


def run_builds(script: str, args: List[str], wanted: str) -> Dict[str, Dict[str, object]]:
    """Run ``script --worker ARGS`` once per build (bench/_builds.py; only
    the comma-separated ``wanted`` ones when given); the JSON object each
    prints last, per build."""
    from _builds import builds, python_for

    results: Dict[str, Dict[str, object]] = {}
    for name, path in builds():
        if wanted and name not in wanted.split(","):
            continue
        env = dict(os.environ, PYTHONPATH=str(path), KT_BENCH_BUILD=name)
        proc = subprocess.run([python_for(name), script, "--worker", *args],
                              env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print("%s failed:\n%s" % (name, proc.stderr))
            continue
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


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


def can_pin() -> bool:
    """Whether there are two CPUs to pin the server and the client to."""
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2 \
        and os.environ.get("KT_BENCH_PIN", "1") != "0"


def pin_server(pid: Optional[int]) -> None:
    """Pin every thread of the server process ``pid`` to SERVER_CPU."""
    if pid is None or not can_pin():
        return
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), {SERVER_CPU})
        except OSError:
            pass


def pin_client() -> None:
    """Pin this (worker) process to CLIENT_CPU; call before starting threads."""
    if can_pin():
        os.sched_setaffinity(0, {CLIENT_CPU})


def batch_size(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds`` (timed by doubling
    runs until one takes a quarter of that)."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= seconds / 4 or n >= 1 << 20:
            return max(1, int(n * seconds / max(dt, 1e-9)))
        n *= 2


def interleave(contenders: Dict[str, Callable[[], object]], rounds: int,
               batch_time: float) -> Dict[str, List[float]]:
    """Rates (ops/s) of each contender over ``rounds`` rounds: in every
    round each contender runs one batch of about ``batch_time`` seconds, in
    a rotating order, so that a change of the machine's load hits all of
    them alike.  Returns the per-round rates of each contender."""
    names = list(contenders)
    # warm up and size the batches
    sizes = {name: batch_size(contenders[name], batch_time) for name in names}
    rates: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn = contenders[name]
            n = sizes[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            rates[name].append(n / (time.perf_counter() - t0))
    return rates


def paired_ratio(rates: Dict[str, List[float]], a: str, b: str) -> float:
    """The median over rounds of a's rate / b's rate in the same round."""
    return statistics.median(x / y for x, y in zip(rates[a], rates[b]))


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
    over one socket, with the least work a client must do on the reply:
    read it as it arrives (no known size), check its header, and split it
    into its records, returned as bytes (a dict for bulk replies).  No
    argument checking, no encoding, no pool, no error recovery."""

    #: bytes asked of each recv() (a client cannot know the reply's size)
    RECV: int = 65536

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _more(self, data: bytes, pos: int, need: int) -> bytes:
        """``data[pos:]`` extended by received bytes to at least ``need``."""
        data = data[pos:]
        recv = self.sock.recv
        while len(data) < need:
            chunk = recv(self.RECV)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def _reply(self, request: bytes, need: int) -> bytes:
        """Send ``request``; the start of its reply, at least ``need`` bytes."""
        self.sock.sendall(request)
        data = self.sock.recv(self.RECV)
        return data if len(data) >= need else self._more(data, 0, need)

    def _pairs(self, data: bytes, count: int, head: int, at: int) -> Dict[bytes, bytes]:
        """{key: value} of ``count`` records from ``data[5:]`` on, each a
        ``head``-byte header with ksiz and vsiz (u32) at ``at``, the key and
        the value."""
        out: Dict[bytes, bytes] = {}
        unpack = _SIZES.unpack_from
        pos = 5
        for _ in range(count):
            if len(data) < pos + head:
                data = self._more(data, pos, head)
                pos = 0
            ksiz, vsiz = unpack(data, pos + at)
            end = pos + head + ksiz + vsiz
            if len(data) < end:
                data = self._more(data, pos, end - pos)
                end -= pos
                pos = 0
            out[data[pos + head:end - vsiz]] = data[end - vsiz:end]
            pos = end
        return out

    def kt_count(self, request: bytes) -> int:
        """KT set_bulk / remove_bulk: ``[magic][count u32]``."""
        magic, count = _HEAD.unpack_from(self._reply(request, 5))
        if magic == 0xBF:
            raise RuntimeError("server error")
        return count

    def kt_records(self, request: bytes) -> Dict[bytes, bytes]:
        """KT get_bulk: ``[magic][count]`` + count x ``[db][ksiz][vsiz][xt][key][value]``."""
        data = self._reply(request, 5)
        magic, count = _HEAD.unpack_from(data)
        if magic == 0xBF:
            raise RuntimeError("server error")
        return self._pairs(data, count, 18, 2)

    def tt_status(self, request: bytes) -> int:
        """TT put / out: the status byte."""
        return self._reply(request, 1)[0]

    def tt_value(self, request: bytes) -> Optional[bytes]:
        """TT get: ``[status]`` or ``[0][size u32][value]``."""
        data = self._reply(request, 1)
        if data[0]:
            return None
        if len(data) < 5:
            data = self._more(data, 0, 5)
        end = 5 + _U32.unpack_from(data, 1)[0]
        if len(data) < end:
            data = self._more(data, 0, end)
        return data[5:end]

    def tt_records(self, request: bytes) -> Dict[bytes, bytes]:
        """TT mget: ``[status][count u32]`` + count x ``[ksiz][vsiz][key][value]``."""
        data = self._reply(request, 5)
        status, count = _HEAD.unpack_from(data)
        if status:
            raise RuntimeError("server error")
        return self._pairs(data, count, 8, 0)

    def tt_list(self, request: bytes) -> List[bytes]:
        """TT misc (putlist, outlist, search): ``[status][count u32]`` +
        count x ``[size u32][item]``."""
        data = self._reply(request, 5)
        status, count = _HEAD.unpack_from(data)
        if status:
            raise RuntimeError("server error")
        out: List[bytes] = []
        unpack = _U32.unpack_from
        pos = 5
        for _ in range(count):
            if len(data) < pos + 4:
                data = self._more(data, pos, 4)
                pos = 0
            end = pos + 4 + unpack(data, pos)[0]
            if len(data) < end:
                data = self._more(data, pos, end - pos)
                end -= pos
                pos = 0
            out.append(data[pos + 4:end])
            pos = end
        return out
