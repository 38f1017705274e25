"""kt: a typed client library for Kyoto Tycoon and Tokyo Tyrant.

The protocol layer (``kt.protocol``) is plain typed Python that can be
compiled with mypyc; ``kt.COMPILED`` says whether the compiled modules are
the ones in use.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES as _EXT

from kt import protocol as _protocol
from kt.errors import (
    ImproperlyConfigured,
    KyotoTycoonError,
    ProtocolError,
    ServerConnectionError,
    ServerError,
    TokyoTyrantError,
)
from kt.protocol import buffer as _buffer
from kt.protocol import kt_binary as _kt_binary
from kt.serializers import (
    KT_BINARY,
    KT_JSON,
    KT_MSGPACK,
    KT_NONE,
    KT_PICKLE,
    TT_TABLE,
)

__version__ = "0.1.0"


def _is_compiled(*modules: object) -> bool:
    for module in modules:
        path = getattr(module, "__file__", None) or ""
        if not path.endswith(tuple(_EXT)):
            return False
    return True


#: True when the mypyc-compiled protocol modules are the ones imported.
COMPILED: bool = _is_compiled(_buffer, _kt_binary)

del _protocol

__all__ = [
    "COMPILED",
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
    "TT_TABLE",
    "TokyoTyrantError",
    "__version__",
]
