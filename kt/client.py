"""What the KyotoTycoon and TokyoTyrant clients have in common.

``PooledClient`` checks the constructor arguments, sets up the serializer
and the connection pool (kt.connection), and provides the connection
management methods of the documented API (checkin, close, close_all,
close_idle, the context manager).  Each client adds its protocol.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, TypeVar

from kt.connection import ConnectionPool
from kt.protocol.convert import text
from kt.serializers import KT_BINARY, KT_MSGPACK, KT_NONE, Serializer

__all__ = ["PooledClient", "merge_items"]

_C = TypeVar("_C", bound="PooledClient")


def merge_items(data: Optional[Mapping[Any, Any]], kwargs: Mapping[str, Any]) -> Dict[Any, Any]:
    """The records of a ``(__data=None, **kwargs)`` call, as one dict."""
    items: Dict[Any, Any] = {}
    if data is not None:
        items.update(data)
    if kwargs:
        items.update(kwargs)
    return items


class PooledClient:
    """Serializer, key decoding and a connection pool to one server."""

    def __init__(
        self,
        host: str,
        port: int,
        serializer: Serializer,
        decode_keys: bool,
        timeout: Optional[float],
        max_connections: Optional[int],
        pool_timeout: Optional[float],
        connect_timeout: Optional[float],
        max_idle_time: Optional[float],
        socket_module: Any,
    ) -> None:
        if not isinstance(host, str):
            raise TypeError("host must be a str, not %s" % type(host).__name__)
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError("port must be an int, not %s" % type(port).__name__)
        if not hasattr(serializer, "encode") or not hasattr(serializer, "decode"):
            raise TypeError("serializer must have encode() and decode() methods")
        if serializer is KT_MSGPACK:
            KT_MSGPACK.check()  # type: ignore[attr-defined]
        self.host = host
        self.port = port
        self.serializer = serializer
        self.decode_keys = decode_keys
        self.timeout = timeout
        self._encode = serializer.encode
        self._decode = serializer.decode
        # KT_BINARY and KT_NONE values are converted in compiled loops
        # (kt.protocol.convert) rather than one serializer call per record.
        self._text_values: Optional[bool] = (
            True if serializer is KT_BINARY else False if serializer is KT_NONE else None)
        self._pool = ConnectionPool(
            host, port, timeout=timeout, connect_timeout=connect_timeout,
            max_connections=max_connections, pool_timeout=pool_timeout,
            max_idle_time=max_idle_time, socket_module=socket_module,
        )

    @property
    def pool(self) -> ConnectionPool:
        return self._pool

    def _key_out(self, key: bytes) -> Any:
        return text(key) if self.decode_keys else key

    def checkin(self) -> None:
        """Kept for compatibility: connections go back to the pool after each
        request already, so there is nothing to return."""

    def close(self) -> None:
        """Close the idle connections of this client (used ones close when
        they come back).  The client stays usable: the next request
        reconnects."""
        self._pool.close_all()

    def close_all(self) -> int:
        """Close every pooled connection; returns how many were idle."""
        return self._pool.close_all()

    def close_idle(self, older_than: float = 0.0) -> int:
        """Close connections idle for more than ``older_than`` seconds."""
        return self._pool.close_idle(older_than)

    def __enter__(self: _C) -> _C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
