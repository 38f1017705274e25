"""The built-in servers' default listening loop: every connection served
by one event loop thread (epoll on Linux, poll elsewhere), with a
small worker pool for requests that may block.

Who calls it: kt.server.kyoto.cli and kt.server.tyrant.cli (``LoopServer``;
``-th`` sizes the worker pool), and tests/server/test_net.py.  It drives
the same ``Protocol`` objects as kt.server.net's ThreadedServer (the
fallback, ``-threaded``) with the same contract, described in
kt.server.net's module text.

The model: one thread waits for readiness on every socket at once, reads
what arrived, hands it to the connection's protocol and sends the replies
without blocking (what the socket does not take waits, and the connection
is not read again until it is sent).  A connection costs a socket, its
protocol object and a buffer, no thread, so thousands of idle connections
are cheap, and busy ones do not contend for the GIL.

A request that may block or run long (script procedures, Tokyo Tyrant's
``ext`` and management commands) must not stall every other connection:
the session stops before it and reports ``deferred()``; the loop then
stops reading that connection and calls ``process`` again in a worker
thread, which serves that request and whatever follows it in the buffer.
The replies go back to the loop, which sends them and resumes reading, so
a connection's requests are still answered in order.  A session that sets
``takeover`` gets its connection in a thread of its own (socket in
blocking mode), after the replies before it are sent.

Signals: the cli modules point ``signal.set_wakeup_fd`` at the loop's
wake-up pipe, so a signal wakes the loop, which then runs the Python-level
handlers (kt.server.net.run_signal_handlers; compiled code would not).

Idle connections are closed after ``timeout`` seconds (``-tout``), by a
sweep that runs four times per timeout (at most once a second), so up to
one sweep interval late; a connection waiting for a worker is never idle.
Requests themselves read no clock.
"""

from __future__ import annotations

import os
import queue
import select
import signal
import socket
import threading
import time
import traceback
from typing import Callable, Dict, Final, List, Optional, Set, Tuple

from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer
from kt.server.log import Logger
from kt.server.net import (
    MAX_FIELD, RECV_SIZE, BaseServer, Protocol, Takeover, ThreadedServer, recv_size_after,
    run_signal_handlers,
)

__all__ = ["LoopServer", "make_server"]

# epoll where there is one (Linux), else poll: the same calls and event bits.
_HAVE_EPOLL: Final = hasattr(select, "epoll")
_READ: Final = select.POLLIN
_WRITE: Final = select.POLLOUT


#: The loop reads and writes its (non-blocking) sockets' descriptors with
#: os.read and os.write: on a socket they are recv and send without flags,
#: and take their arguments without building a tuple (socket.recv and
#: socket.send do).  Final: bound once, no module lookup per call.
_os_read: Final = os.read
_os_write: Final = os.write
#: The idle sweep's clock, read once per loop iteration (no module lookup).
_monotonic: Final = time.monotonic


#: How many ready descriptors one epoll wait reports at most.  CPython
#: allocates room for that many events on every call (12 or 16 bytes each);
#: up to 512 bytes that is its small-object allocator, above it malloc and
#: free (its default, 1023 events, costs about 800 instructions a call).
#: Level-triggered, the rest are reported by the next wait.
_MAX_EVENTS: Final = 32


def _poller() -> "select.poll":
    return select.epoll() if _HAVE_EPOLL else select.poll()  # type: ignore[return-value]


class _Conn:
    """One connection's state in the loop."""

    __slots__ = ("sock", "fd", "peer", "protocol", "buf", "pending", "size", "burst",
                 "last", "active", "busy", "close_after", "events")

    def __init__(self, sock: socket.socket, peer: str, protocol: Protocol) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.protocol = protocol
        self.buf = ReceiveBuffer(limit=MAX_FIELD + 64)
        #: Reply bytes the socket has not taken yet.
        self.pending = b""
        #: Next recv() size, and the bytes of the full reads just before
        #: (kt.server.net.recv_size_after).
        self.size = RECV_SIZE
        self.burst = 0
        #: When the connection was last seen active, as of the idle sweeps
        #: (``active`` is set on every read and send, with no clock read;
        #: the next sweep turns it into a time).
        self.last = time.monotonic()
        self.active = False
        #: A worker is running this connection's protocol.
        self.busy = False
        #: Close once ``pending`` is sent.
        self.close_after = False
        #: The selector events registered (0: not registered).
        self.events = 0


