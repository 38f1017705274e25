"""The mutation journal (kt.server.journal) and the file databases built on
it, in process: the record codec, torn and damaged journals and snapshots,
a crash between writing a snapshot and emptying the journal, and the
servers' answer to a damaged file at start-up (a clear error naming the
file and offset, never a traceback or an empty database).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kt.server.journal import (
    OP_CLEAR, OP_REMOVE, OP_SET, SYNC_ALWAYS, SYNC_NONE, Journal, encode, read_journal,
)
from kt.server.kyoto.storage import DBError, open_database, save_records
from kt.server.snapshot import SnapshotError
from kt.server.tyrant import storage as tts

records_st = st.lists(st.tuples(st.sampled_from([OP_SET, OP_REMOVE, OP_CLEAR]),
                                st.lists(st.binary(max_size=40), max_size=4)), max_size=20)


def _write(path: str, records: List[Tuple[int, List[bytes]]]) -> None:
    journal = Journal(path, SYNC_NONE)
    for op, fields in records:
        journal.append(encode(op, fields))
    journal.close()


@given(records_st)
def test_journal_round_trip(tmp_path_factory: pytest.TempPathFactory,
                            records: List[Tuple[int, List[bytes]]]) -> None:
    path = str(tmp_path_factory.mktemp("j") / "x.journal")
    _write(path, records)
    assert read_journal(path) == (records, None)


@given(records_st.filter(bool), st.data())
def test_torn_last_record_is_dropped_with_a_warning(tmp_path_factory: pytest.TempPathFactory,
                                                    records: List[Tuple[int, List[bytes]]],
                                                    data: st.DataObject) -> None:
    path = str(tmp_path_factory.mktemp("j") / "x.journal")
    _write(path, records)
    last = len(encode(*records[-1]))
    size = os.path.getsize(path)
    cut = data.draw(st.integers(1, last - 1))
    with open(path, "r+b") as f:
        f.truncate(size - cut)
    got, warning = read_journal(path)
    assert got == records[:-1]
    assert warning is not None and "x.journal" in warning and "offset %d" % (size - last) in warning


def test_damage_before_the_end_names_file_and_offset(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "x.journal")
    records = [(OP_SET, [b"k%d" % i, b"value"]) for i in range(5)]
    _write(path, records)
    second = len(encode(*records[0]))
    with open(path, "r+b") as f:
        f.seek(second + 12)
        byte = f.read(1)
        f.seek(second + 12)
        f.write(bytes((byte[0] ^ 0x40,)))
    with pytest.raises(SnapshotError) as info:
        read_journal(path)
    assert info.value.offset == second and info.value.path == path
    assert "offset %d" % second in str(info.value)


def test_missing_journal_is_empty(tmp_path: "os.PathLike[str]") -> None:
    assert read_journal(os.path.join(str(tmp_path), "none.journal")) == ([], None)


def test_batched_records_are_written_at_end(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "x.journal")
    journal = Journal(path, SYNC_ALWAYS)
    journal.begin()
    journal.append(encode(OP_SET, [b"a", b"1"]))
    journal.append(encode(OP_REMOVE, [b"b"]))
    assert os.path.getsize(path) == 0
    journal.end()
    journal.close()
    assert read_journal(path)[0] == [(OP_SET, [b"a", b"1"]), (OP_REMOVE, [b"b"])]


# -- the Kyoto Tycoon databases -------------------------------------------------


def _kt_fill(path: str) -> None:
    """Writes through the journal, then 'dies' (no close, no snapshot)."""
    db = open_database(path)
    db.set(b"a", b"1")
    db.set_bulk([(b"b", b"2"), (b"c", b"3")], 100)
    db.remove(b"b")
    assert db.increment(b"n", 5) == 5
    assert db.cas(b"a", b"1", b"one")
    db.clear()
    db.set(b"after", b"clear")
    db.set(b"x", b"last")
    assert db.journal is not None
    db.journal.close()  # the process dies: the file stays as it is


def test_kt_journal_replays_after_a_crash(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "a.kch")
    _kt_fill(path)
    db = open_database(path)
    assert [(k, v) for k, v, _ in db.items()] == [(b"after", b"clear"), (b"x", b"last")]
    assert os.path.getsize(path + ".journal") == 0  # folded into the snapshot


def test_kt_torn_journal_keeps_the_rest(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "a.kct")
    _kt_fill(path)
    with open(path + ".journal", "r+b") as f:
        f.truncate(os.path.getsize(path + ".journal") - 3)
    from kt.server.kyoto import storage
    del storage.open_warnings[:]
    db = open_database(path)
    assert [(k, v) for k, v, _ in db.items()] == [(b"after", b"clear")]
    assert len(storage.open_warnings) == 1 and "incomplete" in storage.open_warnings[0]
    del storage.open_warnings[:]


def test_kt_crash_between_snapshot_and_journal_reset(tmp_path: "os.PathLike[str]") -> None:
    """The snapshot already holds what the journal says: replaying it again
    changes nothing (records are states, not commands)."""
    path = os.path.join(str(tmp_path), "a.kch")
    db = open_database(path)
    for i in range(50):
        db.set(b"k%d" % i, b"v%d" % i)
        db.increment(b"n", 1)
    db.remove(b"k3")
    save_records(path, db.type, db.items(), False)  # the snapshot, then death
    assert db.journal is not None
    db.journal.close()
    with open(path + ".journal.tmp", "wb") as f:  # a half-made journal reset
        f.write(b"junk")
    again = open_database(path)
    assert again.items() == db.items()
    assert again.increment(b"n", 0) == 50


def test_kt_damaged_files_are_clear_errors(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(str(tmp_path), "a.kch")
    _kt_fill(path)
    with open(path + ".journal", "r+b") as f:
        f.seek(10)
        f.write(b"\xff")
    with pytest.raises(DBError) as info:
        open_database(path)
    assert "a.kch.journal" in info.value.message and "offset 0" in info.value.message
    os.remove(path + ".journal")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(b"\x00\xff")
    with pytest.raises(DBError) as info:
        open_database(path)
    assert "a.kch" in info.value.message and "offset" in info.value.message


# -- the Tokyo Tyrant databases -------------------------------------------------


@pytest.mark.parametrize("name", ["a.tch", "a.tcb", "a.tcf", "a.tct"])
def test_tt_journal_replays_every_kind(tmp_path: "os.PathLike[str]", name: str) -> None:
    path = os.path.join(str(tmp_path), name)
    db = tts.open_database(path)
    value = b"name\x00x\x00n\x002" if name.endswith("tct") else b"v"
    for i in range(1, 30):
        assert db.put(b"%d" % i, value)
    assert db.out(b"3")
    assert db.misc(b"putlist", [b"40", value, b"41", value]) == []
    assert db.misc(b"outlist", [b"40"]) == []
    if name.endswith("tcb"):
        assert db.misc(b"putdup", [b"5", b"dup"]) == []
    if name.endswith("tct"):
        assert db.misc(b"setindex", [b"name", b"lexical"]) == []
        assert db.misc(b"genuid", []) == [b"1"]
    else:
        assert db.addint(b"9999" if name.endswith("tcf") else b"cnt", 3) == 3
    if name.endswith("tcf"):
        assert db.optimize(b"width=64")
    before = [(k, db.get(k)) for k in sorted(_keys(db))]
    assert db.journal is not None
    db.journal.close()  # death
    again = tts.open_database(path)
    assert [(k, again.get(k)) for k in sorted(_keys(again))] == before
    assert again.rnum() == db.rnum()
    if name.endswith("tct"):
        assert again.misc(b"genuid", []) == [b"2"]
        assert again.misc(b"setindex", [b"name", b"lexical"]) == []
    if name.endswith("tcb"):
        assert again.misc(b"getlist", [b"5"]) == [b"5", b"v", b"5", b"dup"]
    if name.endswith("tcf"):
        assert isinstance(again, tts.FixedDatabase) and again.width == 64


def _keys(db: tts.Database) -> List[bytes]:
    db.iterinit()
    return list(iter(db.iternext, None))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind,name", [("kyoto", "bad.kct"), ("tyrant", "bad.tct")])
def test_servers_refuse_a_damaged_journal_clearly(tmp_path: "os.PathLike[str]", kind: str,
                                                  name: str) -> None:
    path = os.path.join(str(tmp_path), name)
    if kind == "kyoto":
        _kt_fill(path)
    else:
        db = tts.open_database(path)
        for i in range(5):
            db.put(b"%d" % i, b"c\x00v")
        assert db.journal is not None
        db.journal.close()
    with open(path + ".journal", "r+b") as f:
        f.seek(9)
        f.write(b"\xfe")
    proc = subprocess.run([sys.executable, "-m", "kt.server", kind, "-port", "0", name],
                          cwd=str(tmp_path), capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "Traceback" not in err
    assert name + ".journal" in err and "offset 0" in err and "damaged" in err


def test_kt_concurrent_snapshots_lose_nothing(tmp_path: "os.PathLike[str]") -> None:
    """Snapshots from several threads while another writes: one at a time,
    each forgetting only the journal records it holds."""
    import threading

    path = os.path.join(str(tmp_path), "a.kch")
    db = open_database(path)
    stop = threading.Event()

    def snapshots() -> None:
        while not stop.is_set():
            db.synchronize()

    threads = [threading.Thread(target=snapshots) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(3000):
            db.set(b"k%d" % (i % 200), b"v%d" % i)
            if i % 7 == 0:
                db.remove(b"k%d" % ((i * 3) % 200))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert db.journal is not None
    db.journal.close()  # death
    assert open_database(path).items() == db.items()
