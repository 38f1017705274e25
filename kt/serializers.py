"""Value serializers.

A serializer turns a Python value into the bytes stored on the server and
back.  The clients take one as their ``serializer`` argument; any object with
``encode(value) -> bytes`` and ``decode(data: bytes) -> value`` methods works,
so applications can bring their own.

* ``KT_BINARY`` (default): ``str`` is stored as UTF-8 and ``bytes`` as they
  are; reading gives ``str``, or ``bytes`` when the stored data is not valid
  UTF-8 (nothing is lost or replaced).
* ``KT_JSON``: JSON text, UTF-8 encoded.
* ``KT_MSGPACK``: msgpack (needs the optional ``msgpack`` package; without it
  using this serializer raises ImproperlyConfigured).
* ``KT_PICKLE``: Python's pickle.  Only read data you wrote yourself: unpickling
  untrusted bytes can run arbitrary code.
* ``KT_NONE``: no conversion: values are ``bytes`` (or ``str``, stored as
  UTF-8, as the original library allowed; anything else raises TypeError)
  and reads give ``bytes``.
* ``TT_TABLE``: for Tokyo Tyrant table databases: a value is a dict of
  column name to column value (``str`` or ``bytes``); reads give a dict of
  ``str`` to ``str`` (``bytes`` for data that is not valid UTF-8).
"""

from __future__ import annotations

import json
import pickle
from typing import Any, Dict, Mapping, Protocol, Union

from kt.errors import ImproperlyConfigured
from kt.protocol.convert import text, to_bytes
from kt.protocol.tt_binary import decode_columns, encode_columns

__all__ = [
    "KT_BINARY",
    "KT_JSON",
    "KT_MSGPACK",
    "KT_NONE",
    "KT_PICKLE",
    "TT_TABLE",
    "Serializer",
    "encode_text",
    "decode_text",
]


class Serializer(Protocol):
    """What a client needs from a serializer."""

    name: str

    def encode(self, value: Any) -> bytes:
        ...

    def decode(self, data: bytes) -> Any:
        ...


def encode_text(value: object, what: str = "value") -> bytes:
    """``str`` -> UTF-8, ``bytes``-like -> bytes; TypeError for anything else."""
    return to_bytes(value, what)


def decode_text(data: bytes) -> Union[str, bytes]:
    """UTF-8 -> ``str``; data that is not valid UTF-8 comes back as bytes."""
    return text(data)


class _Named:
    """A serializer shows as the name it is imported by (``KT_JSON``...)."""

    name = ""

    def __repr__(self) -> str:
        return self.name


class _Binary(_Named):
    name = "KT_BINARY"

    def encode(self, value: Any) -> bytes:
        return encode_text(value)

    def decode(self, data: bytes) -> Any:
        return decode_text(data)


class _Json(_Named):
    name = "KT_JSON"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


class _Msgpack(_Named):
    name = "KT_MSGPACK"

    def _module(self) -> Any:
        try:
            import msgpack
        except ImportError:
            raise ImproperlyConfigured(
                "KT_MSGPACK needs the msgpack package, which is not installed: "
                "pip install msgpack (or install kt with its [msgpack] extra)"
            ) from None
        return msgpack

    def check(self) -> None:
        """Raise ImproperlyConfigured now if msgpack is missing."""
        self._module()

    def encode(self, value: Any) -> bytes:
        data = self._module().packb(value, use_bin_type=True)
        if not isinstance(data, bytes):
            raise TypeError("msgpack.packb returned %s, not bytes" % type(data).__name__)
        return data

    def decode(self, data: bytes) -> Any:
        return self._module().unpackb(data, raw=False)


class _Pickle(_Named):
    name = "KT_PICKLE"

    def encode(self, value: Any) -> bytes:
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)


class _NoSerialization(_Named):
    name = "KT_NONE"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        # str as UTF-8, as the original library did; anything else TypeError
        return encode_text(value)

    def decode(self, data: bytes) -> Any:
        return data


class _Table(_Named):
    name = "TT_TABLE"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, Mapping):
            raise TypeError(
                "with TT_TABLE values must be dicts of columns, not %s"
                % type(value).__name__
            )
        columns: Dict[bytes, bytes] = {}
        for name, column in value.items():
            columns[encode_text(name, "column name")] = encode_text(column, "column value")
        return encode_columns(columns)

    def decode(self, data: bytes) -> Any:
        return {
            decode_text(name): decode_text(column)
            for name, column in decode_columns(data).items()
        }


KT_BINARY: Serializer = _Binary()
KT_JSON: Serializer = _Json()
KT_MSGPACK: Serializer = _Msgpack()
KT_PICKLE: Serializer = _Pickle()
KT_NONE: Serializer = _NoSerialization()
TT_TABLE: Serializer = _Table()
