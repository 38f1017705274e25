"""Sharded client throughput over 1, 2 and 4 built-in Kyoto Tycoon servers,
in one run, as ratios to the 1-server figure.

    python bench/sharded.py            # about a minute
    python bench/sharded.py --quick

Workloads (values of 100 bytes, 10,000 keys spread by ketama):

* get, set: one key per request, from 1 thread and from 8 threads sharing
  the client (8 threads keep several servers busy at once);
* get_bulk 100 / 1000: keys split per shard and fetched concurrently (the
  sharded client's worker threads), merged into one dict.

Contenders: ``ShardedKyotoTycoon`` over 1, 2 and 4 servers, and the plain
``KyotoTycoon`` on one server (the price of the sharding layer itself).
They take turns over several rounds and each keeps its best figure.  On a
machine with few cores the servers compete with the client for CPU, so
more servers help only where the client waits (8 threads, big bulks).
It measures whichever kt is importable.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, List

import kt
from kt import KT_NONE, EmbeddedServer, KyotoTycoon, ShardedKyotoTycoon

VALUE = b"v" * 100
KEYS = [b"bench-%05d" % i for i in range(10_000)]
THREADS = 8


def rate(fn: Callable[[int], object], min_time: float) -> float:
    """Calls per second of ``fn(i)`` for ``min_time`` seconds."""
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(20):
            fn(n)
            n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_time:
            return n / elapsed


def threaded_rate(fn: Callable[[int], object], min_time: float) -> float:
    """Calls per second of ``fn(i)`` from THREADS threads at once."""
    counts = [0] * THREADS
    stop = time.perf_counter() + min_time

    def work(t: int) -> None:
        i = t
        while time.perf_counter() < stop:
            fn(i)
            i += THREADS
            counts[t] += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sum(counts) / (time.perf_counter() - t0)


def workloads(client: Any, min_time: float) -> Dict[str, float]:
    n = len(KEYS)
    out: Dict[str, float] = {}
    out["set"] = rate(lambda i: client.set(KEYS[i % n], VALUE), min_time)
    out["get"] = rate(lambda i: client.get(KEYS[i % n]), min_time)
    out["set, %d threads" % THREADS] = threaded_rate(
        lambda i: client.set(KEYS[i % n], VALUE), min_time)
    out["get, %d threads" % THREADS] = threaded_rate(
        lambda i: client.get(KEYS[i % n]), min_time)
    for size in (100, 1000):
        batches = [KEYS[j:j + size] for j in range(0, n, size)]
        out["get_bulk %d" % size] = rate(
            lambda i: client.get_bulk(batches[i % len(batches)]), min_time)
    return out


def main() -> None:
    quick = "--quick" in sys.argv
    min_time = 0.3 if quick else 1.0
    rounds = 2 if quick else 3
    servers = [EmbeddedServer(server="builtin", quiet=True) for _ in range(4)]
    for server in servers:
        server.run()
    try:
        addresses = ["127.0.0.1:%d" % s.port for s in servers]
        contenders: Dict[str, Any] = {"KyotoTycoon, 1 server": KyotoTycoon(
            port=servers[0].port, serializer=KT_NONE)}
        for count in (1, 2, 4):
            contenders["sharded, %d server%s" % (count, "s" if count > 1 else "")] = (
                ShardedKyotoTycoon(addresses[:count], serializer=KT_NONE))
        seed = ShardedKyotoTycoon(addresses, serializer=KT_NONE)
        for count in (1, 2, 4):  # every key on the server each contender looks at
            ShardedKyotoTycoon(addresses[:count], serializer=KT_NONE).set_bulk(
                {k: VALUE for k in KEYS})
        seed.close()
        best: Dict[str, Dict[str, float]] = {}
        for r in range(rounds):
            for name, client in contenders.items():
                print("round %d/%d: %s" % (r + 1, rounds, name), file=sys.stderr, flush=True)
                for row, value in workloads(client, min_time).items():
                    best.setdefault(name, {})
                    best[name][row] = max(best[name].get(row, 0.0), value)
        report(best)
        for client in contenders.values():
            client.close()
    finally:
        for server in servers:
            server.stop()


def report(best: Dict[str, Dict[str, float]]) -> None:
    names: List[str] = list(best)
    rows = list(best[names[0]])
    base = best["sharded, 1 server"]
    print("kt %s (%s build), built-in servers; calls/s, and (ratio to sharded over 1 server)"
          % (kt.__version__, "compiled" if kt.COMPILED else "pure"))
    print("%-18s" % "" + "".join("%26s" % n for n in names))
    for row in rows:
        print("%-18s" % row + "".join(
            "%17.0f (%5.2f)" % (best[n][row], best[n][row] / base[row]) for n in names))


if __name__ == "__main__":
    main()
