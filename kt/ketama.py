"""Ketama consistent hashing: which server of a list a key belongs to.

Who calls it: kt.sharding (the sharded clients place every key with a
``Continuum``), tests and users who want to see where keys go.

The continuum is the one of libketama and libmemcached's
MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED mode, so that another ketama client
given the same server names and weights places keys on the same servers:

* each server gets ``floor(40 * n * weight / total_weight)`` "digests"
  (n servers; 40 each, so 160 points, when the weights are equal);
* digest ``i`` of a server named ``name`` is the MD5 of ``"name-i"``
  (libmemcached names a server ``host:port``, which is kt's default name);
* each 16-byte digest gives 4 points on a 32-bit circle, the little-endian
  32-bit words at offsets 0, 4, 8 and 12;
* a key's hash is the little-endian 32-bit word at offset 0 of the MD5 of
  the key's bytes (UTF-8 for a str), and the key belongs to the server of
  the first point at or after it, wrapping around to the first point.

Two points of different servers landing on the same value (rare: 2**32
values) go to the server listed last, as in uhashring.  uhashring looks a
key up with the first point strictly *after* its hash; libketama and
libmemcached, and kt, with the first point at or after it: the two differ
only for a key whose hash is exactly a point.
"""

from __future__ import annotations

from bisect import bisect_left
from hashlib import md5
from typing import Dict, List, Sequence

__all__ = ["Continuum", "key_hash", "server_points", "POINTS_PER_DIGEST", "DIGESTS_PER_SERVER"]

#: Points taken from one MD5 digest.
POINTS_PER_DIGEST = 4
#: Digests of a server of average weight (40 digests, 160 points).
DIGESTS_PER_SERVER = 40


def _word(digest: bytes, offset: int) -> int:
    return int.from_bytes(digest[offset:offset + 4], "little")


def key_hash(key: bytes) -> int:
    """The ketama hash of a key.

    Args:
        key: the key's bytes.

    Returns:
        The little-endian 32-bit word at the start of the key's MD5.
    """
    return _word(md5(key).digest(), 0)


def server_points(name: str, digests: int) -> List[int]:
    """The points of one server on the continuum.

    Args:
        name: the server's name (``host:port`` by default).
        digests: how many digests the server gets (40 for an average weight).

    Returns:
        ``4 * digests`` points, in the order they are made.
    """
    points: List[int] = []
    raw = name.encode("utf-8")
    for i in range(digests):
        digest = md5(b"%s-%d" % (raw, i)).digest()
        for j in range(POINTS_PER_DIGEST):
            points.append(_word(digest, 4 * j))
    return points


class Continuum:
    """The ketama circle of a list of servers.

    Args:
        names: the servers' names, each once.
        weights: their weights (positive ints), one per name.

    Raises:
        ValueError: no names, a name given twice, a weight below 1, or
            lists of different lengths.
        TypeError: a weight that is not an int.
    """

    def __init__(self, names: Sequence[str], weights: Sequence[int]) -> None:
        if not names:
            raise ValueError("a continuum needs at least one server")
        if len(names) != len(weights):
            raise ValueError("one weight per server name")
        if len(set(names)) != len(names):
            raise ValueError("server names must be distinct: %r" % (list(names),))
        for weight in weights:
            if isinstance(weight, bool) or not isinstance(weight, int):
                raise TypeError("a weight must be an int, not %s" % type(weight).__name__)
            if weight < 1:
                raise ValueError("a weight must be at least 1, not %d" % weight)
        self.names = list(names)
        self.weights = list(weights)
        total = sum(weights)
        owner: Dict[int, int] = {}
        for index, (name, weight) in enumerate(zip(names, weights)):
            digests = DIGESTS_PER_SERVER * len(names) * weight // total
            for point in server_points(name, digests):
                owner[point] = index
        self._points = sorted(owner)
        self._owners = [owner[p] for p in self._points]

    def __len__(self) -> int:
        """Number of points on the circle."""
        return len(self._points)

    def index(self, key: bytes) -> int:
        """Where a key belongs.

        Args:
            key: the key's bytes.

        Returns:
            The position in ``names`` of the server the key belongs to.
        """
        i = bisect_left(self._points, key_hash(key))
        return self._owners[i if i < len(self._points) else 0]

    def name(self, key: bytes) -> str:
        """The name of the server a key belongs to.

        Args:
            key: the key's bytes.

        Returns:
            One of ``names``.
        """
        return self.names[self.index(key)]
