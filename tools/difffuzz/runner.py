"""Runs one seeded operation sequence against two servers, compares the
normalised answers and shrinks a divergent sequence.  Called by
``__main__`` and by the differential tests."""

from __future__ import annotations

import gc
import random
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple

from .servers import Server

Op = Tuple[Any, ...]


class Divergence:
    def __init__(self, index: int, op: Op, a: object, b: object) -> None:
        self.index = index
        self.op = op
        self.a = a
        self.b = b

    def __repr__(self) -> str:
        return "#%d %s\n%s" % (self.index, fmt_op(self.op), show_diff(self.a, self.b))


def _items(x: object) -> Optional[List[object]]:
    """The list inside an answer (a list, or a (status, list) pair)."""
    if isinstance(x, list):
        return x
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], list):
        return x[1]
    return None


def show_diff(a: object, b: object, width: int = 600) -> str:
    """Both answers, or for long lists only the elements that differ."""
    la, lb = _items(a), _items(b)
    text = "    A: %r\n    B: %r" % (a, b)
    if la is None or lb is None or len(text) < width:
        return text
    only_a = [x for x in la if x not in lb]
    only_b = [x for x in lb if x not in la]
    head = "    (status/answer: A %r, B %r)\n" % (a[0] if isinstance(a, tuple) else "",
                                                   b[0] if isinstance(b, tuple) else "")
    if not only_a and not only_b:
        pos = next((i for i, (x, y) in enumerate(zip(la, lb)) if x != y), min(len(la), len(lb)))
        return head + "    same elements, order differs from #%d: A %r / B %r" % (
            pos, la[pos:pos + 3], lb[pos:pos + 3])
    return head + "    only in A: %r\n    only in B: %r" % (only_a[:10], only_b[:10])


def fmt_op(op: Op) -> str:
    return "%s(%s)" % (op[0], ", ".join(repr(x) for x in op[1:]))


def generate(proto: Any, kind: str, seed: int, count: int) -> List[Op]:
    rng = random.Random("%s/%s/%d" % (proto.NAME, kind, seed))
    gen = proto.Generator(rng, kind)
    return [gen.op() for _ in range(count)]


class Pair:
    """Two started servers with one session each."""

    def __init__(self, proto: Any, specs: Sequence[str], kind: str) -> None:
        self.proto = proto
        self.kind = kind
        dbs = proto.KINDS[kind]
        self.servers = [Server(spec, proto.NAME, dbs) for spec in specs]
        errors: List[BaseException] = []

        def start(server: Server) -> None:
            try:
                server.start()
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            raise errors[0]
        self.sessions = [proto.Session(s, kind) for s in self.servers]
        for session in self.sessions:
            session.reset()

    def run(self, ops: Sequence[Op], stop_first: bool = False,
            limit: int = 1 << 30) -> List[Divergence]:
        found: List[Divergence] = []
        sa, sb = self.sessions
        # no garbage collection pauses: ktserver expires records after 0.1 s
        # without a request, and a pause between two requests would let it
        gc.collect()
        gc.disable()
        try:
            for i, op in enumerate(ops):
                ra = sa.execute(op)
                rb = sb.execute(op)
                if ra != rb:
                    found.append(Divergence(i, op, ra, rb))
                    if stop_first or len(found) >= limit:
                        break
        finally:
            gc.enable()
        return found

    def stop(self) -> None:
        for session in getattr(self, "sessions", []):
            session.close()
        for server in self.servers:
            server.stop()


class Spares:
    """Fresh server pairs started in the background while the previous
    attempt runs (shrinking restarts servers for every attempt)."""

    def __init__(self, proto: Any, specs: Sequence[str], kind: str) -> None:
        self.args = (proto, specs, kind)
        self.box: List[Any] = []
        self.thread: Optional[threading.Thread] = None
        self._start()

    def _start(self) -> None:
        box: List[Any] = []

        def make() -> None:
            try:
                box.append(Pair(*self.args))
            except BaseException as exc:  # re-raised by take()
                box.append(exc)

        self.box = box
        self.thread = threading.Thread(target=make, daemon=True)
        self.thread.start()

    def take(self) -> Pair:
        assert self.thread is not None
        self.thread.join()
        got = self.box[0]
        self._start()
        if isinstance(got, BaseException):
            raise got
        return got

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()
            if self.box and isinstance(self.box[0], Pair):
                self.box[0].stop()
            self.thread = None


