"""Crash tests of the built-in servers' file databases: SIGKILL at a random
moment loses no acknowledged write.

A writer thread sends a random mix of writes (set, set_bulk, remove, cas,
increments, table puts) and records the state every acknowledged write
leaves; the test kills the server with SIGKILL once the writer has had a
randomly chosen number of writes acknowledged (an operation count, never a
time), restarts it on the same files, and checks every key: each holds
exactly what the last acknowledged write left, except the keys of the one
write in flight, which may hold either state.  A second writer variant
asks for a snapshot (``synchronize`` / ``sync``, which folds the journal in)
every few writes, so that some kills land in the middle of one.

Built-in servers only: ktserver and ttserver lose writes on B+ tree files.
"""

from __future__ import annotations

import os
import random
import signal
import struct
import threading
from typing import Callable, Dict, List, Optional, Set

import pytest

from kt import KyotoTycoon, TokyoTyrant
from kt.serializers import KT_NONE, TT_TABLE
from servers import RunningServer

State = Dict[bytes, Optional[object]]

CASES = [
    ("kyoto", "crash.kch"), ("kyoto", "crash.kct"),
    ("tyrant", "crash.tch"), ("tyrant", "crash.tcb"), ("tyrant", "crash.tct"),
]
SEEDS = [1, 2, 3]


class Writer:
    """Random writes until the connection breaks; ``expected`` holds the
    state acknowledged for each key, ``uncertain`` the keys of the write
    that was in flight."""

    def __init__(self, kind: str, db: str, port: int, seed: int, kill_at: int,
                 snapshot_every: int) -> None:
        self.kind = kind
        self.table = db.endswith(".tct")
        # On a B+ tree, misc putlist (TokyoTyrant.set_bulk) adds duplicates,
        # as ttserver's tcbdbputdup does: bulk writes there go to new keys,
        # so that each key keeps one record and get() tells its state.
        self.tree = kind == "tyrant" and db.endswith(".tcb")
        self.fresh = 0
        self.rng = random.Random(seed)
        self.kill_at = kill_at
        self.snapshot_every = snapshot_every
        self.acked = 0
        self.expected: State = {}
        self.uncertain: Set[bytes] = set()
        self.reached = threading.Event()
        self.error: Optional[BaseException] = None
        #: What ended the writing (expected: the connection, once killed).
        self.stopped_by: Optional[Exception] = None
        if kind == "kyoto":
            self.kt = KyotoTycoon("127.0.0.1", port, serializer=KT_NONE, timeout=30)
        else:
            self.tt = TokyoTyrant("127.0.0.1", port, serializer=TT_TABLE if self.table else KT_NONE,
                                  timeout=30)

    def key(self) -> bytes:
        return b"k%03d" % self.rng.randrange(150)

    def bulk_key(self) -> bytes:
        if not self.tree:
            return self.key()
        self.fresh += 1
        return b"n%05d" % self.fresh

    def value(self) -> bytes:
        return b"v%d-" % self.rng.randrange(1 << 30) + b"x" * self.rng.randrange(40)

    def run(self) -> None:
        try:
            while True:
                self.step()
                self.acked += 1
                if self.acked >= self.kill_at:
                    self.reached.set()
        except Exception as exc:  # the server died under the write in flight
            self.stopped_by = exc
        except BaseException as exc:  # pragma: no cover
            self.error = exc
        finally:
            self.reached.set()

    def step(self) -> None:
        if self.snapshot_every and self.acked % self.snapshot_every == 0:
            if self.kind == "kyoto":
                self.kt.synchronize()
            else:
                self.tt.synchronize()
        choice = self.rng.random()
        if self.table:
            self.table_step(choice)
        else:
            self.kv_step(choice)

    def _write(self, keys: List[bytes], action: Callable[[], None]) -> None:
        self.uncertain = set(keys)
        action()
        self.uncertain = set()

    def kv_step(self, choice: float) -> None:
        """set (KT: some with an expiration time), set_bulk, remove,
        remove_bulk, incr; KT also cas."""
        key = self.key()
        client = self.kt if self.kind == "kyoto" else self.tt
        exp = self.expected
        if choice < 0.4:
            value = self.value()
            if self.kind == "kyoto" and choice < 0.1:
                self._write([key], lambda: self.kt.set(key, value, expire_time=3600))
            else:
                self._write([key], lambda: client.set(key, value))
            exp[key] = value
        elif choice < 0.55:
            items = {self.bulk_key(): self.value() for _ in range(self.rng.randrange(1, 20))}
            self._write(list(items), lambda: client.set_bulk(items))
            exp.update(items)
        elif choice < 0.7:
            self._write([key], lambda: client.remove(key))
            exp[key] = None
        elif choice < 0.8:
            keys = [self.key() for _ in range(5)]
            self._write(keys, lambda: client.remove_bulk(keys))
            for k in keys:
                exp[k] = None
        elif choice < 0.9 or self.kind != "kyoto":
            ckey = b"c%d" % self.rng.randrange(5)
            result: List[int] = []
            self._write([ckey], lambda: result.append(client.incr(ckey, self.rng.randrange(1, 9))))
            exp[ckey] = struct.pack(">q" if self.kind == "kyoto" else "<i", result[0])
        else:
            old = exp.get(key)
            new = self.value()
            ok: List[bool] = []
            self._write([key], lambda: ok.append(self.kt.cas(key, old, new)))
            if ok[0]:
                exp[key] = new

    def table_step(self, choice: float) -> None:
        key = self.key()
        tt = self.tt
        exp = self.expected
        if choice < 0.5:
            row = {"name": self.value().decode(), "n": str(self.rng.randrange(1000))}
            self._write([key], lambda: tt.set(key, row))
            exp[key] = row
        elif choice < 0.65:
            rows = {self.key(): {"name": self.value().decode()} for _ in range(self.rng.randrange(1, 10))}
            self._write(list(rows), lambda: tt.set_bulk(rows))
            exp.update(rows)
        elif choice < 0.85:
            self._write([key], lambda: tt.remove(key))
            exp[key] = None
        else:
            keys = [self.key() for _ in range(5)]
            self._write(keys, lambda: tt.remove_bulk(keys))
            for k in keys:
                exp[k] = None

    def read(self, key: bytes) -> Optional[object]:
        if self.kind == "kyoto":
            return self.kt.get(key)
        value = self.tt.get(key)
        if self.table and value is not None:
            return {k: v for k, v in value.items()}
        return value


