"""The built-in Kyoto Tycoon server's update log (kt.server.kyoto.ulog) and
its hook in the storage, without a server process: files, rotation,
readers following the files, a torn tail, removal, and what each change
of a database writes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import List, Tuple

from kt.protocol import kt_repl as kr
from kt.server.kyoto.storage import XT_MAX, Database, open_database
from kt.server.kyoto.ulog import DatabaseLogger, UpdateLog


def entries(ulog: UpdateLog, since: int = 0) -> List[kr.UpdateLogEntry]:
    reader = ulog.reader(since)
    out: List[kr.UpdateLogEntry] = []
    while True:
        batch = reader.read()
        if not batch:
            return out
        out.extend(kr.decode_message(ts, m) for ts, m in batch)


def shape(es: List[kr.UpdateLogEntry]) -> List[Tuple[object, ...]]:
    return [(e.sid, e.db, e.op, e.key, e.value) for e in es]


def test_every_change_is_logged_with_its_state(tmp_path: Path) -> None:
    ulog = UpdateLog(str(tmp_path / "ulog"))
    db = open_database("%")
    db.ulog = DatabaseLogger(ulog, 7, 1)
    db.set(b"a", b"1")
    db.append(b"a", b"2")
    assert db.increment(b"n", 3) == 3
    db.set(b"t", b"x", -2000000000)  # absolute expiration time
    db.remove(b"a")
    db.remove(b"missing")  # nothing happened: nothing logged
    db.set_bulk([(b"b1", b"v"), (b"b2", b"v")])
    db.remove_bulk([b"b1"])
    db.clear()
    got = entries(ulog)
    assert shape(got) == [
        (7, 1, "set", b"a", b"1"), (7, 1, "set", b"a", b"12"),
        (7, 1, "set", b"n", (3).to_bytes(8, "big")), (7, 1, "set", b"t", b"x"),
        (7, 1, "remove", b"a", None), (7, 1, "set", b"b1", b"v"), (7, 1, "set", b"b2", b"v"),
        (7, 1, "remove", b"b1", None), (7, 1, "clear", b"", None)]
    assert got[0].xt == XT_MAX and got[3].xt == 2000000000
    assert all(a.ts < b.ts for a, b in zip(got, got[1:]))
    ulog.close()


def test_applied_changes_keep_their_origin(tmp_path: Path) -> None:
    ulog = UpdateLog(str(tmp_path / "ulog"))
    db = Database("*", 32)
    db.ulog = DatabaseLogger(ulog, 1, 0)
    db.apply_change("set", b"k", b"v", 1234567890, 9)
    db.apply_change("remove", b"gone", b"", XT_MAX, 9)  # relogged even if absent
    db.apply_change("clear", b"", b"", XT_MAX, 9)
    db.set(b"own", b"v")
    assert [(e.sid, e.op) for e in entries(ulog)] == [(9, "set"), (9, "remove"), (9, "clear"),
                                                      (1, "set")]
    ulog.close()


def test_rotation_readers_and_removal(tmp_path: Path) -> None:
    ulog = UpdateLog(str(tmp_path / "ulog"), limit=200)
    stamps = [ulog.write(kr.encode_message(1, 0, kr.encode_record(kr.OP_SET, b"k%d" % i,
                                                                    b"v" * 20, XT_MAX)))
              for i in range(30)]
    files = ulog.list_files()
    assert len(files) > 3 and [os.path.basename(p) for p, _, _ in files][0] == "0000000001.ulog"
    assert [e.key for e in entries(ulog)] == [b"k%d" % i for i in range(30)]
    assert [e.key for e in entries(ulog, stamps[14])] == [b"k%d" % i for i in range(15, 30)]
    # removal keeps the current file and every file with a later change
    assert ulog.remove_files(stamps[14]) == []
    left = ulog.list_files()
    assert len(left) < len(files) and left[-1] == ulog.list_files()[-1]
    assert [e.key for e in entries(ulog, stamps[14])] == [b"k%d" % i for i in range(15, 30)]
    ulog.close()


def test_reopened_log_continues_its_clock_and_drops_a_torn_tail(tmp_path: Path) -> None:
    path = str(tmp_path / "ulog")
    ulog = UpdateLog(path)
    last = ulog.write(kr.encode_message(1, 0, kr.encode_record(kr.OP_CLEAR, b"", b"", 0)))
    ulog.close()
    with open(os.path.join(path, "0000000001.ulog"), "ab") as f:
        f.write(b"\xa1\x00\x00")  # a record cut short by a crash
    ulog = UpdateLog(path)
    assert ulog.write(kr.encode_message(1, 0, kr.encode_record(kr.OP_CLEAR, b"", b"", 0))) > last
    assert [e.op for e in entries(ulog)] == ["clear", "clear"]
    ulog.close()


def test_a_waiting_reader_is_woken_by_a_write(tmp_path: Path) -> None:
    ulog = UpdateLog(str(tmp_path / "ulog"))
    reader = ulog.reader(0)
    assert reader.read() == []
    writes = ulog.writes
    woke = threading.Event()

    def wait() -> None:
        ulog.wait(writes, 30.0)
        woke.set()

    thread = threading.Thread(target=wait)
    thread.start()
    ulog.write(kr.encode_message(1, 0, kr.encode_record(kr.OP_CLEAR, b"", b"", 0)))
    thread.join(30.0)
    assert woke.is_set() and len(reader.read()) == 1
    ulog.close()