def run_checked(proto: Any, specs: Sequence[str], kind: str, ops: Sequence[Op],
                retries: int = 2, log: Any = None) -> Tuple[List[Divergence], int]:
    """Run ``ops``; when the first divergence does not come back on a
    replay from scratch it was timing (ktserver's idle-time expiration runs
    after 0.1 s without a request, which a loaded machine can cause between
    two requests): run the whole sequence again, up to ``retries`` times.
    Returns the divergences and how many runs were thrown away."""
    wasted = 0
    while True:
        pair = Pair(proto, specs, kind)
        try:
            found = pair.run(ops)
        finally:
            pair.stop()
        if not found or wasted >= retries:
            return found, wasted
        first = found[0]
        again = first_divergence(proto, specs, kind, ops[: first.index + 1])
        if again is not None and again.index == first.index:
            return found, wasted
        wasted += 1
        if log:
            log("  #%d did not come back on a replay (timing): running again" % first.index)


def first_divergence(proto: Any, specs: Sequence[str], kind: str,
                     ops: Sequence[Op], spares: Optional[Spares] = None) -> Optional[Divergence]:
    pair = spares.take() if spares is not None else Pair(proto, specs, kind)
    try:
        found = pair.run(ops, stop_first=True)
    finally:
        pair.stop()
    return found[0] if found else None


def shrink(proto: Any, specs: Sequence[str], kind: str, ops: Sequence[Op],
           div: Divergence, budget: float = 120.0, log: Any = None) -> Tuple[List[Op], Divergence]:
    """Remove operations while the sequence still diverges on an operation of
    the same name; stops after ``budget`` seconds."""
    name = div.op[0]
    seq = list(ops[: div.index + 1])
    best = div
    deadline = time.monotonic() + budget

    spares = Spares(proto, specs, kind)

    def attempt(candidate: List[Op]) -> Optional[Divergence]:
        d = first_divergence(proto, specs, kind, candidate, spares)
        if d is not None and d.op[0] == name:
            return d
        return None

    try:
        return _ddmin(seq, best, attempt, deadline, log)
    finally:
        spares.close()


def _ddmin(seq: List[Op], best: Divergence, attempt: Any, deadline: float,
           log: Any) -> Tuple[List[Op], Divergence]:
    # first the prefix: most of a long run is usually irrelevant
    lo = 0
    hi = len(seq) - 1
    while lo < hi and time.monotonic() < deadline:
        mid = (lo + hi + 1) // 2
        d = attempt(seq[mid:])
        if d is not None:
            seq, best = seq[mid:][: d.index + 1], d
            hi = len(seq) - 1
            lo = 0
        else:
            hi = mid - 1

    chunk = max(1, len(seq) // 2)
    while time.monotonic() < deadline:
        changed = False
        start = len(seq) - 1 - chunk  # never remove the divergent op itself first
        while start >= 0 and time.monotonic() < deadline:
            candidate = seq[:start] + seq[start + chunk:]
            d = attempt(candidate)
            if d is not None:
                seq, best, changed = candidate[: d.index + 1], d, True
                if log:
                    log("  shrunk to %d operations" % len(seq))
                start = min(start, len(seq) - 1) - chunk
            else:
                start -= chunk
        if not changed:
            if chunk == 1:
                break
            chunk = max(1, chunk // 2)
    return seq, best


def repro_text(seq: Sequence[Op], div: Divergence) -> str:
    lines = ["shortest reproducing sequence found (%d operations):" % len(seq)]
    for i, op in enumerate(seq):
        lines.append("  %3d %s" % (i, fmt_op(op)))
    lines.append("  the last one answers differently:")
    lines.append(show_diff(div.a, div.b))
    return "\n".join(lines)
