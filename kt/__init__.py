"""kt: a typed client library for Kyoto Tycoon and Tokyo Tyrant.

``AsyncKyotoTycoon`` and ``AsyncTokyoTyrant`` (kt.aio) are the asyncio
clients, ``AsyncShardedKyotoTycoon`` and ``AsyncShardedTokyoTyrant``
(kt.aio_sharding) their sharded twins, imported on first use.  The protocol layer (``kt.protocol``) is plain typed Python that can be
compiled with mypyc; ``kt.COMPILED`` says whether the compiled modules are
the ones in use.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES as _EXT
from typing import TYPE_CHECKING

from kt import protocol as _protocol
from kt.errors import (
    ImproperlyConfigured,
    KyotoTycoonError,
    ProtocolError,
    ServerConnectionError,
    ServerError,
    ShardingError,
    TokyoTyrantError,
)
from kt.protocol import buffer as _buffer
from kt.protocol import convert as _convert
from kt.protocol import http as _http
from kt.protocol import kt_binary as _kt_binary
from kt.protocol import kt_http as _kt_http
from kt.protocol import kt_tsv as _kt_tsv
from kt.protocol import tt_binary as _tt_binary
from kt.protocol import tt_table as _tt_table
from kt.embedded import EmbeddedServer, EmbeddedTokyoTyrantServer, ServerStartError
from kt.kyoto import Change, Cursor, KyotoTycoon
from kt.lua import lua_script_path
from kt.table import (
    INDEX_NUM,
    INDEX_QGRAM,
    INDEX_STR,
    INDEX_TOKEN,
    OP_FTS_ALL,
    OP_FTS_ANY,
    OP_FTS_EXPRESSION,
    OP_FTS_PHRASE,
    OP_NEGATE,
    OP_NOINDEX,
    OP_NUM_ANYEXACT,
    OP_NUM_BETWEEN,
    OP_NUM_EQ,
    OP_NUM_GE,
    OP_NUM_GT,
    OP_NUM_LE,
    OP_NUM_LT,
    OP_STR_ALL,
    OP_STR_ANY,
    OP_STR_ANYEXACT,
    OP_STR_CONTAINS,
    OP_STR_ENDSWITH,
    OP_STR_EQ,
    OP_STR_REGEX,
    OP_STR_STARTSWITH,
    ORDER_NUM_ASC,
    ORDER_NUM_DESC,
    ORDER_STR_ASC,
    ORDER_STR_DESC,
    QueryBuilder,
)
from kt.tyrant import TokyoTyrant
from kt.sharding import Shard, ShardedKyotoTycoon, ShardedTokyoTyrant
from kt.serializers import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    TT_TABLE,
)

if TYPE_CHECKING:
    from kt.aio import AsyncCursor, AsyncKyotoTycoon, AsyncTokyoTyrant
    from kt.aio_sharding import AsyncShardedKyotoTycoon, AsyncShardedTokyoTyrant

__version__ = "0.1.0"


def _is_compiled(*modules: object) -> bool:
    for module in modules:
        path = getattr(module, "__file__", None) or ""
        if not path.endswith(tuple(_EXT)):
            return False
    return True


#: True when the mypyc-compiled protocol modules are the ones imported.
COMPILED: bool = _is_compiled(
    _buffer, _convert, _http, _kt_binary, _kt_http, _kt_tsv, _tt_binary, _tt_table
)

del _protocol


def __getattr__(name: str) -> object:
    # The asyncio clients are imported on first use, so that synchronous
    # users do not pay for importing asyncio.
    if name in ("AsyncKyotoTycoon", "AsyncTokyoTyrant", "AsyncCursor"):
        from kt import aio

        return getattr(aio, name)
    if name in ("AsyncShardedKyotoTycoon", "AsyncShardedTokyoTyrant"):
        from kt import aio_sharding

        return getattr(aio_sharding, name)
    raise AttributeError("module 'kt' has no attribute %r" % name)


__all__ = [
    "AsyncCursor",
    "AsyncKyotoTycoon",
    "AsyncShardedKyotoTycoon",
    "AsyncShardedTokyoTyrant",
    "AsyncTokyoTyrant",
    "COMPILED",
    "Change",
    "Cursor",
    "EmbeddedServer",
    "EmbeddedTokyoTyrantServer",
    "INDEX_NUM",
    "INDEX_QGRAM",
    "INDEX_STR",
    "INDEX_TOKEN",
    "KyotoTycoon",
    "OP_FTS_ALL",
    "OP_FTS_ANY",
    "OP_FTS_EXPRESSION",
    "OP_FTS_PHRASE",
    "OP_NEGATE",
    "OP_NOINDEX",
    "OP_NUM_ANYEXACT",
    "OP_NUM_BETWEEN",
    "OP_NUM_EQ",
    "OP_NUM_GE",
    "OP_NUM_GT",
    "OP_NUM_LE",
    "OP_NUM_LT",
    "OP_STR_ALL",
    "OP_STR_ANY",
    "OP_STR_ANYEXACT",
    "OP_STR_CONTAINS",
    "OP_STR_ENDSWITH",
    "OP_STR_EQ",
    "OP_STR_REGEX",
    "OP_STR_STARTSWITH",
    "ORDER_NUM_ASC",
    "ORDER_NUM_DESC",
    "ORDER_STR_ASC",
    "ORDER_STR_DESC",
    "QueryBuilder",
    "TokyoTyrant",
    "ImproperlyConfigured",
    "KT_BINARY",
    "KT_JSON",
    "KT_MSGPACK",
    "KT_NONE",
    "KT_PICKLE",
    "KyotoTycoonError",
    "ProtocolError",
    "ServerConnectionError",
    "ServerError",
    "ServerStartError",
    "Shard",
    "ShardedKyotoTycoon",
    "ShardedTokyoTyrant",
    "ShardingError",
    "TT_TABLE",
    "TokyoTyrantError",
    "__version__",
    "lua_script_path",
]
