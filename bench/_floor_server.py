"""The built-in servers' floor, for bench/server_concurrency.py --floor:
kt.server.loop's LoopServer (as the built-in servers run it) with a
session that does no work.  It recognises the single-record requests of
the server benchmarks (get and set for Kyoto Tycoon, get and put for Tokyo
Tyrant) by their first bytes and fixed sizes, and answers each with a reply
built once at start: no parser, no engine, no database.

What it measures: the cost of the event loop itself (the wait, the read,
the write, the Python objects around them), which every request of a
built-in server pays whatever it asks.  Its session is plain Python (this
file is not compiled), so the floor it shows is, if anything, a little low.

    python bench/_floor_server.py kyoto|tyrant

prints the built-in servers' ready line (with the port it listens on) and
serves until SIGTERM.  Any other request closes the connection.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import server_kyoto  # noqa: E402
import server_tyrant  # noqa: E402

from kt.errors import ProtocolError  # noqa: E402
from kt.protocol import kt_binary as kb  # noqa: E402
from kt.protocol import tt_binary as tb  # noqa: E402
from kt.protocol.buffer import ReceiveBuffer  # noqa: E402
from kt.server.kyoto.cli import DEFAULT_TIMEOUT  # noqa: E402
from kt.server.log import Logger  # noqa: E402
from kt.server.loop import make_server  # noqa: E402
from kt.server.net import Protocol, announce, install_signal_handlers  # noqa: E402

#: First bytes of a request -> (its size, the reply); HEAD: how many bytes
#: tell the requests apart.
Table = Dict[bytes, Tuple[int, bytes]]


def _kyoto() -> Tuple[int, Table]:
    (gets, _), (sets, _) = server_kyoto.single_record_requests()
    key = b"key-%06d" % 0
    return 1, {gets[0][:1]: (len(gets[0]), kb.encode_get_bulk_reply_one(
                   0, key, server_kyoto.VALUE, kb.XT_MAX)),
               sets[0][:1]: (len(sets[0]), kb.encode_set_bulk_reply(1))}


def _tyrant() -> Tuple[int, Table]:
    (gets, _), (puts, _) = server_tyrant.single_record_requests()
    return 2, {gets[0][:2]: (len(gets[0]), tb.encode_value_reply(server_tyrant.VALUE)),
               puts[0][:2]: (len(puts[0]), b"\x00")}


class FloorSession(Protocol):
    """Answers every known request with its canned reply."""

    def __init__(self, peer: str, head: int, table: Table) -> None:
        super().__init__(peer)
        self.head = head
        self.table = table

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        out: List[bytes] = []
        while buf.ensure(self.head):
            pos = buf.pos
            known = self.table.get(buf.data[pos:pos + self.head])
            if known is None:
                raise ProtocolError("not a request this floor server knows")
            size, reply = known
            if not buf.ensure(size):
                break
            buf.skip(size)
            out.append(reply)
        return out, False


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("kyoto", "tyrant"):
        raise SystemExit("usage: python bench/_floor_server.py kyoto|tyrant")
    head, table = _kyoto() if kind == "kyoto" else _tyrant()
    # the idle timeout each server has by default (ktserver's -tout 30,
    # none for ttserver): with one, the loop reads a clock per wake-up
    timeout = DEFAULT_TIMEOUT if kind == "kyoto" else None
    server = make_server(False, "127.0.0.1", 0, lambda peer: FloorSession(peer, head, table),
                         Logger(level="NONE"), timeout, "floor", 1)
    host, port = server.bind()
    install_signal_handlers(server)
    announce(host, port, kind)
    server.serve_forever()


if __name__ == "__main__":
    main()
