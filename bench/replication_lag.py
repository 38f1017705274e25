"""Replication lag: a write on a master until it is visible on its slave,
built-in master/slave pair against a ktserver pair, in one run.

    python bench/replication_lag.py             # 300 writes per pair, 3 rounds
    python bench/replication_lag.py --writes 100 --rounds 1
    python bench/replication_lag.py --no-real   # the built-in pair only

Each pair is a master with ``-ulog DIR -sid 1`` and a slave with
``-sid 2 -mhost -mport -rts``, both serving a cache hash database ``*``
without logging (-lz; ktserver -ls, system messages only).  A write is one set on the master (the client
waits for the reply); the lag is the time from before that set until a
get on the slave, repeated every 0.2 ms, returns the value.  Rounds
alternate the contenders so that both see the same machine load; the
figures are the p50 and p99 of all the writes of each contender, and the
ratio built-in / ktserver (below 1: the built-in pair is faster).

What to expect: ktserver flushes its update log every 0.1 s and its
master sleeps 0.1 s after each heartbeat, so its lag is around 0.1-0.2 s;
the built-in master wakes its streams on each write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kt import EmbeddedServer, KyotoTycoon  # noqa: E402

KT_PORT_MAX = 32767  # ktserver can neither listen on nor reach a port above this


class Pair:
    """A master and its slave, started in a scratch directory."""

    def __init__(self, server: str, workdir: str) -> None:
        self.server = server
        self.workdir = workdir
        # ktserver: -ls, or it would not log the line that says it is ready
        self.quiet = "-lz" if server == "builtin" else "-ls"
        self.master = EmbeddedServer(server=server, database="*", server_args=[
            self.quiet, "-ulog", os.path.join(workdir, "ulog"), "-sid", "1"])
        self.master.port_max = KT_PORT_MAX
        self.slave: Optional[EmbeddedServer] = None

    def __enter__(self) -> "Pair":
        self.master.run()
        self.slave = EmbeddedServer(server=self.server, database="*", server_args=[
            self.quiet, "-sid", "2", "-mhost", "127.0.0.1", "-mport", str(self.master.port),
            "-rts", os.path.join(self.workdir, "rts")])
        self.slave.run()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.slave is not None:
            self.slave.stop()
        self.master.stop()


def measure(pair: Pair, writes: int, tag: str) -> List[float]:
    """Lag of each of ``writes`` sets, in seconds."""
    assert pair.slave is not None
    m = KyotoTycoon(port=pair.master.port or 0)
    s = KyotoTycoon(port=pair.slave.port or 0)
    # wait until the slave follows (its first connection)
    m.set("warm-up", "1")
    deadline = time.monotonic() + 30
    while s.get("warm-up") is None:
        if time.monotonic() > deadline:
            raise SystemExit("the slave of %s does not replicate" % pair.server)
        time.sleep(0.01)
    lags: List[float] = []
    for i in range(writes):
        key = "%s-%d" % (tag, i)
        start = time.perf_counter()
        m.set(key, "value")
        while s.get(key) is None:
            time.sleep(0.0002)
        lags.append(time.perf_counter() - start)
    m.close()
    s.close()
    return lags


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def contenders(no_real: bool) -> Iterator[Tuple[str, str]]:
    yield "built-in", "builtin"
    real = os.environ.get("KT_KTSERVER") or shutil.which("ktserver")
    if real and not no_real:
        yield "ktserver", real


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-real", action="store_true")
    args = parser.parse_args(argv)
    lags: Dict[str, List[float]] = {}
    top = tempfile.mkdtemp(prefix="kt-bench-repl-")
    try:
        for r in range(args.rounds):
            for name, server in contenders(args.no_real):
                workdir = tempfile.mkdtemp(dir=top)
                with Pair(server, workdir) as pair:
                    lags.setdefault(name, []).extend(measure(pair, args.writes, "r%d" % r))
    finally:
        shutil.rmtree(top, True)
    print("replication lag, write on the master -> visible on the slave "
          "(%d writes x %d rounds)" % (args.writes, args.rounds))
    print("%-10s %10s %10s" % ("", "p50 ms", "p99 ms"))
    for name, values in lags.items():
        print("%-10s %10.2f %10.2f" % (name, percentile(values, 50) * 1e3,
                                       percentile(values, 99) * 1e3))
    if "ktserver" in lags:
        b, k = lags["built-in"], lags["ktserver"]
        print("ratio built-in / ktserver: p50 %.3f, p99 %.3f"
              % (percentile(b, 50) / percentile(k, 50), percentile(b, 99) / percentile(k, 99)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
