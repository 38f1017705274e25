"""Tokyo Tyrant codec workloads for bench/codec.py (imported by its worker)."""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from kt.protocol import tt_binary as tt
from kt.protocol.buffer import ReceiveBuffer


def tt_workloads(value: bytes) -> Dict[str, Callable[[], object]]:
    key = b"key-00000001"
    get_reply = tt.encode_value_reply(value)
    put_reply = tt.encode_status(0)
    keys = [b"key-%08d" % i for i in range(100)]
    records: List[Tuple[bytes, bytes]] = [(k, value) for k in keys]
    mget_reply = tt.encode_mget_reply(records)

    def get() -> object:
        tt.encode_get(key)
        buf = ReceiveBuffer()
        buf.feed(get_reply)
        return tt.parse_value_reply(buf)

    def put() -> object:
        tt.encode_put(key, value)
        buf = ReceiveBuffer()
        buf.feed(put_reply)
        return tt.parse_status_reply(buf)

    def mget() -> object:
        tt.encode_mget(keys)
        buf = ReceiveBuffer()
        buf.feed(mget_reply)
        return tt.MgetReplyParser().parse(buf)

    return {"tt get": get, "tt put": put, "tt mget 100": mget}
