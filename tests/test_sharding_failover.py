"""Failover of the sharded clients, by stopping servers mid-run: reads of a
shard go to its replica while its master is down, writes fail with
ServerConnectionError naming the master, nothing goes to another shard, the
failed master is retried after a back-off that doubles (on an injected
clock), and is used again once it is back.  Sync and async, both kinds,
built-in and real servers.

The "replica" here is a server given a copy of the master's records by the
test (replication itself is ktserver's/ttserver's business)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

import pytest

from kt import KyotoTycoon, ServerConnectionError, Shard, TokyoTyrant
from mirror import FLAVOURS
from servers import RunningServer, server_kinds
from test_sharding import sharded

KINDS = [(kind, impl) for kind in ("kyoto", "tyrant") for impl in server_kinds(kind)]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    """Shard "a" (master + replica) and shard "b" (master alone)."""

    def __init__(self, kind: str, impl: str) -> None:
        db = ["*"] if kind == "kyoto" else ["casket.tch"]
        self.kind = kind
        self.master_a, self.replica_a, self.master_b = (
            RunningServer(kind, impl, databases=db).start() for _ in range(3))

    def address(self, server: RunningServer) -> str:
        return "127.0.0.1:%d" % server.port

    def plain(self, server: RunningServer) -> Any:
        cls = KyotoTycoon if self.kind == "kyoto" else TokyoTyrant
        return cls(port=server.port, timeout=5.0)

    def shards(self) -> List[Shard]:
        return [Shard(self.address(self.master_a), [self.address(self.replica_a)], name="a"),
                Shard(self.address(self.master_b), name="b")]

    def stop(self) -> None:
        for server in (self.master_a, self.replica_a, self.master_b):
            server.stop()


@pytest.fixture(params=KINDS, ids=["-".join(k) for k in KINDS])
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    c = Cluster(*request.param)
    yield c
    c.stop()


def _key_on(client: Any, shard: str, start: int = 0) -> str:
    for i in range(start, 10_000):
        key = "key:%d" % i
        if client.shard_of(key) == shard:
            return key
    raise AssertionError("no key for shard %s" % shard)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_failover_by_stopping_a_master_mid_run(cluster: Cluster, flavour: str) -> None:
    clock = Clock()
    client = sharded(flavour, cluster.kind, cluster.shards(), clock=clock, timeout=5.0)
    ka, kb, ka2 = _key_on(client, "a"), _key_on(client, "b"), _key_on(client, "a", 500)
    master_a = cluster.address(cluster.master_a)
    replica = cluster.plain(cluster.replica_a)
    other = cluster.plain(cluster.master_b)

    client.set_bulk({ka: "1", kb: "2", ka2: "3"})
    replica.set_bulk({ka: "1", ka2: "3"})  # what replication would have copied
    assert client.get(ka) == "1" and client.down() == []

    port = cluster.master_a.port
    cluster.master_a.stop()
    # reads of shard a: from the replica
    assert client.get(ka) == "1"
    assert client.down() == [master_a]
    assert client.get_bulk([ka, kb, ka2]) == {ka: "1", kb: "2", ka2: "3"}
    assert client.count() == 3
    assert sorted(client.keys()) == sorted([ka, kb, ka2])
    # writes of shard a: an error naming the master; never another server
    with pytest.raises(ServerConnectionError, match="%s.*marked down" % master_a):
        client.set(ka, "x")
    with pytest.raises(ServerConnectionError, match=master_a):
        client.set_bulk({ka2: "y", kb: "z"})
    assert replica.get(ka) == "1" and replica.get(ka2) == "3"
    assert not other.exists(ka) and not other.exists(ka2)
    # shard b goes on
    assert client.set(kb, "4") and client.get(kb) == "4"

    # the back-off passes: the master is tried again, fails, waits twice as long
    clock.now += 1.5
    with pytest.raises(ServerConnectionError, match="%s.*2.0 s" % master_a):
        client.set(ka, "x")
    clock.now += 1.0  # 1 s of the 2 s: still marked down, reads from the replica
    assert client.down() == [master_a] and client.get(ka2) == "3"

    cluster.master_a.start(port)
    assert client.down() == [master_a]  # not asked before its time
    clock.now += 1.5
    assert client.down() == []
    assert client.set(ka, "new")
    assert client.get(ka) == "new" and replica.get(ka) == "1"  # read from the master
    client.close()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_whole_shard_down(cluster: Cluster, flavour: str) -> None:
    clock = Clock()
    client = sharded(flavour, cluster.kind, cluster.shards(), clock=clock, timeout=5.0,
                     retry_after=0.5, max_retry_after=1.0)
    ka, kb = _key_on(client, "a"), _key_on(client, "b")
    client.set(kb, "b")
    cluster.master_a.stop()
    cluster.replica_a.stop()
    addresses = [cluster.address(cluster.master_a), cluster.address(cluster.replica_a)]
    with pytest.raises(ServerConnectionError) as info:
        client.get(ka)
    assert all(a in str(info.value) for a in addresses) and "get" in str(info.value)
    with pytest.raises(ServerConnectionError, match="every server of shard 'a'"):
        client.get(ka)
    with pytest.raises(ServerConnectionError):
        client.get_bulk([ka, kb])
    with pytest.raises(ServerConnectionError):
        client.count()
    assert client.get(kb) == "b"  # the other shard answers
    assert sorted(client.down()) == sorted(addresses)
    for _ in range(3):  # the back-off stops doubling at max_retry_after
        clock.now += 5
        with pytest.raises(ServerConnectionError, match="marked down for 1.0 s"):
            client.set(ka, "x")
    client.close()
