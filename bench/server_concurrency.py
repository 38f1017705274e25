"""Built-in servers under concurrency: 1, 8 and 32 connections doing get,
set and get_bulk 100 (Tokyo Tyrant: get, put, mget 100), against the
built-in server of each build (event loop, and the compiled build's
``-threaded`` fallback) and the real server, in one run.

    python bench/server_concurrency.py               # kyoto and tyrant, 3 rounds
    python bench/server_concurrency.py kyoto         # one protocol
    python bench/server_concurrency.py --quick       # 2 rounds, shorter figures
    python bench/server_concurrency.py --rounds 5 --seconds 2
    python bench/server_concurrency.py --pin         # server on CPU 0, load on CPU 1
    python bench/server_concurrency.py --floor       # also the event loop's floor

The contenders run one after the other, in the same order every round;
each throughput figure is the best of the rounds (other processes on the
machine only ever slow a contender down).  Two tables per protocol:
requests per second, and the server process's CPU time per request (user
+ system, from /proc; the least of the rounds), which other load on the
machine disturbs much less.  Both show each built-in contender's ratio to
the real server (ktserver 1.0.0 / ttserver 1.1.41, found on PATH).

``--pin`` (with ``taskset`` and two CPUs): every server runs on CPU 0 and
the load processes on CPU 1.  On a machine shared with other work this
favours servers with many threads (the scheduler shares a CPU between
threads, not processes), so it is not the default.  The load is raw
sockets and pre-encoded requests, one process per connection
(bench/_load.py).

``--floor`` adds a contender that answers the single-record workloads
(get and set, or get and put, with one connection) from the compiled
build's event loop with a session that does no work (bench/_floor_server.py:
canned replies, no parser, no database).  It is what the loop alone costs,
so the built-in servers can at best match it: where it is no faster than
the real server, neither can they be by much.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))

import server_kyoto  # noqa: E402
import server_tyrant  # noqa: E402
from _load import builtin_servers, free_port, rate, start_server, stop_server  # noqa: E402

CONNS = (1, 8, 32)
KT_PORT_MAX = 32767  # ktserver refuses ports above this

#: (label, command line, environment, real server?, floor server?)
Contender = Tuple[str, List[str], Dict[str, str], bool, bool]
FLOOR = "loop floor"


def _arg(name: str, default: float) -> float:
    if name in sys.argv:
        return float(sys.argv[sys.argv.index(name) + 1])
    return default


class _Timed:
    """A ``measure`` for the workload functions: ``rate`` that also reads
    the server process's CPU time around each figure."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu: List[float] = []  # server CPU microseconds per request, in call order

    def _cpu_seconds(self) -> float:
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __call__(self, port: int, requests: List[bytes], sizes: Union[int, List[int]],
                 conns: int, seconds: float) -> float:
        before = self._cpu_seconds()
        start = time.perf_counter()
        per_second = rate(port, requests, sizes, conns, seconds)
        elapsed = time.perf_counter() - start
        self.cpu.append((self._cpu_seconds() - before) * 1e6 / max(1.0, per_second * elapsed))
        return per_second


def _contenders(kind: str, pin: List[str]) -> List[Contender]:
    """(label, command, environment, real) of every server to measure."""
    extra = ["-lz", "*"] if kind == "kyoto" else ["-le", "*"]
    found: List[Contender] = []
    for build, cmd, env in builtin_servers(kind, []):
        found.append(("built-in " + build, pin + cmd + extra, env, False, False))
        if build == "compiled":
            found.append(("threaded compiled", pin + cmd + ["-threaded"] + extra, env,
                          False, False))
            if "--floor" in sys.argv:
                floor = [cmd[0], str(Path(__file__).resolve().parent / "_floor_server.py"), kind]
                found.append((FLOOR, pin + floor, env, False, True))
    real = shutil.which("ktserver" if kind == "kyoto" else "ttserver")
    if real and "--no-real" not in sys.argv:
        found.append((os.path.basename(real), pin + [real], dict(os.environ), True, False))
    return found


def _floor_workloads(kind: str, port: int, seconds: float, measure: "_Timed") -> Dict[str, float]:
    """The single-record workloads with one connection, as the workload
    functions name them (all the floor server answers)."""
    if kind == "kyoto":
        (gets, get_size), (sets, set_size) = server_kyoto.single_record_requests()
        return {"get x1": measure(port, gets, get_size, 1, seconds),
                "set x1": measure(port, sets, set_size, 1, seconds)}
    (gets, get_size), (puts, put_size) = server_tyrant.single_record_requests()
    return {"get x1": measure(port, gets, get_size, 1, seconds),
            "put x1": measure(port, puts, put_size, 1, seconds)}


