"""Ketama placement (kt.ketama) and the sharded clients' configuration,
without servers: known answers worked out from the algorithm, the spread of
keys, how many move when a server is added, and agreement with an
independent ketama implementation (uhashring, a test dependency)."""

from __future__ import annotations

from collections import Counter
from hashlib import md5
from typing import List

import pytest

from kt import KT_JSON, Shard, ShardedKyotoTycoon, ShardedTokyoTyrant
from kt.ketama import Continuum, key_hash, server_points

THREE = ["127.0.0.1:1978", "127.0.0.1:1979", "127.0.0.1:1980"]
KEYS = [b"key:%d" % i for i in range(100_000)]


def test_key_hash_is_the_first_little_endian_word_of_md5() -> None:
    # md5("") = d41d8cd9 8f00b204..., md5("a") = 0cc175b9 c0f1b6a8...
    assert key_hash(b"") == 0xD98C1DD4 == 3649838548
    assert key_hash(b"a") == 0xB975C10C == 3111502092


def test_server_points_are_four_words_of_md5_of_name_dash_index() -> None:
    # md5("127.0.0.1:11211-0") = e2fa569a 4ecf5e58 ab09bf98 d948c859
    assert server_points("127.0.0.1:11211", 1) == [
        0x9A56FAE2, 0x585ECF4E, 0x98BF09AB, 0x59C848D9]
    points = server_points("127.0.0.1:11211", 40)
    assert len(points) == 160
    digest = md5(b"127.0.0.1:11211-39").digest()
    assert points[-1] == int.from_bytes(digest[12:16], "little")


def test_key_goes_to_the_first_point_at_or_after_its_hash() -> None:
    ring = Continuum(["a:1", "b:1"], [1, 1])
    points = sorted((p, 0) for p in server_points("a:1", 40)) + sorted(
        (p, 1) for p in server_points("b:1", 40))
    points.sort()
    for key in [b"x", b"y", b"user:42", b"\xff\x00"]:
        h = key_hash(key)
        after = [owner for p, owner in points if p >= h]
        assert ring.index(key) == (after[0] if after else points[0][1])
    # a key hashing exactly onto a point belongs to that point's server
    assert len(ring) == 320


def test_known_placements() -> None:
    ring = Continuum(["10.0.0.1:1978", "10.0.0.2:1978", "10.0.0.3:1978"], [1, 1, 1])
    assert [ring.name(k) for k in [b"foo", b"bar", b"user:1", b"user:2",
                                   "\u00e9t\u00e9".encode()]] == [
        "10.0.0.1:1978", "10.0.0.2:1978", "10.0.0.3:1978", "10.0.0.2:1978", "10.0.0.1:1978"]


def test_distribution_over_three_servers_is_within_ten_percent() -> None:
    ring = Continuum(THREE, [1, 1, 1])
    counts = Counter(ring.index(k) for k in KEYS)
    even = len(KEYS) / 3
    assert sorted(counts) == [0, 1, 2]
    for n in counts.values():
        assert abs(n - even) <= 0.10 * even, counts


def test_adding_a_fourth_server_moves_about_a_quarter_of_the_keys() -> None:
    before = Continuum(THREE, [1, 1, 1])
    after = Continuum(THREE + ["127.0.0.1:1981"], [1, 1, 1, 1])
    moved = [k for k in KEYS if before.index(k) != after.index(k)]
    assert 0.20 <= len(moved) / len(KEYS) <= 0.30
    # and every key that moved went to the new server: none between old ones
    assert {after.index(k) for k in moved} == {3}


def test_weights_scale_the_share_of_keys() -> None:
    ring = Continuum(THREE, [1, 2, 3])
    assert len(ring) == 480  # 40 * 3 * w / 6 digests each: 20, 40, 60
    counts = Counter(ring.index(k) for k in KEYS)
    for index, weight in enumerate([1, 2, 3]):
        share = len(KEYS) * weight / 6
        assert abs(counts[index] - share) <= 0.25 * share, counts


