"""Request handling of both built-in servers without sockets: the pure
and the compiled build side by side, in one run.

    python bench/server_engines.py            # about half a minute
    python bench/server_engines.py --quick

Pre-encoded binary requests (keys of 10 bytes, values of 100 bytes, an
on-memory database; set and put also on a file database, whose journal
write is part of the figure) are fed to one session of each engine
(kt.server.kyoto.engine, kt.server.tyrant.engine) through ``process``, the
call the connection loop makes.  Figures are requests per second of CPU
time (``time.process_time``), so that other load on a shared machine
disturbs them far less than the socket benchmarks (bench/server_kyoto.py,
bench/server_tyrant.py), whose wall-clock figures it cannot isolate.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

# The workers import kt from the build on their PYTHONPATH, never from here.
sys.path.insert(0, str(Path(__file__).resolve().parent))

NKEYS = 2000
VALUE = bytes(range(100))


def _rate(session: object, requests: List[bytes], seconds: float) -> float:
    from kt.protocol.buffer import ReceiveBuffer

    data = b"".join(requests)
    process = session.process  # type: ignore[attr-defined]
    done = 0
    t0 = time.process_time()
    while True:
        buf = ReceiveBuffer()
        buf.feed(data)
        _, close = process(buf)
        assert not close
        done += len(requests)
        elapsed = time.process_time() - t0
        if elapsed >= seconds:
            return done / elapsed


def _worker(seconds: float) -> Dict[str, float]:
    from _builds import check_build

    from kt.protocol import kt_binary as kb
    from kt.protocol import tt_binary as tb
    from kt.server.kyoto.engine import KyotoEngine
    from kt.server.kyoto.storage import open_database as open_kyoto
    from kt.server.log import Logger
    from kt.server.tyrant.engine import TyrantEngine
    from kt.server.tyrant.storage import open_database as open_tyrant

    check_build()
    logger = Logger(None, None, "NONE")
    keys = [b"key-%06d" % i for i in range(NKEYS)]
    out: Dict[str, float] = {}
    kt = KyotoEngine([open_kyoto("*")], logger).session("bench")
    out["kyoto set"] = _rate(kt, [kb.encode_set_bulk([(k, VALUE)]) for k in keys], seconds)
    out["kyoto get"] = _rate(kt, [kb.encode_get_bulk([k]) for k in keys], seconds)
    out["kyoto get_bulk 100"] = _rate(
        kt, [kb.encode_get_bulk(keys[i:i + 100]) for i in range(0, NKEYS, 100)], seconds)
    tmp = tempfile.mkdtemp(prefix="kt-bench-engines-")
    ktf = KyotoEngine([open_kyoto(os.path.join(tmp, "b.kch"))], logger).session("bench")
    out["kyoto set (file .kch)"] = _rate(
        ktf, [kb.encode_set_bulk([(k, VALUE)]) for k in keys], seconds)
    tt = TyrantEngine(open_tyrant("*"), logger).session("bench")
    out["tyrant put"] = _rate(tt, [tb.encode_put(k, VALUE) for k in keys], seconds)
    ttf = TyrantEngine(open_tyrant(os.path.join(tmp, "b.tch")), logger).session("bench")
    out["tyrant put (file .tch)"] = _rate(ttf, [tb.encode_put(k, VALUE) for k in keys], seconds)
    out["tyrant get"] = _rate(tt, [tb.encode_get(k) for k in keys], seconds)
    out["tyrant mget 100"] = _rate(
        tt, [tb.encode_mget(keys[i:i + 100]) for i in range(0, NKEYS, 100)], seconds)
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    from _builds import builds, run_worker

    seconds = "0.5" if "--quick" in sys.argv else "1.5"
    columns = []
    for build, path in builds():
        print("measuring the %s build..." % build, file=sys.stderr, flush=True)
        columns.append((build, run_worker(Path(__file__), build, path, [seconds])))
    names = list(columns[0][1])
    print("%-22s" % "requests/s (CPU)" + "".join("%14s" % b for b, _ in columns)
          + "%18s" % "compiled/pure")
    for name in names:
        pure = columns[0][1][name]
        compiled = columns[1][1][name]
        print("%-22s" % name + "".join("%14.0f" % col[name] for _, col in columns)
              + "%18.2f" % (compiled / pure))
    print(json.dumps(dict(columns)), file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(float(sys.argv[2]))))
    else:
        main()