#: What a worker hands back: the connection, the replies, close, and the
#: failure (None, a ProtocolError or another exception's traceback text).
_Done = Tuple[_Conn, List[bytes], bool, Optional[BaseException], str]


class LoopServer(BaseServer):
    """A TCP listener serving every connection from one event loop thread.

    ``workers`` bounds the threads that run requests which may block;
    ``timeout`` (seconds, None for none) closes connections idle that
    long, as ktserver's ``-tout`` does.
    """

    def __init__(self, host: str, port: int, protocol_factory: Callable[[str], Protocol],
                 logger: Logger, timeout: Optional[float] = None, name: str = "server",
                 workers: int = 8) -> None:
        super().__init__(host, port, protocol_factory, logger, timeout, name)
        self.workers = max(1, workers)
        self._conns: Dict[int, _Conn] = {}
        self._taken: Set[socket.socket] = set()
        self._poll = _poller()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._done: "queue.SimpleQueue[_Done]" = queue.SimpleQueue()
        self._jobs: "queue.SimpleQueue[Optional[_Conn]]" = queue.SimpleQueue()
        self._threads: List[threading.Thread] = []
        #: Connections handed to a worker and not yet back (loop thread only).
        self._jobs_out = 0

    def stop(self) -> None:
        """Stop accepting and close every connection (callable from a
        signal handler or another thread)."""
        # ``_stop_asked`` (BaseServer) is what the loop checks on every
        # wake-up: a plain attribute, where an Event costs a Python call.
        if self._stop_asked:
            return
        self._stop_asked = True
        self._stopping.set()
        self._wake()
        with self._lock:
            taken = list(self._taken)
        self._shut(taken)

    def wakeup_fd(self) -> int:
        return self._wake_w

    def _wake(self) -> None:
        # Under the lock: a worker finishing after the loop closed the pipe
        # must not write to a descriptor number that was reused since.
        with self._lock:
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # the pipe is full: the loop wakes anyway

    # -- the loop ----------------------------------------------------------------

    def serve_forever(self) -> None:
        listener = self._bound()
        listener.setblocking(False)
        poller = self._poll
        lfd = listener.fileno()
        poller.register(lfd, _READ)
        poller.register(self._wake_r, _READ)
        conns = self._conns
        sweep_every = 1.0 if self.timeout is None else max(0.05, min(1.0, self.timeout / 4))
        # epoll takes seconds, poll milliseconds
        wait = sweep_every if _HAVE_EPOLL else sweep_every * 1000
        next_sweep = time.monotonic() + sweep_every
        # epoll's poll takes (timeout, maxevents), poll's (timeout)
        poll: Callable[..., List[Tuple[int, int]]] = poller.poll
        epoll = _HAVE_EPOLL
        ticks = 0
        try:
            while not self._stop_asked:
                ready = poll(wait, _MAX_EVENTS) if epoll else poll(wait)
                ticks += 1
                # Python-level signal handlers (see kt.server.net): on every
                # wake-up by the pipe (_finish_jobs), when the wait times out,
                # and every 1024 wake-ups of a busy loop.
                if not ready or ticks & 1023 == 0:
                    run_signal_handlers()
                for fd, events in ready:
                    conn = conns.get(fd)
                    if conn is not None:
                        if events & _WRITE:
                            self._flush(conn)
                        else:
                            self._read(conn)
                    elif fd == lfd:
                        self._accept(listener)
                    else:
                        self._finish_jobs()
                if self.timeout is not None:
                    now = _monotonic()
                    if now >= next_sweep:
                        next_sweep = now + sweep_every
                        self._sweep(now, now - self.timeout)
        finally:
            self._shutdown(listener)

    def _shutdown(self, listener: socket.socket) -> None:
        for conn in list(self._conns.values()):
            self._close(conn)
        for _ in self._threads:
            self._jobs.put(None)
        try:
            listener.close()
        except OSError:
            pass
        if _HAVE_EPOLL:
            self._poll.close()  # type: ignore[attr-defined]
        try:
            # the pipe closes now: signals must not write to it any more
            old = signal.set_wakeup_fd(-1)
            if old not in (-1, self._wake_w):
                signal.set_wakeup_fd(old)  # someone else's: leave it
        except ValueError:
            pass  # not the main thread: install_signal_handlers set none
        with self._lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_w = -1

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(64):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Out of descriptors, say: wait a little rather than spin.
                self.logger.error("accept failed: %s" % exc)
                time.sleep(0.05)
                return
            peer = "%s:%s" % (addr[0], addr[1]) if isinstance(addr, tuple) else str(addr)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                protocol = self.protocol_factory(peer)
            except Exception:
                self.logger.error("(%s): cannot serve the connection:\n%s"
                                  % (peer, traceback.format_exc()))
                sock.close()
                continue
            conn = _Conn(sock, peer, protocol)
            self._conns[conn.fd] = conn
            self._watch(conn, _READ)

    def _watch(self, conn: _Conn, events: int) -> None:
        """Register the events the loop waits for on ``conn`` (0: none)."""
        if events == conn.events:
            return
        if conn.events == 0:
            self._poll.register(conn.fd, events)
        elif events == 0:
            self._poll.unregister(conn.fd)
        else:
            self._poll.modify(conn.fd, events)
        conn.events = events

    def _read(self, conn: _Conn) -> None:
        try:
            chunk = _os_read(conn.fd, conn.size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.logger.info("(%s): connection error: %s" % (conn.peer, exc))
            self._close(conn)
            return
        if not chunk:
            self._close(conn)
            return
        size = conn.size
        got = len(chunk)
        if got >= size or size != RECV_SIZE:  # else the usual small request
            burst = conn.burst + got
            conn.size = recv_size_after(size, got, burst)
            conn.burst = burst if got == size else 0
        conn.active = True
        conn.buf.feed(chunk)
        try:
            out, close = conn.protocol.process(conn.buf)
        except ProtocolError as exc:
            self.logger.info("(%s): bad request, closing the connection: %s" % (conn.peer, exc))
            self._close(conn)
            return
        except Exception:
            self._internal_error(conn, traceback.format_exc())
            return
        self._answered(conn, out, close)

    def _answered(self, conn: _Conn, out: List[bytes], close: bool) -> None:
        """Send what ``process`` returned, then close, hand the connection
        over, pass it to a worker or go on reading it."""
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            if conn.pending:
                conn.pending += data
            else:
                sent = self._send(conn, data)
                if sent < 0:
                    return
                if sent < len(data):
                    conn.pending = data[sent:]
        protocol = conn.protocol
        if close:
            if conn.pending:
                conn.close_after = True
                self._watch(conn, _WRITE)
            else:
                self._close(conn)
            return
        hand = protocol.takeover()
        if hand is not None:
            self._hand_over(conn, hand)
        elif protocol.deferred():
            self._submit(conn)
        else:
            self._watch(conn, _WRITE if conn.pending else _READ)

    def _send(self, conn: _Conn, data: bytes) -> int:
        """Send what the socket takes of ``data`` now: the count, -1 when
        the connection failed (and is closed)."""
        try:
            return _os_write(conn.fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self.logger.info("(%s): connection error: %s" % (conn.peer, exc))
            self._close(conn)
            return -1

    def _flush(self, conn: _Conn) -> None:
        sent = self._send(conn, conn.pending)
        if sent <= 0:
            return
        conn.pending = conn.pending[sent:]
        conn.active = True
        if conn.pending:
            return
        if conn.close_after:
            self._close(conn)
        elif not conn.busy:
            self._watch(conn, _READ)
        else:
            self._watch(conn, 0)

    def _sweep(self, now: float, limit: float) -> None:
        """Close the connections idle since before ``limit``.  A connection
        active since the last sweep counts as active ``now``: idle
        connections close between ``timeout`` and ``timeout`` plus one
        sweep interval (a quarter of it, at most a second) after their
        last read or send."""
        for conn in list(self._conns.values()):
            if conn.active:
                conn.active = False
                conn.last = now
            elif conn.last < limit and not conn.busy:
                self.logger.info("(%s): connection timed out" % conn.peer)
                self._close(conn)

    def _internal_error(self, conn: _Conn, trace: str) -> None:
        self.logger.error("(%s): internal error, closing the connection:\n%s" % (conn.peer, trace))
        self._close(conn)

    def _forget(self, conn: _Conn) -> None:
        """Take ``conn`` out of the loop (the socket stays open)."""
        self._watch(conn, 0)
        self._conns.pop(conn.fd, None)

    def _close(self, conn: _Conn) -> None:
        if self._conns.get(conn.fd) is not conn:
            return
        self._forget(conn)
        self._lost(conn.protocol, conn.peer)
        try:
            conn.sock.close()
        except OSError:
            pass

    def _lost(self, protocol: Protocol, peer: str) -> None:
        try:
            protocol.connection_lost()
        except Exception:
            self.logger.error("(%s): error while closing:\n%s" % (peer, traceback.format_exc()))

    # -- takeover ----------------------------------------------------------------

    def _hand_over(self, conn: _Conn, hand: Takeover) -> None:
        self._forget(conn)
        with self._lock:
            self._taken.add(conn.sock)
        thread = threading.Thread(target=self._run_takeover, args=(conn, hand),
                                  name="%s-takeover" % self.name, daemon=True)
        thread.start()

    def _run_takeover(self, conn: _Conn, hand: Takeover) -> None:
        sock = conn.sock
        try:
            sock.setblocking(True)
            if conn.pending:
                sock.sendall(conn.pending)
                conn.pending = b""
            hand(sock, conn.buf)
        except OSError as exc:
            if not self._stopping.is_set():
                self.logger.info("(%s): connection error: %s" % (conn.peer, exc))
        except Exception:
            self.logger.error("(%s): internal error, closing the connection:\n%s"
                              % (conn.peer, traceback.format_exc()))
        finally:
            with self._lock:
                self._taken.discard(sock)
            self._lost(conn.protocol, conn.peer)
            try:
                sock.close()
            except OSError:
                pass

    # -- workers -----------------------------------------------------------------

    def _submit(self, conn: _Conn) -> None:
        """Run ``conn``'s deferred request (and what follows it) in a
        worker; the connection is not read meanwhile."""
        conn.busy = True
        self._watch(conn, _WRITE if conn.pending else 0)
        self._jobs_out += 1
        if self._jobs_out > len(self._threads) and len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name="%s-worker" % self.name,
                                      daemon=True)
            self._threads.append(thread)
            thread.start()
        self._jobs.put(conn)

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            conn = jobs.get()
            if conn is None:
                return
            out: List[bytes] = []
            close = False
            failure: Optional[BaseException] = None
            trace = ""
            try:
                out, close = conn.protocol.process(conn.buf)
            except ProtocolError as exc:
                failure = exc
            except Exception as exc:
                failure = exc
                trace = traceback.format_exc()
            self._done.put((conn, out, close, failure, trace))
            self._wake()

    def _finish_jobs(self) -> None:
        """The loop's side of the wake-up pipe: answers from the workers."""
        try:
            os.read(self._wake_r, 4096)
        except (BlockingIOError, InterruptedError):
            pass
        # A signal may have written to the pipe (install_signal_handlers).
        run_signal_handlers()
        done = self._done
        while not done.empty():
            conn, out, close, failure, trace = done.get()
            self._jobs_out -= 1
            conn.busy = False
            conn.active = True
            if self._conns.get(conn.fd) is not conn:
                continue  # closed meanwhile (the server stopping)
            if isinstance(failure, ProtocolError):
                self.logger.info("(%s): bad request, closing the connection: %s"
                                 % (conn.peer, failure))
                self._close(conn)
            elif failure is not None:
                self._internal_error(conn, trace)
            else:
                self._answered(conn, out, close)


def make_server(threaded: bool, host: str, port: int,
                protocol_factory: Callable[[str], Protocol], logger: Logger,
                timeout: Optional[float], name: str, workers: int) -> BaseServer:
    """The server the cli modules run: a LoopServer with ``workers``
    worker threads, or with ``threaded`` (``-threaded``) the fallback
    ThreadedServer, one thread per connection."""
    if threaded:
        return ThreadedServer(host, port, protocol_factory, logger, timeout=timeout, name=name)
    return LoopServer(host, port, protocol_factory, logger, timeout=timeout, name=name,
                      workers=workers)