@pytest.mark.parametrize("weights", [[1, 1, 1], [1, 2, 3], [5, 1, 1, 2]])
def test_placement_matches_uhashring(weights: List[int]) -> None:
    uhashring = pytest.importorskip("uhashring")
    names = ["kt%d.example:%d" % (i, 1978 + i) for i in range(len(weights))]
    ring = Continuum(names, weights)
    reference = uhashring.HashRing(nodes=dict(zip(names, weights)), hash_fn="ketama")
    assert reference.get_points() == sorted(
        (p, n) for n, w in zip(names, weights)
        for p in server_points(n, 40 * len(names) * w // sum(weights)))
    keys = ["user:%d" % i for i in range(10_000)]
    mine = [ring.name(k.encode()) for k in keys]
    theirs = [reference.get_node(k) for k in keys]
    assert mine == theirs


def test_continuum_rejects_bad_configurations() -> None:
    with pytest.raises(ValueError):
        Continuum([], [])
    with pytest.raises(ValueError):
        Continuum(["a:1", "a:1"], [1, 1])
    with pytest.raises(ValueError):
        Continuum(["a:1"], [0])
    with pytest.raises(TypeError):
        Continuum(["a:1"], [1.5])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        Continuum(["a:1"], [1, 2])


def test_server_forms_and_names() -> None:
    client = ShardedKyotoTycoon(["127.0.0.1:1", ("127.0.0.1", 2), ("127.0.0.1", 3, 2),
                                 Shard("127.0.0.1:4", ["127.0.0.1:5"], name="four"),
                                 ["127.0.0.1:6", ("127.0.0.1", 7), "127.0.0.1:8"]],
                                serializer=KT_JSON, timeout=1.0)
    assert [s.name for s in client.shards] == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3",
                                              "four", "127.0.0.1:6"]
    assert [s.weight for s in client.shards] == [1, 1, 2, 1, 1]
    assert client.shards[4].replicas == [("127.0.0.1", 7), ("127.0.0.1", 8)]
    assert [c.port for c in client.clients()] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(c.serializer is KT_JSON for c in client.clients())
    name = client.shard_of("some key")
    assert client.client_for("some key").address == (
        "127.0.0.1:4" if name == "four" else name)
    assert client.shard_of(b"some key") == name
    assert client.down() == []
    assert "four" in repr(client)
    client.close()


def test_placement_is_the_same_for_both_clients_and_other_ketama_clients() -> None:
    kt_client = ShardedKyotoTycoon(THREE)
    tt_client = ShardedTokyoTyrant(THREE)
    ring = Continuum(THREE, [1, 1, 1])
    for i in range(200):
        key = "k%d" % i
        assert kt_client.shard_of(key) == tt_client.shard_of(key) == ring.name(key.encode())


@pytest.mark.parametrize("servers, error", [
    ([], ValueError), ("127.0.0.1:1978", ValueError), (["localhost"], ValueError),
    (["host:port"], ValueError), ([("h", "1")], TypeError), ([1978], TypeError),
    ([("h", 1, 0)], ValueError), ([("h", 1, "2")], TypeError),
    (["h:1", "h:1"], ValueError), ([[]], ValueError), ([["h:1", "h"]], ValueError),
])
def test_bad_server_lists_raise(servers: object, error: type) -> None:
    with pytest.raises(error):
        ShardedKyotoTycoon(servers)  # type: ignore[arg-type]


def test_bad_keywords_raise() -> None:
    with pytest.raises(TypeError, match="host"):
        ShardedKyotoTycoon(THREE, host="x")
    with pytest.raises(TypeError):
        ShardedKyotoTycoon(THREE, no_such_argument=1)
    with pytest.raises(ValueError):
        ShardedKyotoTycoon(THREE, retry_after=0)
    with pytest.raises(TypeError):
        ShardedKyotoTycoon(THREE).get(1)  # type: ignore[arg-type]


def test_one_shard_takes_every_key_and_still_checks_them() -> None:
    client = ShardedKyotoTycoon(["127.0.0.1:1"])
    assert client.shard_of("anything") == "127.0.0.1:1"
    with pytest.raises(TypeError):
        client.shard_of(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.get_bulk(["a", 2])
    with pytest.raises(TypeError):
        client.set_bulk({"a": 1})  # KT_BINARY: str or bytes values
