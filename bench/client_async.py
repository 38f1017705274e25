"""asyncio clients against the synchronous ones, on the same server, in one run.

    python bench/client_async.py            # real ktserver/ttserver if installed, else built-in
    python bench/client_async.py --quick
    python bench/client_async.py --server builtin

Part 1: get, set and get_bulk of 100 keys with 1 and 50 concurrent workers:
threads sharing one KyotoTycoon / TokyoTyrant, or tasks sharing one
AsyncKyotoTycoon / AsyncTokyoTyrant (on asyncio's loop, and on uvloop's when
installed).  Contenders take turns over several rounds; each keeps its best
figure.  Ratios are async / sync of the same run.

Part 2: iterating over 100,000 Kyoto Tycoon records: keys() and items() as
they are now (the key list in one request, values in get_bulk pages)
against a cursor walk, one round trip per record, which is what keys() and
items() did before (records/s, and the ratio).

It measures whichever kt is importable (run it with the mypyc build
installed to measure that).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import kt
from kt import AsyncKyotoTycoon, AsyncTokyoTyrant, KyotoTycoon, TokyoTyrant
from kt.embedded import EmbeddedServer, EmbeddedTokyoTyrantServer

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

VALUE = "v" * 100
KEYS = ["bench-%05d" % i for i in range(1000)]
BULK = KEYS[:100]


def sync_rate(client: Any, op: str, workers: int, seconds: float) -> float:
    """Operations per second of ``workers`` threads sharing ``client``."""
    counts = [0] * workers
    deadline = time.perf_counter() + seconds

    def work(n: int) -> None:
        key = KEYS[n % len(KEYS)]
        done = 0
        while time.perf_counter() < deadline:
            if op == "get":
                client.get(key)
            elif op == "set":
                client.set(key, VALUE)
            else:
                client.get_bulk(BULK)
            done += 1
        counts[n] = done

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


async def async_rate(client: Any, op: str, workers: int, seconds: float) -> float:
    """Operations per second of ``workers`` tasks sharing ``client``."""
    deadline = time.perf_counter() + seconds

    async def work(n: int) -> int:
        key = KEYS[n % len(KEYS)]
        done = 0
        while time.perf_counter() < deadline:
            if op == "get":
                await client.get(key)
            elif op == "set":
                await client.set(key, VALUE)
            else:
                await client.get_bulk(BULK)
            done += 1
        return done

    start = time.perf_counter()
    counts = await asyncio.gather(*[work(n) for n in range(workers)])
    return sum(counts) / (time.perf_counter() - start)


def run_on(loop_kind: str, main: Awaitable[float]) -> float:
    loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def concurrency(servers: Dict[str, Any], seconds: float, rounds: int) -> None:
    loops = ["asyncio"] + (["uvloop"] if uvloop is not None else [])
    names = ["sync"] + ["async/" + lk for lk in loops]
    best: Dict[Tuple[str, str, int, str], float] = {}
    for _ in range(rounds):
        for kind, server in servers.items():
            sync_cls, async_cls = ((KyotoTycoon, AsyncKyotoTycoon) if kind == "kt"
                                   else (TokyoTyrant, AsyncTokyoTyrant))
            sync_cls(port=server.port).set_bulk({k: VALUE for k in KEYS})
            for workers in (1, 50):
                for op in ("get", "set", "get_bulk 100"):
                    for name in names:
                        if name == "sync":
                            value = sync_rate(sync_cls(port=server.port), op, workers, seconds)
                        else:
                            client = async_cls(port=server.port)
                            value = run_on(name.split("/")[1],
                                           async_rate(client, op, workers, seconds))
                        row = (kind, op, workers, name)
                        best[row] = max(best.get(row, 0.0), value)
    print("%-28s" % "workload (ops/s)" + "".join("%15s" % n for n in names)
          + "".join("%15s" % ("%s/sync" % n.split("/")[1]) for n in names[1:]))
    for kind in servers:
        for workers in (1, 50):
            for op in ("get", "set", "get_bulk 100"):
                figures = [best[(kind, op, workers, n)] for n in names]
                label = "%s %s, %d %s" % (kind.upper(), op, workers,
                                          "worker" if workers == 1 else "workers")
                print("%-28s" % label + "".join("%15.0f" % f for f in figures)
                      + "".join("%14.2fx" % (f / figures[0]) for f in figures[1:]))


def timed(fn: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - start)


def iteration(server: Any, records: int) -> None:
    client = KyotoTycoon(port=server.port, timeout=600)
    client.clear()
    for i in range(0, records, 10000):
        client.set_bulk({"rec-%07d" % j: VALUE for j in range(i, min(records, i + 10000))})

    def cursor_keys() -> int:  # what keys() did before: one round trip per record
        n = 0
        with client.cursor() as cur:
            if cur.jump():
                while cur.key(step=True) is not None:
                    n += 1
        return n

    def cursor_items() -> int:
        return sum(1 for _ in client.cursor())

    async def async_items() -> int:
        aclient = AsyncKyotoTycoon(port=server.port, timeout=600)
        return len([item async for item in aclient.items()])

    rows: List[Tuple[str, float, float]] = []
    for label, new, old in (("keys()", lambda: sum(1 for _ in client.keys()), cursor_keys),
                            ("items()", lambda: sum(1 for _ in client.items()), cursor_items),
                            ("async items()", lambda: asyncio.run(async_items()), cursor_items)):
        rows.append((label, timed(new), timed(old)))
    print("\n%d records (records/s)          paged now   cursor (before)    ratio" % records)
    for label, new_rate, old_rate in rows:
        print("%-30s %12.0f %17.0f %8.1fx" % (label, new_rate, old_rate, new_rate / old_rate))
    client.clear()


def main() -> None:
    quick = "--quick" in sys.argv
    which = "builtin" if "builtin" in sys.argv else None
    seconds, rounds = (0.3, 1) if quick else (1.0, 3)
    kt_server = EmbeddedServer(server=which)
    tt_server = EmbeddedTokyoTyrantServer(server=which)
    kt_server.run()
    tt_server.run()
    print("kt %s (%s); Kyoto Tycoon: %s; Tokyo Tyrant: %s; uvloop: %s" % (
        kt.__version__, "compiled" if kt.COMPILED else "pure",
        "built-in" if kt_server.builtin else kt_server.command_prefix[0],
        "built-in" if tt_server.builtin else tt_server.command_prefix[0],
        "yes" if uvloop is not None else "not installed"))
    try:
        concurrency({"kt": kt_server, "tt": tt_server}, seconds, rounds)
        iteration(kt_server, 100_000)
    finally:
        kt_server.stop()
        tt_server.stop()


if __name__ == "__main__":
    main()
