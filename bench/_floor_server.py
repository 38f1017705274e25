"""The built-in servers' floor, for bench/server_concurrency.py --floor:
kt.server.loop's LoopServer (as the built-in servers run it) with a
session that does no work.  It recognises the single-record requests of
the server benchmarks (get and set for Kyoto Tycoon, get and put for Tokyo
Tyrant) by their sizes, and answers each with a reply built once at start:
no parser, no engine, no database.

What it measures: the cost of the event loop itself (the wait, the read,
the write, the Python objects around them), which every request of a
built-in server pays whatever it asks.  Its session is plain Python (this
file is not compiled), so the floor it shows is, if anything, a little low.

    python bench/_floor_server.py kyoto|tyrant

prints the built-in servers' ready line (with the port it listens on) and
serves until SIGTERM.  Bytes that make neither request (more than the
larger one waiting) close the connection.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Tuple

# kt first, from the build on PYTHONPATH: the benchmark modules imported
# below put this checkout on sys.path, whose kt is the pure one.
from kt.errors import ProtocolError
from kt.protocol import kt_binary as kb
from kt.protocol import tt_binary as tb
from kt.protocol.buffer import ReceiveBuffer
from kt.server.kyoto.cli import DEFAULT_TIMEOUT
from kt.server.log import Logger
from kt.server.loop import make_server
from kt.server.net import Protocol, announce, install_signal_handlers

sys.path.insert(0, str(Path(__file__).resolve().parent))

import server_kyoto  # noqa: E402
import server_tyrant  # noqa: E402
from _builds import check_build  # noqa: E402


def _kyoto() -> Dict[int, bytes]:
    (gets, _), (sets, _) = server_kyoto.single_record_requests()
    key = b"key-%06d" % 0
    return {len(gets[0]): kb.encode_get_bulk_reply_one(0, key, server_kyoto.VALUE, kb.XT_MAX),
            len(sets[0]): kb.encode_set_bulk_reply(1)}


def _tyrant() -> Dict[int, bytes]:
    (gets, _), (puts, _) = server_tyrant.single_record_requests()
    return {len(gets[0]): tb.encode_value_reply(server_tyrant.VALUE),
            len(puts[0]): b"\x00"}


class FloorSession(Protocol):
    """Answers each request with its canned reply.  The load sends one
    request at a time and the two requests differ in size, so the bytes
    waiting tell which one is complete; fewer wait for the rest."""

    def __init__(self, peer: str, replies: Dict[int, bytes]) -> None:
        super().__init__(peer)
        self.replies = replies

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        reply = self.replies.get(len(buf))
        if reply is None:
            if len(buf) > max(self.replies):
                raise ProtocolError("not a request this floor server knows")
            return [], False
        buf.clear()
        return [reply], False


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("kyoto", "tyrant"):
        raise SystemExit("usage: python bench/_floor_server.py kyoto|tyrant")
    check_build()  # the build the benchmark asked for is the one imported
    replies = _kyoto() if kind == "kyoto" else _tyrant()
    # the idle timeout each server has by default (ktserver's -tout 30,
    # none for ttserver): with one, the loop reads a clock per wake-up
    timeout = DEFAULT_TIMEOUT if kind == "kyoto" else None
    server = make_server(False, "127.0.0.1", 0, lambda peer: FloorSession(peer, replies),
                         Logger(level="NONE"), timeout, "floor", 1)
    host, port = server.bind()
    install_signal_handlers(server)
    announce(host, port, kind)
    server.serve_forever()


if __name__ == "__main__":
    main()
