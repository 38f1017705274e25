"""TokyoTyrant client benchmark: this client (pure and compiled builds) and
a raw-socket floor, against one server, in one run.

    python bench/client_tyrant.py            # real ttserver if installed, else the built-in one
    python bench/client_tyrant.py --quick
    python bench/client_tyrant.py --server builtin

Workloads: put, get, get miss, mget 100 (get_bulk), putlist 100
(set_bulk), and a table search returning 100 rows (a second server with a
table database).  The raw floor sends pre-encoded requests and reads
exactly the expected reply size.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import RawFloor, keep_best_figures, ops_per_second  # noqa: E402

VALUE = b"v" * 100
KEYS = [b"bench-%06d" % i for i in range(1000)]


def _search_args() -> List[bytes]:
    from kt.protocol import tt_binary as tb

    query = tb.TTQuery([tb.TTCondition(b"n", tb.COND_NUM_LT, b"100")],
                       [tb.TTOrder(b"n", tb.ORDER_NUM_ASC)])
    return tb.encode_search_args(tb.TTSearch([query]))


def raw_work(port: int, table_port: int, min_time: float) -> Dict[str, float]:
    from kt.protocol import tt_binary as tb

    raw = RawFloor(port)
    out: Dict[str, float] = {}
    put = tb.encode_put(KEYS[0], VALUE)
    get = tb.encode_get(KEYS[0])
    miss = tb.encode_get(b"missing")
    out["put"] = ops_per_second(lambda i: raw.call(put, 1), min_time)
    n = raw.reply_size(get)
    out["get"] = ops_per_second(lambda i: raw.call(get, n), min_time)
    out["get miss"] = ops_per_second(lambda i: raw.call(miss, 1), min_time)
    putlist = tb.encode_misc(b"putlist", [x for k in KEYS[:100] for x in (k, VALUE)])
    out["putlist 100 (set_bulk)"] = ops_per_second(lambda i: raw.call(putlist, 5), min_time)
    mget = tb.encode_mget(KEYS[:100])
    n = raw.reply_size(mget)
    out["mget 100 (get_bulk)"] = ops_per_second(lambda i: raw.call(mget, n), min_time)
    traw = RawFloor(table_port)
    search = tb.encode_misc(b"search", _search_args(), tb.MISC_NO_ULOG)
    n = traw.reply_size(search)
    out["table search, 100 rows"] = ops_per_second(lambda i: traw.call(search, n), min_time)
    return out


def client_work(port: int, table_port: int, min_time: float) -> Dict[str, float]:
    from _builds import check_build

    check_build()
    import kt

    client = kt.TokyoTyrant(port=port, serializer=kt.KT_NONE)
    out: Dict[str, float] = {}
    out["put"] = ops_per_second(lambda i: client.set(KEYS[i % 1000], VALUE), min_time)
    out["get"] = ops_per_second(lambda i: client.get(KEYS[i % 1000]), min_time)
    out["get miss"] = ops_per_second(lambda i: client.get(b"missing"), min_time)
    data = {k: VALUE for k in KEYS[:100]}
    out["putlist 100 (set_bulk)"] = ops_per_second(lambda i: client.set_bulk(data), min_time)
    keys = KEYS[:100]
    out["mget 100 (get_bulk)"] = ops_per_second(lambda i: client.get_bulk(keys), min_time)
    table = kt.TokyoTyrant(port=table_port, serializer=kt.TT_TABLE)
    query = kt.QueryBuilder().filter("n", kt.OP_NUM_LT, 100).order_by("n", kt.ORDER_NUM_ASC)
    assert len(query.execute(table)) == 100
    out["table search, 100 rows"] = ops_per_second(lambda i: query.execute(table), min_time)
    return out


def main() -> None:
    from _builds import builds, python_for

    from kt import TT_TABLE, EmbeddedTokyoTyrantServer

    quick = "--quick" in sys.argv
    which = "builtin" if "builtin" in sys.argv else None
    min_time = 0.2 if quick else 0.4
    rounds = 1 if quick else 3
    tmp = tempfile.mkdtemp()
    server = EmbeddedTokyoTyrantServer(server=which)
    tserver = EmbeddedTokyoTyrantServer(server=which, database=os.path.join(tmp, "t.tct"),
                                        serializer=TT_TABLE)
    server.run()
    tserver.run()
    try:
        tserver.client.set_bulk({"r%05d" % i: {"n": str(i), "name": "x%d" % i} for i in range(10000)})
        print("server: %s" % ("built-in" if server.builtin else server.command_prefix[0]))
        figures: Dict[str, Dict[str, float]] = {}
        built = builds()
        # Contenders take turns over several rounds, keeping their best
        # figure per workload (a busy moment must not decide a comparison).
        for _ in range(rounds):
            for name, path in built + [("raw", built[0][1])]:
                env = dict(os.environ, PYTHONPATH=str(path))
                if name != "raw":
                    env["KT_BENCH_BUILD"] = name
                keep_best_figures(name, [python_for(name), __file__, "--worker", name,
                                         str(server.port), str(tserver.port), str(min_time)],
                                  env, figures)
    finally:
        server.stop()
        tserver.stop()
    names = [n for n in ("pure", "compiled", "pypy", "raw") if n in figures]
    print("%-28s" % "workload (ops/s)" + "".join("%12s" % n for n in names) + "%12s" % "comp/raw")
    for row in figures[names[0]]:
        line = "%-28s" % row + "".join("%12.0f" % figures[n][row] for n in names)
        if "compiled" in figures and "raw" in figures:
            line += "%11.2fx" % (figures["compiled"][row] / figures["raw"][row])
        print(line)
    print()
    print("targets (compiled): >= 0.9x raw on get and put, >= 0.8x on mget 100")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, port, tport, mt = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
        res = raw_work(port, tport, mt) if kind == "raw" else client_work(port, tport, mt)
        print(json.dumps(res))
    else:
        main()
