"""Replication between Kyoto Tycoon servers: the built-in master and slave
always; with ktserver installed also a real master with a built-in slave,
a built-in master with a real slave, and a dual-master pair (one of each,
each the other's master).  Servers converge on the same records after
mixed writes, expirations, removals, clears and increments; a slave
restarted with its -rts file resumes without a gap or a duplicate (its
own update log holds each of the master's changes exactly once).

Convergence is polled with a generous deadline, never asserted after a
sleep.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from kt import KyotoTycoon
from servers import RunningServer, make_workdir, server_kinds

DEADLINE = 60.0
Records = List[Tuple[object, ...]]

PAIRS = [("builtin", "builtin")]
if "real" in server_kinds("kyoto"):
    PAIRS += [("real", "builtin"), ("builtin", "real")]


def server(impl: str, sid: int, master: Optional[RunningServer] = None, ulog: bool = True,
           files: bool = False, workdir: Optional[str] = None) -> RunningServer:
    """A server with an update log (and an RTS file, so that
    tune_replication works), replicating from ``master`` if given."""
    workdir = workdir or make_workdir("kt-test-repl-")
    args = ["-sid", str(sid), "-rts", os.path.join(workdir, "rts")]
    if ulog:
        args += ["-ulog", os.path.join(workdir, "ulog")]
    if master is not None:
        args += ["-mhost", master.host, "-mport", str(master.port)]
    dbs = [os.path.join(workdir, "a.kch"), os.path.join(workdir, "b.kct")] if files else ["*", "%"]
    running = RunningServer("kyoto", impl, databases=dbs, args=args, workdir=workdir)
    # ktserver cannot reach a master on a port above 32767, as it cannot
    # listen there
    running._manager.port_max = 32767
    return running


def records(client: KyotoTycoon, db: int) -> Records:
    keys = client.match_prefix("", db=db)
    return sorted(client.get_bulk_details(keys, db=db, decode_values=False))


def converge(a: KyotoTycoon, b: KyotoTycoon, dbs: Tuple[int, ...] = (0, 1)) -> Dict[int, Records]:
    """Poll until both servers hold the same records; returns them."""
    deadline = time.monotonic() + DEADLINE
    while True:
        left = {db: records(a, db) for db in dbs}
        right = {db: records(b, db) for db in dbs}
        if left == right:
            return left
        assert time.monotonic() < deadline, "no convergence:\n%r\n%r" % (left, right)
        time.sleep(0.05)


def mixed_writes(c: KyotoTycoon, tag: str) -> None:
    now = int(time.time())
    for i in range(20):
        c.set("%s-k%d" % (tag, i), "v%d" % i)
    c.set("%s-timed" % tag, "t", expire_time=300)
    c.set("%s-gone" % tag, "expired already", expire_time=-(now - 10))
    c.remove("%s-k3" % tag)
    c.incr("%s-n" % tag, 5)
    c.incr("%s-n" % tag, 2)
    c.incr_double("%s-d" % tag, 1.5)
    c.append("%s-k4" % tag, "+")
    c.add("%s-k5" % tag, "never stored")
    c.replace("%s-k6" % tag, "replaced")
    c.cas("%s-k7" % tag, "v7", "swapped")
    c.set_bulk({"%s-b%d" % (tag, i): "bulk" for i in range(5)}, db=1)
    c.remove_bulk(["%s-b0" % tag, "%s-b1" % tag], db=1)
    c.clear(db=1)
    c.set("%s-after-clear" % tag, "x", db=1)


def expected_keys(tag: str) -> List[str]:
    return sorted(["%s-k%d" % (tag, i) for i in range(20) if i != 3]
                  + ["%s-timed" % tag, "%s-n" % tag, "%s-d" % tag])


@pytest.fixture(params=PAIRS, ids=["%s->%s" % p for p in PAIRS])
def pair(request: pytest.FixtureRequest) -> Iterator[Tuple[RunningServer, RunningServer]]:
    master_impl, slave_impl = request.param
    with server(master_impl, 1) as master:
        with server(slave_impl, 2, master) as slave:
            yield master, slave


def test_master_to_slave(pair: Tuple[RunningServer, RunningServer]) -> None:
    master, slave = pair
    m, s = KyotoTycoon(port=master.port), KyotoTycoon(port=slave.port)
    mixed_writes(m, "m")
    state = converge(m, s)
    assert [r[1] for r in state[0]] == expected_keys("m")
    assert [r[1] for r in state[1]] == ["m-after-clear"]
    timed = [r for r in state[0] if r[1] == "m-timed"][0]
    assert timed[3] is not None  # the same absolute expiration time on both
    assert s.report().get("repl_master_port") == str(master.port)


@pytest.mark.parametrize("master_impl,slave_impl", PAIRS, ids=["%s->%s" % p for p in PAIRS])
def test_restarted_slave_resumes_without_gap_or_duplicate(master_impl: str,
                                                          slave_impl: str) -> None:
    with server(master_impl, 1) as master:
        m = KyotoTycoon(port=master.port)
        workdir = make_workdir("kt-test-repl-slave-")
        slave = server(slave_impl, 2, master, files=True, workdir=workdir).start()
        try:
            s = KyotoTycoon(port=slave.port)
            for i in range(10):
                m.set("first%d" % i, "v")
            converge(m, s)
            slave.stop()
            for i in range(10):
                m.set("second%d" % i, "v")
            m.remove("first0")
            m.incr("counter", 3)
            slave.restart()
            s.close()
            state = converge(m, s)
            assert len(state[0]) == 20
            # the slave logged every change of the master once, in order
            mine = [(c.op, c.key) for c in m.replicate(sid=1, only_sid=True,
                                                        stop_when_caught_up=True)]
            theirs: List[Tuple[str, object]] = []
            deadline = time.monotonic() + DEADLINE
            while len(theirs) < len(mine) and time.monotonic() < deadline:
                theirs = [(c.op, c.key) for c in s.replicate(sid=1, only_sid=True,
                                                             stop_when_caught_up=True)]
            assert theirs == mine
        finally:
            slave.stop()


@pytest.mark.skipif("real" not in server_kinds("kyoto"), reason="ktserver is not installed")
def test_dual_master_real_and_builtin() -> None:
    with server("builtin", 11) as a:
        with server("real", 12, a) as b:
            ca, cb = KyotoTycoon(port=a.port), KyotoTycoon(port=b.port)
            assert ca.tune_replication(b.host, b.port)
            mixed_writes(ca, "a")
            mixed_writes(cb, "b")
            converge(ca, cb, (0,))
            # clears and removals travel both ways too (one at a time: a
            # clear racing a write on the other master may land on either
            # side of it, as with ktserver)
            ca.clear(db=1)
            converge(ca, cb, (1,))
            cb.set("late", "x", db=1)
            converge(ca, cb, (1,))
            cb.remove("a-k1")
            ca.remove("b-k1")
            ca.incr("shared", 1)
            state = converge(ca, cb)
            keys = [r[1] for r in state[0]]
            assert "a-k1" not in keys and "b-k1" not in keys and "shared" in keys
            assert len(keys) == 2 * (len(expected_keys("a")) - 1) + 1


def test_builtin_slave_follows_tune_replication() -> None:
    with server("builtin", 1) as first, server("builtin", 3) as second:
        with server("builtin", 2) as slave:
            s = KyotoTycoon(port=slave.port)
            assert s.report().get("repl_master_host") is None
            KyotoTycoon(port=first.port).set("from-first", "1")
            KyotoTycoon(port=second.port).set("from-second", "2")
            assert s.tune_replication(first.host, first.port)
            converge(KyotoTycoon(port=first.port), s, (0,))
            assert s.tune_replication(second.host, second.port, timestamp=0)
            deadline = time.monotonic() + DEADLINE
            while s.get("from-second") is None:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert s.get("from-first") == "1"


@pytest.mark.parametrize("impl", server_kinds("kyoto"))
def test_ulog_procedures(impl: str) -> None:
    with server(impl, 1) as master:
        c = KyotoTycoon(port=master.port)
        c.set("k", "v")
        deadline = time.monotonic() + DEADLINE
        while True:
            files = c.ulog_list()
            if files and files[-1][2] > 0:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(files) == 1 and files[0][0].endswith("0000000001.ulog") and files[0][1] > 17
        assert c.ulog_remove() is True  # the current file stays
        assert len(c.ulog_list()) == 1


@pytest.mark.skipif("real" not in server_kinds("kyoto"), reason="ktserver is not installed")
@pytest.mark.parametrize("writer,reader", [("builtin", "real"), ("real", "builtin")])
def test_update_log_files_are_interchangeable(writer: str, reader: str) -> None:
    """A log directory one server wrote streams the same changes when the
    other server opens it (and goes on with later time stamps)."""
    workdir = make_workdir("kt-test-ulog-files-")
    with server(writer, 1, workdir=workdir) as first:
        c = KyotoTycoon(port=first.port)
        c.set("a", "1", expire_time=500)
        c.set("b", "2", db=1)
        c.remove("a")
        c.clear(db=1)
        written = []
        deadline = time.monotonic() + DEADLINE
        while len(written) < 4 and time.monotonic() < deadline:
            written = list(c.replicate(stop_when_caught_up=True))
    with server(reader, 1, workdir=workdir) as second:
        c = KyotoTycoon(port=second.port)
        c.set("later", "x")
        read = []
        deadline = time.monotonic() + DEADLINE
        while len(read) < 5 and time.monotonic() < deadline:
            read = list(c.replicate(stop_when_caught_up=True))
    assert len(written) == 4 and read[:4] == written
    assert read[4].key == "later" and read[4].ts > written[-1].ts


@pytest.mark.parametrize("args,message", [
    (["-ulog", "ulog"], "update log requires the server ID"),
    (["-mhost", "127.0.0.1", "-rts", "rts"], "replication requires the server ID"),
    (["-mhost", "127.0.0.1", "-sid", "2"], "replication requires the replication time stamp file"),
])
def test_builtin_refuses_incomplete_replication_options(args: List[str], message: str) -> None:
    workdir = make_workdir("kt-test-repl-opts-")
    proc = subprocess.run([sys.executable, "-m", "kt.server", "kyoto", "-port", "0"] + args,
                          cwd=workdir, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and message in proc.stderr
