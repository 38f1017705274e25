"""The change stream (KyotoTycoon.replicate and its asyncio twin) against a
Kyoto Tycoon server keeping an update log: the built-in one always,
ktserver when installed (``-ulog DIR -sid 1``).

ktserver flushes its update log every 0.1 s, so a stream may catch up
before the last writes are readable: ``collect`` polls until the expected
number of changes arrived (a generous deadline, never a sleep as an
assertion).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from typing import Iterator, List

import pytest

from kt import AsyncKyotoTycoon, Change, KyotoTycoon, ProtocolError, ServerError
from servers import RunningServer, make_workdir, server_kinds

DEADLINE = 30.0


def ulog_server(impl: str, sid: int = 1, extra: List[str] = []) -> RunningServer:
    workdir = make_workdir("kt-test-ulog-")
    args = ["-ulog", os.path.join(workdir, "ulog"), "-sid", str(sid)] + extra
    return RunningServer("kyoto", impl, databases=["*", "%"], args=args, workdir=workdir)


@pytest.fixture(params=server_kinds("kyoto"))
def master(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    with ulog_server(request.param) as server:
        yield server


def collect(client: KyotoTycoon, count: int, since: int = 0, **kwargs: object) -> List[Change]:
    """At least ``count`` changes after ``since`` (polling until they came)."""
    out: List[Change] = []
    deadline = time.monotonic() + DEADLINE
    while len(out) < count:
        assert time.monotonic() < deadline, "only %d of %d changes: %r" % (len(out), count, out)
        for change in client.replicate(since=since, stop_when_caught_up=True, **kwargs):  # type: ignore[arg-type]
            out.append(change)
            since = change.ts
    return out


def shape(changes: List[Change]) -> List[tuple]:  # type: ignore[type-arg]
    return [(c.db, c.op, c.key, c.value) for c in changes]


def test_every_kind_of_change(master: RunningServer) -> None:
    client = KyotoTycoon(port=master.port)
    now = int(time.time())
    client.set("a", "1")
    client.set("b", "2", expire_time=100)
    client.remove("a")
    client.incr("n", 5)
    client.set("x", "y", db=1)
    client.clear(db=1)
    client.set_bulk({"k1": "v1", "k2": "v2"})
    client.append("k1", "+")
    changes = collect(client, 9)
    assert shape(changes) == [
        (0, "set", "a", "1"), (0, "set", "b", "2"), (0, "remove", "a", None),
        (0, "set", "n", "\x00" * 7 + "\x05"), (1, "set", "x", "y"), (1, "clear", None, None),
        (0, "set", "k1", "v1"), (0, "set", "k2", "v2"), (0, "set", "k1", "v1+")]
    assert [c.sid for c in changes] == [1] * 9
    assert all(a.ts < b.ts for a, b in zip(changes, changes[1:]))
    xts = [c.expire_time for c in changes]
    assert xts[0] is None and xts[1] is not None and now + 99 <= xts[1] <= now + 102
    # resuming after a change yields what follows it, nothing before
    assert shape(collect(client, 3, since=changes[5].ts)) == shape(changes[6:])
    raw = collect(client, 1, since=changes[3].ts, raw=True)[0]
    assert (raw.key, raw.value) == (b"x", b"y")


def test_purging_expired_records_is_not_logged(master: RunningServer) -> None:
    # (ktserver purges expired records below its update logger)
    client = KyotoTycoon(port=master.port)
    past = int(time.time()) - 10
    client.set("old", "x", expire_time=-past)  # an absolute time, already gone
    client.vacuum()
    client.set("after", "y")
    changes = collect(client, 2)
    assert shape(changes) == [(0, "set", "old", "x"), (0, "set", "after", "y")]
    assert changes[0].expire_time == past


def test_sid_filters(master: RunningServer) -> None:
    client = KyotoTycoon(port=master.port)
    client.set("k", "v")
    assert len(collect(client, 1)) == 1
    # the master's own id leaves its changes out; only_sid keeps only them
    assert list(client.replicate(sid=1, stop_when_caught_up=True)) == []
    assert shape(collect(client, 1, sid=1, only_sid=True)) == [(0, "set", "k", "v")]


def test_stream_resumes_after_a_restart(master: RunningServer) -> None:
    client = KyotoTycoon(port=master.port)
    for i in range(3):
        client.set("before%d" % i, "v")
    stream = client.replicate(retry_delay=0.05, retry_max=0.5)
    seen = [next(stream) for _ in range(3)]
    master.restart()  # the update log stays; the stream reconnects
    client.close()
    for i in range(3):
        client.set("after%d" % i, "v")
    seen += [next(stream) for _ in range(3)]
    stream.close()  # type: ignore[attr-defined]
    assert [c.key for c in seen] == ["before0", "before1", "before2", "after0", "after1", "after2"]


def test_async_stream(master: RunningServer) -> None:
    async def main() -> List[Change]:
        async with AsyncKyotoTycoon(port=master.port) as client:
            await client.set("k", "v")
            await client.remove("k")
            out: List[Change] = []
            deadline = time.monotonic() + DEADLINE
            since = 0
            while len(out) < 2 and time.monotonic() < deadline:
                async for change in client.replicate(since=since, stop_when_caught_up=True):
                    out.append(change)
                    since = change.ts
            return out

    assert shape(asyncio.run(main())) == [(0, "set", "k", "v"), (0, "remove", "k", None)]


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_no_update_log_is_a_server_error(impl: str) -> None:
    with RunningServer("kyoto", impl) as server:
        with pytest.raises(ServerError):
            next(KyotoTycoon(port=server.port).replicate())


def test_bad_stream_is_a_protocol_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(64)
        conn.sendall(b"\xb1\x42garbage")
        time.sleep(0.5)
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(ProtocolError):
            next(KyotoTycoon(port=listener.getsockname()[1]).replicate(max_retries=0))
    finally:
        thread.join()
        listener.close()


def test_bad_arguments_raise_before_connecting() -> None:
    client = KyotoTycoon(port=1)  # nothing listens there
    with pytest.raises(ValueError):
        client.replicate(sid=70000)
    with pytest.raises(TypeError):
        client.replicate(since="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.replicate(max_retries=-1)
