"""TokyoTyrant.items() on a B+ tree: pages of misc "range" (every record,
duplicates included) against the fwmkeys + mget plan it replaced (one
record per key), in one run.

    python bench/tt_items_btree.py                 # ttserver if installed, else built-in
    python bench/tt_items_btree.py --server builtin
    python bench/tt_items_btree.py --records 20000

The database holds N records (a tenth of the keys with one duplicate).  The
two plans take turns over several rounds; each keeps its best time.  The
ratio is range / (fwmkeys + mget) of the same run, in records per second
(the old plan reads fewer records: it loses the duplicates).  It measures
whichever kt is importable (install the mypyc build to measure that).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Callable, Dict

import kt
from kt import EmbeddedTokyoTyrantServer, TokyoTyrant


def _fill(client: TokyoTyrant, records: int) -> None:
    batch: Dict[str, str] = {}
    for i in range(records - records // 10):
        batch["key-%07d" % i] = "v" * 100
        if len(batch) == 1000:
            client.set_bulk(batch)
            batch = {}
    if batch:
        client.set_bulk(batch)
    for i in range(0, records - records // 10, 9):
        client.setdup("key-%07d" % i, "w" * 100)


def _timed(run: Callable[[], int]) -> float:
    start = time.perf_counter()
    n = run()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=None, help='"builtin", or a ttserver executable')
    parser.add_argument("--records", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="kt-bench-")
    server = EmbeddedTokyoTyrantServer(server=args.server,
                                       database=os.path.join(workdir, "bench.tcb"))
    with server:
        assert server.port is not None
        client = TokyoTyrant(server.host, server.port, timeout=60)
        _fill(client, args.records)
        plans: Dict[str, Callable[[], int]] = {
            "range pages": lambda: sum(1 for _ in client.items()),
            "fwmkeys + mget": lambda: sum(1 for _ in client._stream(client._pages(2))),
        }
        best: Dict[str, float] = {name: 0.0 for name in plans}
        counts: Dict[str, int] = {name: run() for name, run in plans.items()}
        for _ in range(args.rounds):
            for name, run in plans.items():
                best[name] = max(best[name], _timed(run))
        kind = "built-in" if server.builtin else "ttserver"
        print("kt %s (%s), %s, %d records in the database"
              % (kt.__version__, "compiled" if kt.COMPILED else "pure", kind, len(client)))
        for name in plans:
            print("  %-16s %8d records read  %10.0f records/s" % (name, counts[name], best[name]))
        print("  ratio range / (fwmkeys + mget), records/s: %.2f"
              % (best["range pages"] / best["fwmkeys + mget"]))


if __name__ == "__main__":
    main()
