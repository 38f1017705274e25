"""The snapshot file format of both built-in servers (kt.server.snapshot):
a damaged or truncated file gives one clear error naming the file and the
byte offset, for every database kind."""

from __future__ import annotations

import os
from typing import Callable, List

import pytest

from kt.server.kyoto.storage import DBError, load_records, save_records
from kt.server.kyoto.storage import open_database as open_kyoto
from kt.server.snapshot import SnapshotError, SnapshotReader, SnapshotWriter
from kt.server.tyrant.storage import StorageError
from kt.server.tyrant.storage import open_database as open_tyrant
from kt.server.tyrant.table import TableDatabase


def _write(path: str, body: List[bytes]) -> None:
    out = SnapshotWriter(path, b"TESTMAGI", False)
    for part in body:
        out.write(part)
    out.commit()


def test_round_trip_and_reader_bounds(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "f.snap")
    _write(path, [b"\x00\x00\x00\x05hello", b"\x07"])
    reader = SnapshotReader(path, b"TESTMAGI", "a test file")
    assert reader.u32() == 5 and reader.raw(5) == b"hello" and reader.u8() == 7
    reader.finish()
    with pytest.raises(SnapshotError) as info:
        reader.u32()
    assert info.value.path == path and info.value.offset == 18
    assert not os.path.exists(path + ".tmp")


def _damage_each_way(path: str, load: Callable[[], object], error: type) -> None:
    with open(path, "rb") as f:
        data = f.read()
    cases = {
        "truncated": data[:len(data) // 2],
        "bit-flipped": data[:20] + bytes([data[20] ^ 0x10]) + data[21:],
        "cut trailer": data[:-3],
        "foreign": b"SQLite format 3\x00" + data[16:],
    }
    for what, damaged in cases.items():
        with open(path, "wb") as f:
            f.write(damaged)
        with pytest.raises(error) as info:
            load()
        text = str(info.value)
        assert path in text and "offset" in text, (what, text)


def test_kyoto_files(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "k.kch")
    save_records(path, 0x30, [(b"k%d" % i, b"v" * i, 1 << 40) for i in range(50)], True)
    assert len(load_records(path)[1]) == 50
    _damage_each_way(path, lambda: load_records(path), SnapshotError)
    _damage_each_way(path, lambda: open_kyoto(path), DBError)


@pytest.mark.parametrize("name", ["h.tch", "b.tcb", "f.tcf", "t.tct"])
def test_tyrant_files(tmp_path: object, name: str) -> None:
    path = os.path.join(str(tmp_path), name)
    db = open_tyrant(path)
    for i in range(1, 40):
        key = b"%d" % i
        if isinstance(db, TableDatabase):
            assert db.misc(b"put", [key, b"name", b"x" * i, b"n", key]) == []
        else:
            assert db.put(key, b"v" * i)
    db.close()
    db.sync()
    assert open_tyrant(path).rnum() == 39
    _damage_each_way(path, lambda: open_tyrant(path), StorageError)
