"""Command line of the differential fuzzer.

  python -m tools.difffuzz kyoto --kinds hash,tree,both --seeds 1-5 --ops 10000 \\
      --a builtin --b real

Prints one line per (kind, seed) with the number of operations whose answers
differ, the first divergences, and for the first one of each run the
shortest reproducing sequence it found.  Exit status 1 when any run diverged.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, List

from . import runner


def _seeds(text: str) -> List[int]:
    out: List[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(part))
    return out


def _log(text: str) -> None:
    print(text, flush=True)


def protocol(name: str) -> Any:
    if name in ("kyoto", "kt"):
        from . import kyoto
        return kyoto
    if name in ("tyrant", "tt"):
        from . import tyrant
        return tyrant
    raise SystemExit("unknown protocol %r" % name)


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.difffuzz", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("protocol", choices=["kyoto", "tyrant"])
    ap.add_argument("--kinds", default="", help="database kinds (default: all of the protocol)")
    ap.add_argument("--seeds", default="1", help="e.g. 1-5 or 3,7")
    ap.add_argument("--ops", type=int, default=1000, help="operations per run")
    ap.add_argument("--a", default="builtin", help="first server spec (see servers.py)")
    ap.add_argument("--b", default="real", help="second server spec")
    ap.add_argument("--show", type=int, default=5, help="divergences printed per run")
    ap.add_argument("--shrink", type=float, default=60.0,
                    help="seconds spent shrinking the first divergence of a run (0: none)")
    ap.add_argument("--retries", type=int, default=2,
                    help="runs redone when the first divergence does not come back on a "
                         "replay (timing; see runner.run_checked)")
    ns = ap.parse_args(argv)
    proto = protocol(ns.protocol)
    kinds = ns.kinds.split(",") if ns.kinds else list(proto.KINDS)
    specs = [ns.a, ns.b]
    total = 0
    for kind in kinds:
        for seed in _seeds(ns.seeds):
            ops = runner.generate(proto, kind, seed, ns.ops)
            t0 = time.monotonic()
            found, wasted = runner.run_checked(proto, specs, kind, ops, ns.retries, _log)
            total += len(found)
            print("%s %s seed %d: %d operations, %d divergent (%s vs %s, %.1fs%s)" % (
                ns.protocol, kind, seed, len(ops), len(found), ns.a, ns.b,
                time.monotonic() - t0,
                ", %d run(s) redone after a timing divergence" % wasted if wasted else ""),
                flush=True)
            for d in found[: ns.show]:
                print("  " + repr(d).replace("\n", "\n  "), flush=True)
            if found and ns.shrink > 0:
                seq, best = runner.shrink(proto, specs, kind, ops, found[0], ns.shrink)
                print(runner.repro_text(seq, best), flush=True)
    print("total divergent operations: %d" % total)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
