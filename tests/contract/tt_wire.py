"""A raw Tokyo Tyrant wire client for the server contract tests.

It builds every request with kt.protocol.tt_binary and parses the replies
with its client-side parsers over a plain socket, so the contract suite
exercises the servers (built-in and real ttserver) without the kt client.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from kt.protocol import tt_binary as tb
from wire import Wire


class TTWire(Wire):
    """One connection; each method sends one request and waits for its reply."""

    def status(self, request: bytes) -> int:
        return self.call(request, tb.parse_status_reply)

    # -- commands -----------------------------------------------------------
    def put(self, key: bytes, value: bytes) -> int:
        return self.status(tb.encode_put(key, value))

    def putkeep(self, key: bytes, value: bytes) -> int:
        return self.status(tb.encode_putkeep(key, value))

    def putcat(self, key: bytes, value: bytes) -> int:
        return self.status(tb.encode_putcat(key, value))

    def putshl(self, key: bytes, value: bytes, width: int) -> int:
        return self.status(tb.encode_putshl(key, value, width))

    def putnr(self, key: bytes, value: bytes) -> None:
        self.sock.sendall(tb.encode_putnr(key, value))

    def out(self, key: bytes) -> int:
        return self.status(tb.encode_out(key))

    def get(self, key: bytes) -> Optional[bytes]:
        status, value = self.call(tb.encode_get(key), tb.parse_value_reply)
        return None if status else value

    def get_raw(self, key: bytes) -> Tuple[int, bytes]:
        return self.call(tb.encode_get(key), tb.parse_value_reply)

    def mget(self, keys: List[bytes]) -> List[Tuple[bytes, bytes]]:
        status, records = self.call(tb.encode_mget(keys), tb.MgetReplyParser().parse)
        assert status == 0
        return records

    def vsiz(self, key: bytes) -> Tuple[int, int]:
        return self.call(tb.encode_vsiz(key), tb.parse_vsiz_reply)

    def iterinit(self) -> int:
        return self.status(tb.encode_iterinit())

    def iternext(self) -> Optional[bytes]:
        status, key = self.call(tb.encode_iternext(), tb.parse_value_reply)
        return None if status else key

    def keys(self) -> List[bytes]:
        assert self.iterinit() == 0
        out: List[bytes] = []
        while True:
            key = self.iternext()
            if key is None:
                return out
            out.append(key)

    def fwmkeys(self, prefix: bytes, max: int = -1) -> List[bytes]:
        status, keys = self.call(tb.encode_fwmkeys(prefix, max), tb.FwmkeysReplyParser().parse)
        assert status == 0
        return keys

    def addint(self, key: bytes, num: int) -> Tuple[int, int]:
        return self.call(tb.encode_addint(key, num), tb.parse_addint_reply)

    def adddouble(self, key: bytes, num: float) -> Tuple[int, float]:
        return self.call(tb.encode_adddouble(key, num), tb.parse_adddouble_reply)

    def ext(self, name: bytes, key: bytes, value: bytes, opts: int = 0) -> Tuple[int, bytes]:
        return self.call(tb.encode_ext(name, key, value, opts), tb.parse_value_reply)

    def sync(self) -> int:
        return self.status(tb.encode_sync())

    def optimize(self, params: bytes = b"") -> int:
        return self.status(tb.encode_optimize(params))

    def vanish(self) -> int:
        return self.status(tb.encode_vanish())

    def copy(self, path: bytes) -> int:
        return self.status(tb.encode_copy(path))

    def restore(self, path: bytes, ts: int = 0) -> int:
        return self.status(tb.encode_restore(path, ts))

    def setmst(self, host: bytes, port: int) -> int:
        return self.status(tb.encode_setmst(host, port, 0))

    def rnum(self) -> int:
        status, n = self.call(tb.encode_rnum(), tb.parse_u64_reply)
        assert status == 0
        return n

    def size(self) -> int:
        status, n = self.call(tb.encode_size(), tb.parse_u64_reply)
        assert status == 0
        return n

    def stat(self) -> Dict[str, str]:
        status, stats = self.call(tb.encode_stat(), tb.parse_stat_reply)
        assert status == 0
        return stats

    def misc(self, name: bytes, args: List[bytes], opts: int = 0) -> Tuple[int, List[bytes]]:
        return self.call(tb.encode_misc(name, args, opts), tb.MiscReplyParser().parse)

    def search(self, args: List[bytes]) -> Tuple[int, List[bytes]]:
        return self.misc(b"search", args, tb.MISC_NO_ULOG)
