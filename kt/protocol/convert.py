"""Key and value conversions on the clients' hot path, compiled with the codecs.

Who calls it: the clients kt.kyoto and kt.tyrant, for the per-record loops
of bulk operations (keys to bytes before a request, bytes to text or bytes
after a reply); kt.client (the shared client base) for ``text``; and
kt.serializers, whose KT_BINARY / TT_TABLE serializers use ``to_bytes`` and
``text``; the bulk encoders of kt_binary and tt_binary, which convert a
client's items as they encode them (``to_bytes``, ``value_bytes``), and
their dict reply parsers (``Found``).  No server calls it.  Doing these
conversions here keeps the loops in native code when the protocol layer is
compiled, instead of one Python function call per record.

Text rules (the same as kt.serializers' KT_BINARY): ``str`` travels as
UTF-8, ``bytes`` as they are; data read back becomes ``str`` when it is
valid UTF-8 and stays ``bytes`` otherwise, so nothing is lost.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Tuple, Union, final

Text = Union[str, bytes]


def to_bytes(item: object, what: str) -> bytes:
    """``str`` -> UTF-8, bytes-like -> bytes; TypeError for anything else."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    raise TypeError("%s must be str or bytes, not %s" % (what, type(item).__name__))


def value_to_bytes(value: object) -> bytes:
    """``to_bytes(value, "value")``: what KT_BINARY and KT_NONE encode, compiled."""
    return to_bytes(value, "value")


def as_is(data: bytes) -> bytes:
    """KT_NONE's decoding (none), compiled."""
    return data


def common_length(items: List[Any]) -> int:
    """The length of every item when all of ``items`` are bytes of one
    length (fixed-width keys, as bulk requests often have), else -1."""
    if not items or not isinstance(items[0], bytes):
        return -1
    n = len(items[0])
    for item in items:
        if not isinstance(item, bytes) or len(item) != n:
            return -1
    return n


def keys_to_bytes(keys: Iterable[object]) -> List[bytes]:
    """Every key as bytes (TypeError names the first key of a wrong type)."""
    out: List[bytes] = []
    for key in keys:
        if isinstance(key, bytes):
            out.append(key)
        elif isinstance(key, str):
            out.append(key.encode("utf-8"))
        else:
            out.append(to_bytes(key, "key"))
    return out


def bytes_in_place(fields: List[Any], text_fields: bool, what: str, limit: int,
                   refuse: Callable[[bytes, str], object]) -> List[bytes]:
    """Turn every item of ``fields`` (a list the caller owns) into bytes, in
    place, and return it: str as UTF-8 with ``text_fields`` (``to_bytes``),
    anything else but bytes is a TypeError naming ``what``.  ``refuse(item,
    what)`` raises for an item longer than ``limit`` bytes."""
    for i in range(len(fields)):
        item = fields[i]
        if not isinstance(item, bytes):
            item = to_bytes(item, what) if text_fields else value_bytes(item, False)
            fields[i] = item
        if len(item) > limit:
            refuse(item, what)
    return fields


def text(data: bytes) -> Text:
    """UTF-8 -> str; anything else stays bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def texts(items: List[bytes]) -> List[Text]:
    """``text`` of every item."""
    out: List[Text] = []
    for item in items:
        try:
            out.append(item.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(item)
    return out


def records_dict(keys: List[bytes], values: List[bytes], decode_keys: bool,
                 decode_values: bool) -> Dict[Text, Text]:
    """{key: value} of parallel lists, with keys and/or values as text."""
    out: Dict[Text, Text] = {}
    n = len(keys)
    if len(values) < n:
        n = len(values)
    for i in range(n):
        k: Text = keys[i]
        v: Text = values[i]
        if decode_keys:
            k = text(keys[i])
        if decode_values:
            v = text(values[i])
        out[k] = v
    return out


def pairs_dict(pairs: List[Tuple[bytes, bytes]], decode_keys: bool,
               decode_values: bool) -> Dict[Text, Text]:
    """{key: value} of (key, value) pairs, with keys and/or values as text."""
    out: Dict[Text, Text] = {}
    for key, value in pairs:
        k: Text = key
        v: Text = value
        if decode_keys:
            k = text(key)
        if decode_values:
            v = text(value)
        out[k] = v
    return out


def items_to_pairs(items: Iterable[Tuple[object, object]], text_values: bool
                   ) -> List[Tuple[bytes, bytes]]:
    """(key, value) items as bytes pairs; values must already be bytes
    unless ``text_values`` (then str values are UTF-8 encoded too)."""
    out: List[Tuple[bytes, bytes]] = []
    for key, value in items:
        if isinstance(key, bytes):
            k = key
        elif isinstance(key, str):
            k = key.encode("utf-8")
        else:
            k = to_bytes(key, "key")
        if isinstance(value, bytes):
            v = value
        else:
            v = value_bytes(value, text_values)
        out.append((k, v))
    return out


def value_bytes(value: object, text_values: bool) -> bytes:
    """A value as bytes: as it is, or (``text_values``) ``to_bytes``;
    without ``text_values`` anything but bytes raises TypeError."""
    if isinstance(value, bytes):
        return value
    if text_values:
        return to_bytes(value, "value")
    raise TypeError("values must be bytes, not %s" % type(value).__name__)


@final
class Found:
    """The {key: value} dict a bulk reply parser fills as records arrive
    (kt_binary's GetBulkDictParser, tt_binary's MgetDictParser): keys as
    text with ``text_keys``, values with ``text_values``.  A key found
    twice keeps its last value."""

    items: Dict[Text, Text]
    text_keys: bool
    text_values: bool

    def __init__(self, text_keys: bool, text_values: bool) -> None:
        self.items = {}
        self.text_keys = text_keys
        self.text_values = text_values

    def add(self, key: bytes, value: bytes) -> None:
        self.items[text(key) if self.text_keys else key] = (
            text(value) if self.text_values else value)
