"""KyotoTycoon client benchmark: this client (pure and compiled builds), ukt
from PyPI, and a raw-socket floor, against one server, in one run.

    python bench/client_kyoto.py            # real ktserver if installed, else the built-in one
    python bench/client_kyoto.py --quick
    python bench/client_kyoto.py --server builtin

The raw floor sends pre-encoded binary requests and reads exactly the
expected number of reply bytes: no encoding, no parsing, no pool.  Every
contender runs in its own subprocess; values are 100 bytes unless noted.
It prints ops/s per workload and contender, the ratios the targets are
stated in, and the peak memory of a 1,000 x 10 KiB get_bulk relative to
its payload.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import RawFloor, keep_best_figures, ops_per_second  # noqa: E402

VALUE = b"v" * 100
NKEYS = 1000
KEYS = [b"bench-%06d" % i for i in range(NKEYS)]


# --- contenders -------------------------------------------------------------


def raw_workloads(port: int, min_time: float) -> Dict[str, float]:
    from kt.protocol import kt_binary as kb

    raw = RawFloor(port)
    out: Dict[str, float] = {}
    set_req = kb.encode_set_bulk([(KEYS[0], VALUE)])
    get_req = kb.encode_get_bulk([KEYS[0]])
    miss_req = kb.encode_get_bulk([b"missing-key"])
    raw.call(set_req, 5)
    out["set"] = ops_per_second(lambda i: raw.call(set_req, 5), min_time)
    n = raw.reply_size(get_req)
    out["get hit"] = ops_per_second(lambda i: raw.call(get_req, n), min_time)
    out["get miss"] = ops_per_second(lambda i: raw.call(miss_req, 5), min_time)
    for size in (100, 1000):
        pairs = [(k, VALUE) for k in KEYS[:size]]
        sreq = kb.encode_set_bulk(pairs)
        greq = kb.encode_get_bulk(KEYS[:size])
        rreq = kb.encode_remove_bulk(KEYS[:size])
        out["set_bulk %d" % size] = ops_per_second(lambda i: raw.call(sreq, 5), min_time)
        n = raw.reply_size(greq)
        out["get_bulk %d" % size] = ops_per_second(lambda i: raw.call(greq, n), min_time)
        out["remove_bulk %d" % size] = ops_per_second(lambda i: raw.call(rreq, 5), min_time)
    return out


def client_workloads(kind: str, port: int, min_time: float) -> Dict[str, float]:
    if kind == "ukt":
        import ukt

        client: Any = ukt.KyotoTycoon(port=port, serializer=ukt.KT_NONE)
        incr: Callable[[bytes], Any] = lambda k: client.increment(k, 1)
    else:
        from _builds import check_build

        check_build()
        import kt

        client = kt.KyotoTycoon(port=port, serializer=kt.KT_NONE)
        incr = lambda k: client.incr(k, 1)
    out: Dict[str, float] = {}
    client.set(KEYS[0], VALUE)
    out["set"] = ops_per_second(lambda i: client.set(KEYS[i % NKEYS], VALUE), min_time)
    out["get hit"] = ops_per_second(lambda i: client.get(KEYS[i % NKEYS]), min_time)
    out["get miss"] = ops_per_second(lambda i: client.get(b"missing-key"), min_time)
    for size in (100, 1000):
        data = {k: VALUE for k in KEYS[:size]}
        keys = KEYS[:size]
        out["set_bulk %d" % size] = ops_per_second(lambda i: client.set_bulk(data), min_time)
        out["get_bulk %d" % size] = ops_per_second(lambda i: client.get_bulk(keys), min_time)
        out["remove_bulk %d" % size] = ops_per_second(lambda i: client.remove_bulk(keys), min_time)
    out["incr"] = ops_per_second(lambda i: incr(b"counter"), min_time)

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
        # Transport choice: the same operation over the binary protocol and
        # over HTTP (RPC and RESTful), to back the per-operation choice.
        from kt.protocol import kt_http as kh

        pool = client.pool
        host = b"127.0.0.1:%d" % port
        rpc_get = kh.encode_rpc_request("get", [(b"key", KEYS[0])], None, host)
        rest_get = kh.encode_rest_request("GET", KEYS[0], None, None, None, host)
        rpc_set = kh.encode_rpc_request("set", [(b"key", KEYS[0]), (b"value", VALUE)], None, host)
        rpc_check = kh.encode_rpc_request("check", [(b"key", KEYS[0])], None, host)
        client.set(KEYS[0], VALUE)
        out["transport: get binary"] = out["get hit"]
        out["transport: get HTTP RPC"] = ops_per_second(
            lambda i: pool.execute(rpc_get, kh.ResponseParser().parse), min_time)
        out["transport: get HTTP REST"] = ops_per_second(
            lambda i: pool.execute(rest_get, kh.ResponseParser().parse), min_time)
        out["transport: set binary"] = out["set"]
        out["transport: set HTTP RPC"] = ops_per_second(
            lambda i: pool.execute(rpc_set, kh.ResponseParser().parse), min_time)
        out["transport: exists HTTP check"] = ops_per_second(lambda i: client.exists(KEYS[0]), min_time)
        out["transport: exists via binary get"] = ops_per_second(
            lambda i: client.get_raw(KEYS[0]) is not None, min_time)
        out["transport: check RPC raw"] = ops_per_second(
            lambda i: pool.execute(rpc_check, kh.ResponseParser().parse), min_time)
    return out


def interleaved(port: int, min_time: float) -> Dict[str, float]:
    """This client (the build on PYTHONPATH) and ukt in one process, taking
    turns in batches of 200 operations: the fairest single-operation
    comparison, immune to the machine's load changing between processes."""
    import ukt

    from _builds import check_build

    check_build()
    import kt

    ours = kt.KyotoTycoon(port=port, serializer=kt.KT_NONE)
    theirs = ukt.KyotoTycoon(port=port, serializer=ukt.KT_NONE)
    ours.set(KEYS[0], VALUE)
    out: Dict[str, float] = {}
    cases = [
        ("get hit", lambda c: c.get(KEYS[0])),
        ("get miss", lambda c: c.get(b"missing-key")),
        ("set", lambda c: c.set(KEYS[0], VALUE)),
    ]
    for name, op in cases:
        spent = {"kt": 0.0, "ukt": 0.0}
        done = {"kt": 0, "ukt": 0}
        deadline = time.perf_counter() + min_time * 4
        while time.perf_counter() < deadline:
            for label, client in (("kt", ours), ("ukt", theirs)):
                t0 = time.perf_counter()
                for _ in range(200):
                    op(client)
                spent[label] += time.perf_counter() - t0
                done[label] += 200
        out["interleaved %s: kt" % name] = done["kt"] / spent["kt"]
        out["interleaved %s: ukt" % name] = done["ukt"] / spent["ukt"]
    return out