def _measure(kind: str, contender: Contender,
             seconds: float) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Requests per second and server CPU microseconds per request, by workload."""
    label, cmd, env, real, floor = contender
    print("  %s..." % label, file=sys.stderr, flush=True)
    port: Optional[int] = None
    if real:
        port = free_port(KT_PORT_MAX)
        cmd = cmd + ["-host", "127.0.0.1", "-port", str(port)]
        cmd += ["-lz", "*"] if kind == "kyoto" else ["-le", "*"]
    workdir = tempfile.mkdtemp(prefix="kt-bench-conc-")
    try:
        proc, port = start_server(cmd, env, port, workdir)
        try:
            timed = _Timed(proc.pid)
            if floor:
                rates = _floor_workloads(kind, port, seconds, timed)
            elif kind == "kyoto":
                rates = server_kyoto.workloads(port, seconds, CONNS, timed)
            else:
                rates = server_tyrant.kv_workloads(port, seconds, CONNS, timed)
        finally:
            stop_server(proc)
        return rates, dict(zip(rates, timed.cpu))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _table(title: str, best: Dict[str, Dict[str, float]], real: Optional[str],
           fmt: str, inverse: bool) -> None:
    """One table: a column per contender, then each built-in contender's
    ratio to ``real`` (``inverse``: real / contender, for costs)."""
    labels = list(best)
    print("\n" + title)
    ratio_labels = [label for label in labels if real and label != real]
    header = "%-18s" % "workload" + "".join("%20s" % label for label in labels)
    header += "".join("%14s" % ("%s/%s" % (label.replace("built-in ", "").replace(
        "threaded compiled", "threaded"), (real or "")[:2])) for label in ratio_labels)
    print(header)
    for row in best[labels[0]]:
        # ("-": a workload the contender does not run, the floor's)
        line = "%-18s" % row + "".join(fmt % best[label][row] if row in best[label]
                                       else "%20s" % "-" for label in labels)
        if real:
            for label in ratio_labels:
                if row not in best[label]:
                    line += "%14s" % "-"
                    continue
                mine, ref = best[label][row], best[real].get(row, 0.0)
                if inverse:
                    mine, ref = ref, mine
                line += "%14.2f" % (mine / ref if ref else 0.0)
        print(line)


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = int(_arg("--rounds", 2 if quick else 3))
    seconds = _arg("--seconds", 0.5 if quick else 1.0)
    kinds = [k for k in ("kyoto", "tyrant") if k in sys.argv] or ["kyoto", "tyrant"]
    pin: List[str] = []
    if ("--pin" in sys.argv and shutil.which("taskset")
            and len(os.sched_getaffinity(0)) >= 2):
        pin = ["taskset", "-c", "0"]
        os.sched_setaffinity(0, {1})  # this process and the load processes it forks
    print("pinning: %s" % ("server on CPU 0, load on CPU 1" if pin else "none"))
    for kind in kinds:
        contenders = _contenders(kind, pin)
        best: Dict[str, Dict[str, float]] = {c[0]: {} for c in contenders}
        cpu: Dict[str, Dict[str, float]] = {c[0]: {} for c in contenders}
        for r in range(rounds):
            print("%s round %d/%d" % (kind, r + 1, rounds), file=sys.stderr, flush=True)
            for contender in contenders:
                rates, costs = _measure(kind, contender, seconds)
                keep = best[contender[0]]
                for row, value in rates.items():
                    keep[row] = max(keep.get(row, 0.0), value)
                low = cpu[contender[0]]
                for row, value in costs.items():
                    low[row] = min(low.get(row, value), value)
        real = next((c[0] for c in contenders if c[3]), None)
        against = "; ratios to %s" % real if real else ""
        _table("%s: requests/s, best of %d rounds%s" % (kind, rounds, against),
               best, real, "%20.0f", False)
        _table("%s: server CPU microseconds per request, least of %d rounds%s (ratio > 1: "
               "the built-in server spends less)" % (kind, rounds, against),
               cpu, real, "%20.1f", True)


if __name__ == "__main__":
    main()