def _crash_and_check(kind: str, db: str, seed: int, snapshot_every: int, tmp: str) -> None:
    rng = random.Random(seed * 7919 + len(db))
    kill_at = rng.randrange(100, 600)
    args = ["-oas"] if seed == 3 else []  # one seed with fsync per write
    server = RunningServer(kind, "builtin", databases=[db], args=args, workdir=tmp).start()
    try:
        if db.endswith(".tct"):
            TokyoTyrant("127.0.0.1", server.port).set_index("name", 0)  # a lexical index
        writer = Writer(kind, db, server.port, seed, kill_at, snapshot_every)
        thread = threading.Thread(target=writer.run, daemon=True)
        thread.start()
        assert writer.reached.wait(120), "the writer stalled"
        proc = server.proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        thread.join(60)
        assert not thread.is_alive() and writer.error is None
        assert writer.acked >= kill_at, "the writer stopped before the kill: %r" % (
            writer.stopped_by,)
        server.restart()
        checker = Writer(kind, db, server.port, seed, 0, 0)
        wrong = {}
        for key, want in writer.expected.items():
            if key in writer.uncertain:
                continue
            got = checker.read(key)
            if got != want:
                wrong[key] = (want, got)
        assert not wrong, "%d of %d keys differ after SIGKILL at write %d: %r" % (
            len(wrong), len(writer.expected), writer.acked, sorted(wrong.items())[:3])
        if db.endswith(".tct"):
            assert checker.tt.set_index("name", 0, check_exists=True) is False  # still there
    finally:
        server.stop()


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind,db", CASES)
def test_sigkill_loses_no_acknowledged_write(kind: str, db: str, seed: int,
                                             tmp_path: "os.PathLike[str]") -> None:
    _crash_and_check(kind, db, seed, 0, str(tmp_path))


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("kind,db", [("kyoto", "crash.kch"), ("tyrant", "crash.tcb")])
def test_sigkill_during_snapshots(kind: str, db: str, seed: int,
                                  tmp_path: "os.PathLike[str]") -> None:
    _crash_and_check(kind, db, seed, 7, str(tmp_path))