def worker_main(argv: List[str]) -> None:
    kind, port, min_time = argv[0], int(argv[1]), float(argv[2])
    if kind == "interleaved":
        print(json.dumps(interleaved(port, min_time)))
        return
    if kind == "raw":
        result = raw_workloads(port, min_time)
    else:
        result = client_workloads(kind, port, min_time)
    print(json.dumps(result))


def _start_server(which: str) -> Any:
    from kt.embedded import EmbeddedServer

    server = EmbeddedServer(server="builtin" if which == "builtin" else None)
    server.run()
    return server


def main() -> None:
    import subprocess

    from _builds import builds, python_for

    quick = "--quick" in sys.argv
    which = "builtin" if "builtin" in sys.argv else "auto"
    min_time = 0.2 if quick else 0.4
    rounds = 1 if quick else 3
    server = _start_server(which)
    label = "built-in server" if server.builtin else "ktserver " + server.command_prefix[0]
    print("server: %s on port %d" % (label, server.port))
    try:
        figures: Dict[str, Dict[str, float]] = {}
        built = builds()
        contenders: List[tuple] = [(name, str(path)) for name, path in built]
        contenders += [("ukt", ""), ("raw", str(built[0][1]))]
        # Contenders take turns over several rounds and keep their best
        # figure per workload, so that a busy moment of the machine does not
        # decide a comparison.
        for _ in range(rounds):
            for name, path in contenders:
                env = dict(os.environ)
                if path:
                    env["PYTHONPATH"] = path
                    env["KT_BENCH_BUILD"] = name if name in ("pure", "compiled", "pypy") else "pure"
                if name == "raw":
                    env.pop("KT_BENCH_BUILD", None)
                keep_best_figures(name, [python_for(name), __file__, "--worker", name,
                                         str(server.port), str(min_time)], env, figures)
    finally:
        server.stop()
    names = [n for n in ("pure", "compiled", "pypy", "ukt", "raw") if n in figures]
    rows = list(figures.get("compiled", figures.get("pure", {})).keys())
    print("%-34s" % "workload (ops/s)" + "".join("%12s" % n for n in names)
          + "%12s%12s" % ("comp/raw", "comp/ukt"))
    for row in rows:
        line = "%-34s" % row
        for n in names:
            v = figures[n].get(row)
            line += "%12s" % ("-" if v is None else ("%.2f" % v if row.startswith("mem") else "%.0f" % v))
        comp = figures.get("compiled", {}).get(row)
        raw = figures.get("raw", {}).get(row)
        ukt_v = figures.get("ukt", {}).get(row)
        line += "%12s" % ("%.2fx" % (comp / raw) if comp and raw and not row.startswith("mem") else "-")
        line += "%12s" % ("%.2fx" % (comp / ukt_v) if comp and ukt_v and not row.startswith("mem") else "-")
        print(line)
    compiled_path = dict(contenders).get("compiled")
    if compiled_path:
        env = dict(os.environ, PYTHONPATH=compiled_path, KT_BENCH_BUILD="compiled")
        server.run()
        try:
            proc = subprocess.run([sys.executable, __file__, "--worker", "interleaved",
                                   str(server.port), str(min_time)],
                                  env=env, capture_output=True, text=True)
        finally:
            server.stop()
        if proc.returncode == 0:
            inter = json.loads(proc.stdout.strip().splitlines()[-1])
            print()
            print("interleaved in one process (compiled build vs ukt, ops/s):")
            for name in ("get hit", "get miss", "set"):
                a = inter["interleaved %s: kt" % name]
                b = inter["interleaved %s: ukt" % name]
                print("  %-10s kt %8.0f   ukt %8.0f   kt/ukt %.2fx" % (name, a, b, a / b))
        else:
            print("interleaved comparison failed:\n%s" % proc.stderr)
    print()
    print("targets (compiled): >= 0.9x raw on get hit and set; >= 1.05x ukt on single "
          "operations, >= 1.15x ukt on bulk; memory <= 3x payload")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
