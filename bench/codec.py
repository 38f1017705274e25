"""Codec benchmark: in memory, no network, pure vs compiled build in one run.

    python bench/codec.py            # builds the mypyc copy once, then measures
    python bench/codec.py --quick    # fewer rounds

Workloads (values of 100 bytes):
  kt get_bulk parse  N   parse a get_bulk reply of N records from a buffer
  kt get_bulk encode N   encode a get_bulk request of N keys
  kt set_bulk encode N   encode a set_bulk request of N records
  kt set_bulk parse  N   server side: parse a set_bulk request of N records
  tt get / put           encode request + parse reply, one record
  tt mget 100            encode request + parse reply
  tsv encode/decode 100  TSV-RPC body of 100 records (colenc none and B)

It prints operations per second for each build, the compiled/pure ratio, and
the cost of 1,000 records relative to 100 (linear scaling gives 10x).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import batch_size  # noqa: E402

VALUE = bytes(range(100))


def _timeit(fn: Callable[[], object], min_time: float) -> float:
    """Operations per second of ``fn``: the best of 7 short runs that take
    about ``min_time`` together (short runs dodge moments of load)."""
    reps = batch_size(fn, min_time / 7)
    best = 0.0
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = max(best, reps / (time.perf_counter() - t0))
    return best


def _kt_workloads() -> Dict[str, Callable[[], object]]:
    from kt.protocol import kt_binary as kb
    from kt.protocol.buffer import ReceiveBuffer

    work: Dict[str, Callable[[], object]] = {}
    for n in (1, 100, 1000):
        keys = [b"key-%08d" % i for i in range(n)]
        pairs = [(k, VALUE) for k in keys]
        recs = kb.BulkRecords()
        for k in keys:
            recs.dbs.append(0)
            recs.keys.append(k)
            recs.values.append(VALUE)
            recs.xts.append(kb.XT_MAX)
        reply = kb.encode_get_bulk_reply(recs)
        request = kb.encode_set_bulk(pairs)

        def parse_reply(reply: bytes = reply) -> object:
            buf = ReceiveBuffer()
            buf.feed(reply)
            return kb.GetBulkReplyParser().parse(buf)

        def parse_set(request: bytes = request) -> object:
            buf = ReceiveBuffer()
            buf.feed(request)
            return kb.RequestParser().parse(buf)

        def enc_get(keys: List[bytes] = keys) -> object:
            return kb.encode_get_bulk(keys)

        def enc_set(pairs: List[Tuple[bytes, bytes]] = pairs) -> object:
            return kb.encode_set_bulk(pairs)

        work["kt get_bulk parse %d" % n] = parse_reply
        work["kt get_bulk encode %d" % n] = enc_get
        work["kt set_bulk encode %d" % n] = enc_set
        work["kt set_bulk parse %d" % n] = parse_set
    return work


def _tt_workloads() -> Dict[str, Callable[[], object]]:
    try:
        from kt.protocol import tt_binary  # noqa: F401
    except ImportError:
        return {}
    from bench_tt_codec import tt_workloads  # type: ignore[import-not-found]

    return tt_workloads(VALUE)


def _tsv_workloads() -> Dict[str, Callable[[], object]]:
    try:
        from kt.protocol import kt_http  # noqa: F401
    except ImportError:
        return {}
    from bench_tsv_codec import tsv_workloads  # type: ignore[import-not-found]

    return tsv_workloads(VALUE)


def worker(min_time: float) -> None:
    from _builds import check_build

    check_build()
    work = {**_kt_workloads(), **_tt_workloads(), **_tsv_workloads()}
    result = {name: _timeit(fn, min_time) for name, fn in work.items()}
    print(json.dumps(result))


def main() -> None:
    from _builds import builds, run_worker

    quick = "--quick" in sys.argv
    min_time = "0.05" if quick else "0.15"
    # The builds run alternately, several rounds, keeping each workload's
    # best figure: a machine that is busy for a moment then penalises both
    # builds alike instead of skewing their ratio.
    figures: Dict[str, Dict[str, float]] = {}
    built = builds()
    for _ in range(2 if quick else 4):
        for build, path in built:
            result = run_worker(Path(__file__), build, path, [min_time])
            best = figures.setdefault(build, {})
            for name, value in result.items():
                best[name] = max(best.get(name, 0.0), value)
    pure, comp = figures["pure"], figures["compiled"]
    pypy = figures.get("pypy")
    print("%-28s %14s %14s %8s" % ("workload", "pure ops/s", "compiled ops/s", "ratio")
          + ("%14s %10s" % ("pypy ops/s", "pypy/pure") if pypy else ""))
    for name in pure:
        print("%-28s %14.0f %14.0f %7.2fx" % (name, pure[name], comp[name], comp[name] / pure[name])
              + ("%14.0f %9.2fx" % (pypy[name], pypy[name] / pure[name]) if pypy else ""))
    print()
    print("scaling: cost of 1,000 records / cost of 100 records (linear = 10x, target <= 12x)")
    for base in ("kt get_bulk parse", "kt get_bulk encode", "kt set_bulk encode", "kt set_bulk parse"):
        for build in ("pure", "compiled"):
            f = figures[build]
            print("  %-24s %-9s %5.1fx" % (base, build, f[base + " 100"] / f[base + " 1000"]))
    print()
    print("targets: compiled/pure >= 3x on 'kt get_bulk parse 1000' (%.2fx) and 'kt set_bulk encode 1000' (%.2fx)"
          % (comp["kt get_bulk parse 1000"] / pure["kt get_bulk parse 1000"],
             comp["kt set_bulk encode 1000"] / pure["kt set_bulk encode 1000"]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(float(sys.argv[2]))
    else:
        main()
