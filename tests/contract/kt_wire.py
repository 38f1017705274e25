"""A raw Kyoto Tycoon wire client for the server contract tests.

Requests are built with kt.protocol.kt_binary / kt_http and replies parsed
with their client-side parsers over a plain socket, so the contract suite
drives the servers (built-in and real ktserver) without the kt client.
"""

from __future__ import annotations

import socket
from typing import Dict, List, Optional, Sequence, Tuple, Union

from kt.protocol import kt_binary as kb
from kt.protocol import kt_http as kh
from wire import Wire

Text = Union[str, bytes]


def _b(x: Text) -> bytes:
    return x.encode("utf-8") if isinstance(x, str) else x


class RpcResult:
    """Status, colenc of the reply and its output map (bytes)."""

    def __init__(self, status: int, colenc: str, pairs: List[Tuple[bytes, bytes]],
                 content_type: bytes) -> None:
        self.status = status
        self.colenc = colenc
        self.pairs = pairs
        self.out: Dict[bytes, bytes] = dict(pairs)
        self.content_type = content_type

    def __getitem__(self, key: Text) -> bytes:
        return self.out[_b(key)]

    def get(self, key: Text) -> Optional[bytes]:
        return self.out.get(_b(key))

    @property
    def error(self) -> Optional[bytes]:
        return self.out.get(b"ERROR")

    def matched(self) -> List[bytes]:
        """Keys of a match_* / get_bulk reply (``_`` prefix dropped), in
        the order the server numbered them."""
        found = [(int(v), k[1:]) for k, v in self.pairs if k[:1] == b"_"]
        return [k for _, k in sorted(found)]

    def __repr__(self) -> str:
        return "RpcResult(%d, %r)" % (self.status, self.pairs)


class KTWire(Wire):
    """One connection to a Kyoto Tycoon server."""

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """Read until EOF (True) or ``timeout`` without it (False)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf.feed(chunk)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    # -- HTTP ------------------------------------------------------------------

    def rpc(self, procedure: str, *pairs: Tuple[Text, Text], colenc: Optional[str] = "",
            **kw: Text) -> RpcResult:
        items = [(_b(k), _b(v)) for k, v in pairs] + [(_b(k), _b(v)) for k, v in kw.items()]
        request = kh.encode_rpc_request(procedure, items, colenc if colenc else None,
                                        b"%s:%d" % (self.host.encode(), self.port))
        resp = self.call(request, kh.ResponseParser().parse)
        ctype = resp.headers.get(b"content-type", b"")
        return RpcResult(resp.status, resp.colenc, resp.rpc_pairs(), ctype)

    def http(self, request: bytes, head: bool = False) -> kh.HttpResponse:
        return self.call(request, kh.ResponseParser(head=head).parse)

    def rest(self, method: str, key: bytes, value: Optional[bytes] = None,
             xt: Optional[int] = None, db: Optional[bytes] = None,
             mode: Optional[str] = None) -> kh.HttpResponse:
        request = kh.encode_rest_request(method, key, value, xt, db,
                                         b"%s:%d" % (self.host.encode(), self.port), mode)
        return self.http(request, head=(method == "HEAD"))

    # -- binary ----------------------------------------------------------------

    def set_bulk(self, pairs: Sequence[Tuple[bytes, bytes]], db: int = 0,
                 xt: int = kb.XT_NONE) -> int:
        return self.call(kb.encode_set_bulk(pairs, db, xt), kb.parse_set_bulk_reply)

    def get_bulk(self, keys: Sequence[bytes], db: int = 0) -> kb.BulkRecords:
        return self.call(kb.encode_get_bulk(keys, db), kb.GetBulkReplyParser().parse)

    def remove_bulk(self, keys: Sequence[bytes], db: int = 0) -> int:
        return self.call(kb.encode_remove_bulk(keys, db), kb.parse_remove_bulk_reply)

    def play_script(self, name: bytes, pairs: Sequence[Tuple[bytes, bytes]]
                    ) -> List[Tuple[bytes, bytes]]:
        return self.call(kb.encode_play_script(name, pairs), kb.PlayScriptReplyParser().parse)

    def get(self, key: bytes, db: int = 0) -> Optional[bytes]:
        recs = self.get_bulk([key], db)
        return recs.values[0] if recs.values else None
