"""TokyoTyrant client benchmark: this client (pure and compiled builds) and
a raw-socket floor, against one server, in one run.

    python bench/client_tyrant.py            # real ttserver if installed, else the built-in one
    python bench/client_tyrant.py --quick
    python bench/client_tyrant.py --server builtin
    python bench/client_tyrant.py --builds compiled   # only some builds (comma-separated)

Workloads: put, get, get miss, mget (get_bulk), putlist (set_bulk) and
outlist (remove_bulk) of 100 and 1,000 records, and a table search
returning 100 rows (a second server with a table database).  As in
bench/client_kyoto.py, the server is pinned to CPU 0 and each build's
worker to CPU 1, the client and the raw floor take turns in short batches
over many rounds, and kt/raw is the median of the per-round ratios.  The
raw floor sends pre-encoded requests, reads the reply as it arrives and
splits it into its records.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (RawFloor, interleave, paired_ratio, pin_client, pin_server,  # noqa: E402
                   run_builds)

VALUE = b"v" * 100
KEYS = [b"bench-%06d" % i for i in range(1000)]
SIZES = (100, 1000)


def _search_args() -> List[bytes]:
    from kt.protocol import tt_binary as tb

    query = tb.TTQuery([tb.TTCondition(b"n", tb.COND_NUM_LT, b"100")],
                       [tb.TTOrder(b"n", tb.ORDER_NUM_ASC)])
    return tb.encode_search_args(tb.TTSearch([query]))


def workloads(client: Any, table: Any, raw: RawFloor, traw: RawFloor) -> List[tuple]:
    """(workload, {"kt": operation, "raw": operation})."""
    import kt
    from kt.protocol import tt_binary as tb

    key = KEYS[0]
    put = tb.encode_put(key, VALUE)
    get = tb.encode_get(key)
    miss = tb.encode_get(b"missing")
    work: List[tuple] = [
        ("put", {"kt": lambda: client.set(key, VALUE), "raw": lambda: raw.tt_status(put)}),
        ("get", {"kt": lambda: client.get(key), "raw": lambda: raw.tt_value(get)}),
        ("get miss", {"kt": lambda: client.get(b"missing"), "raw": lambda: raw.tt_value(miss)}),
    ]
    for size in SIZES:
        keys = KEYS[:size]
        data = {k: VALUE for k in keys}
        putlist = tb.encode_misc(b"putlist", [x for k in keys for x in (k, VALUE)])
        mget = tb.encode_mget(keys)
        outlist = tb.encode_misc(b"outlist", keys)
        work += [
            ("putlist %d (set_bulk)" % size, {"kt": lambda d=data: client.set_bulk(d),
                                              "raw": lambda r=putlist: raw.tt_list(r)}),
            ("mget %d (get_bulk)" % size, {"kt": lambda k=keys: client.get_bulk(k),
                                           "raw": lambda r=mget: raw.tt_records(r)}),
            ("outlist %d (remove_bulk)" % size, {"kt": lambda k=keys: client.remove_bulk(k),
                                                 "raw": lambda r=outlist: raw.tt_list(r)}),
        ]
    query = kt.QueryBuilder().filter("n", kt.OP_NUM_LT, 100).order_by("n", kt.ORDER_NUM_ASC)
    assert len(query.execute(table)) == 100
    search = tb.encode_misc(b"search", _search_args(), tb.MISC_NO_ULOG)
    work.append(("table search, 100 rows", {"kt": lambda: query.execute(table),
                                            "raw": lambda: traw.tt_list(search)}))
    return work


def measure(port: int, table_port: int, rounds: int, batch_time: float) -> Dict[str, Any]:
    pin_client()
    from _builds import check_build

    check_build()
    import kt

    client = kt.TokyoTyrant(port=port, serializer=kt.KT_NONE)
    table = kt.TokyoTyrant(port=table_port, serializer=kt.TT_TABLE)
    rates: Dict[str, Dict[str, float]] = {}
    ratios: Dict[str, float] = {}
    for name, contenders in workloads(client, table, RawFloor(port), RawFloor(table_port)):
        got = interleave(contenders, rounds, batch_time)
        rates[name] = {c: sorted(r)[len(r) // 2] for c, r in got.items()}
        ratios[name] = paired_ratio(got, "kt", "raw")
    return {"rates": rates, "ratios": ratios}


def _option(name: str, default: str) -> str:
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def main() -> None:
    from kt import TT_TABLE, EmbeddedTokyoTyrantServer

    quick = "--quick" in sys.argv
    which = "builtin" if _option("--server", "auto") == "builtin" else None
    wanted = _option("--builds", "")
    rounds = 5 if quick else 15
    batch_time = 0.05 if quick else 0.08
    tmp = tempfile.mkdtemp()
    server = EmbeddedTokyoTyrantServer(server=which)
    tserver = EmbeddedTokyoTyrantServer(server=which, database=os.path.join(tmp, "t.tct"),
                                        serializer=TT_TABLE)
    server.run()
    tserver.run()
    pin_server(server.pid)
    pin_server(tserver.pid)
    results: Dict[str, Any] = {}
    try:
        tserver.client.set_bulk({"r%05d" % i: {"n": str(i), "name": "x%d" % i} for i in range(10000)})
        print("server: %s" % ("built-in" if server.builtin else server.command_prefix[0]))
        results = run_builds(__file__, [str(server.port), str(tserver.port), str(rounds),
                                        str(batch_time)], wanted)
    finally:
        server.stop()
        tserver.stop()
    for name, res in results.items():
        print("%s build (ops/s, median of rounds)" % name)
        print("%-28s%12s%12s%10s" % ("workload", "kt", "raw", "kt/raw"))
        for row, rates in res["rates"].items():
            print("%-28s%12.0f%12.0f%9.2fx" % (row, rates["kt"], rates["raw"], res["ratios"][row]))
        print()
    print("targets (compiled): >= 0.95x raw on put and get, >= 0.85x raw on the bulk workloads")


if __name__ == "__main__":
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        port, tport, rounds, bt = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        print(json.dumps(measure(port, tport, rounds, bt)))
    else:
        main()
