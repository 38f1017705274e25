"""KyotoTycoon client benchmark: this client (pure and compiled builds), ukt
from PyPI, and a raw-socket floor, against one server, in one run.

    python bench/client_kyoto.py            # real ktserver if installed, else the built-in one
    python bench/client_kyoto.py --quick
    python bench/client_kyoto.py --server builtin
    python bench/client_kyoto.py --builds compiled   # only some builds (comma-separated)

The server is pinned to CPU 0 and the benchmark process to CPU 1 when
there are two (KT_BENCH_PIN=0: no pinning).  One worker process per build
runs this client, ukt and the raw floor side by side: for every workload
they take turns in short batches over many rounds (bench/_load.py
interleave), and the ratios printed are the medians of the per-round
ratios, so that the machine's load changing over time hits all contenders
alike.

The raw floor (bench/_load.py RawFloor) sends pre-encoded binary requests
and does the least a client must with the reply: reads it as it arrives,
checks its header and splits it into records (a dict of bytes for bulk
replies).  Values are 100 bytes.  Also printed per build: incr, 8 threads
sharing a client, the peak memory of a 1,000 x 10 KiB get_bulk relative to
its payload, and HTTP against binary transport for single operations.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import (RawFloor, interleave, ops_per_second, paired_ratio,  # noqa: E402
                   pin_client, pin_server, run_builds)

VALUE = b"v" * 100
NKEYS = 1000
KEYS = [b"bench-%06d" % i for i in range(NKEYS)]
SIZES = (100, 1000)


# --- contenders -------------------------------------------------------------


def core_workloads(ours: Any, theirs: Any, raw: RawFloor) -> List[tuple]:
    """(workload, {contender: operation}) of the workloads with targets."""
    from kt.protocol import kt_binary as kb

    set_req = kb.encode_set_bulk([(KEYS[0], VALUE)])
    get_req = kb.encode_get_bulk([KEYS[0]])
    miss_req = kb.encode_get_bulk([b"missing-key"])
    key = KEYS[0]
    work: List[tuple] = [
        ("set", {"kt": lambda: ours.set(key, VALUE), "ukt": lambda: theirs.set(key, VALUE),
                 "raw": lambda: raw.kt_count(set_req)}),
        ("get hit", {"kt": lambda: ours.get(key), "ukt": lambda: theirs.get(key),
                     "raw": lambda: raw.kt_records(get_req)}),
        ("get miss", {"kt": lambda: ours.get(b"missing-key"),
                      "ukt": lambda: theirs.get(b"missing-key"),
                      "raw": lambda: raw.kt_records(miss_req)}),
    ]
    for size in SIZES:
        keys = KEYS[:size]
        data = {k: VALUE for k in keys}
        sreq = kb.encode_set_bulk([(k, VALUE) for k in keys])
        greq = kb.encode_get_bulk(keys)
        rreq = kb.encode_remove_bulk(keys)
        work += [
            ("set_bulk %d" % size, {"kt": lambda d=data: ours.set_bulk(d),
                                    "ukt": lambda d=data: theirs.set_bulk(d),
                                    "raw": lambda r=sreq: raw.kt_count(r)}),
            ("get_bulk %d" % size, {"kt": lambda k=keys: ours.get_bulk(k),
                                    "ukt": lambda k=keys: theirs.get_bulk(k),
                                    "raw": lambda r=greq: raw.kt_records(r)}),
            ("remove_bulk %d" % size, {"kt": lambda k=keys: ours.remove_bulk(k),
                                       "ukt": lambda k=keys: theirs.remove_bulk(k),
                                       "raw": lambda r=rreq: raw.kt_count(r)}),
        ]
    return work


def extra_workloads(client: Any, kind: str, port: int, min_time: float) -> Dict[str, float]:
    """Figures without a raw floor, for this client or ukt (``kind``)."""
    out: Dict[str, float] = {}
    if kind == "ukt":
        out["incr"] = ops_per_second(lambda i: client.increment(b"counter", 1), min_time)
    else:
        out["incr"] = ops_per_second(lambda i: client.incr(b"counter", 1), min_time)

    # 8 threads sharing one client
    client.set_bulk({k: VALUE for k in KEYS})
    counts = [0] * 8
    stop = threading.Event()

    def worker(t: int) -> None:
        i = t
        while not stop.is_set():
            client.get(KEYS[i % NKEYS])
            i += 8
            counts[t] += 1

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    time.sleep(min_time * 2)
    stop.set()
    for th in threads:
        th.join()
    out["get, 8 threads"] = sum(counts) / (time.perf_counter() - t0)
    try:
        import tracemalloc
    except ImportError:  # PyPy
        return out

    # memory of a 1,000 x 10 KiB get_bulk
    big = b"m" * 10240
    bigkeys = [b"big-%04d" % i for i in range(1000)]
    for i in range(0, 1000, 100):
        client.set_bulk({k: big for k in bigkeys[i:i + 100]})
    client.get_bulk(bigkeys)  # warm up
    tracemalloc.start()
    result = client.get_bulk(bigkeys)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(result) == 1000
    out["mem get_bulk 1000x10KiB / payload"] = peak / (1000 * 10240)
    client.remove_bulk(bigkeys)
    if kind != "ukt":
        out.update(transport_workloads(client, port, min_time))
    return out


def transport_workloads(client: Any, port: int, min_time: float) -> Dict[str, float]:
    """The same operation over the binary protocol and over HTTP (RPC and
    RESTful), to back the per-operation choice of transport."""
    from kt.protocol import kt_http as kh

    out: Dict[str, float] = {}
    pool = client.pool
    host = b"127.0.0.1:%d" % port
    rpc_get = kh.encode_rpc_request("get", [(b"key", KEYS[0])], None, host)
    rest_get = kh.encode_rest_request("GET", KEYS[0], None, None, None, host)
    rpc_set = kh.encode_rpc_request("set", [(b"key", KEYS[0]), (b"value", VALUE)], None, host)
    rpc_check = kh.encode_rpc_request("check", [(b"key", KEYS[0])], None, host)
    client.set(KEYS[0], VALUE)
    out["transport: get binary"] = ops_per_second(lambda i: client.get(KEYS[0]), min_time)
    out["transport: get HTTP RPC"] = ops_per_second(
        lambda i: pool.execute(rpc_get, kh.ResponseParser().parse), min_time)
    out["transport: get HTTP REST"] = ops_per_second(
        lambda i: pool.execute(rest_get, kh.ResponseParser().parse), min_time)
    out["transport: set binary"] = ops_per_second(
        lambda i: client.set(KEYS[0], VALUE), min_time)
    out["transport: set HTTP RPC"] = ops_per_second(
        lambda i: pool.execute(rpc_set, kh.ResponseParser().parse), min_time)
    out["transport: exists HTTP check"] = ops_per_second(lambda i: client.exists(KEYS[0]), min_time)
    out["transport: exists via binary get"] = ops_per_second(
        lambda i: client.get_raw(KEYS[0]) is not None, min_time)
    out["transport: check RPC raw"] = ops_per_second(
        lambda i: pool.execute(rpc_check, kh.ResponseParser().parse), min_time)
    return out


def measure(port: int, rounds: int, batch_time: float) -> Dict[str, Any]:
    """One build's figures: {"rates": {workload: {contender: ops/s}},
    "ratios": {workload: {"raw"/"ukt": kt's paired ratio}}, "extra": ...}."""
    pin_client()
    from _builds import check_build

    check_build()
    import kt

    try:
        import ukt
    except ImportError:  # not installed (or PyPy)
        ukt = None
    ours = kt.KyotoTycoon(port=port, serializer=kt.KT_NONE)
    theirs = ukt.KyotoTycoon(port=port, serializer=ukt.KT_NONE) if ukt else None
    raw = RawFloor(port)
    ours.set(KEYS[0], VALUE)
    rates: Dict[str, Dict[str, float]] = {}
    ratios: Dict[str, Dict[str, float]] = {}
    for name, contenders in core_workloads(ours, theirs, raw):
        if theirs is None:
            del contenders["ukt"]
        got = interleave(contenders, rounds, batch_time)
        rates[name] = {c: sorted(r)[len(r) // 2] for c, r in got.items()}
        ratios[name] = {c: paired_ratio(got, "kt", c) for c in got if c != "kt"}
    extra = {"kt": extra_workloads(ours, "kt", port, batch_time * 2)}
    if theirs is not None:
        extra["ukt"] = extra_workloads(theirs, "ukt", port, batch_time * 2)
    return {"rates": rates, "ratios": ratios, "extra": extra}


def worker_main(argv: List[str]) -> None:
    port, rounds, batch_time = int(argv[0]), int(argv[1]), float(argv[2])
    print(json.dumps(measure(port, rounds, batch_time)))


def _start_server(which: str) -> Any:
    from kt.embedded import EmbeddedServer

    server = EmbeddedServer(server="builtin" if which == "builtin" else None)
    server.run()
    pin_server(server.pid)
    return server


def _option(name: str, default: str) -> str:
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def print_figures(build: str, res: Any) -> None:
    """One build's table: ops/s of each contender and kt's paired ratios."""
    rates, ratios = res["rates"], res["ratios"]
    has_ukt = any("ukt" in r for r in rates.values())
    cols = ["kt", "ukt", "raw"] if has_ukt else ["kt", "raw"]
    print("%s build (ops/s, median of rounds)" % build)
    print("%-24s" % "workload" + "".join("%12s" % c for c in cols)
          + "%10s" % "kt/raw" + ("%10s" % "kt/ukt" if has_ukt else ""))
    for name, row in rates.items():
        line = "%-24s" % name + "".join("%12.0f" % row[c] for c in cols)
        line += "%9.2fx" % ratios[name]["raw"]
        if has_ukt:
            line += "%9.2fx" % ratios[name]["ukt"]
        print(line)
    extra = res["extra"]
    print("%-34s" % "other figures" + "".join("%12s" % c for c in extra))
    for row in extra["kt"]:
        vals = [extra[c].get(row) for c in extra]
        print("%-34s" % row + "".join(
            "%12s" % ("-" if v is None else "%.2f" % v if row.startswith("mem") else "%.0f" % v)
            for v in vals))
    print()


def main() -> None:
    quick = "--quick" in sys.argv
    which = _option("--server", "auto")
    wanted = _option("--builds", "")
    rounds = 5 if quick else 15
    batch_time = 0.05 if quick else 0.08
    server = _start_server(which)
    label = "built-in server" if server.builtin else "ktserver " + server.command_prefix[0]
    print("server: %s on port %d" % (label, server.port))
    try:
        results = run_builds(__file__, [str(server.port), str(rounds), str(batch_time)], wanted)
    finally:
        server.stop()
    for name, res in results.items():
        print_figures(name, res)
    print("targets (compiled): >= 0.95x raw on single operations, >= 0.85x raw and >= 1.2x "
          "ukt on bulk workloads; memory <= 1.5x payload")


if __name__ == "__main__":
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
