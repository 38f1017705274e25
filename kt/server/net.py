"""What the built-in servers' listening code shares: the Protocol
contract between a server and a connection's session, the listening
socket, the thread-per-connection server, the ready line, signals.

Who calls it: kt.server.loop (``LoopServer``, the default server, built on
``BaseServer``), kt.server.kyoto.cli and kt.server.tyrant.cli
(``engine_protocol``, ``announce``, ``install_signal_handlers``; with
``-threaded``, ``ThreadedServer``).  Each connection gets its own
``Protocol`` object (for both servers a ``SessionProtocol`` around the
engine's session), which is handed the connection's ReceiveBuffer after
every read and answers with bytes to send.  The servers never interpret
bytes themselves.

Server model: LoopServer (kt.server.loop) serves every connection from one
event-loop thread and runs requests that may block in a worker pool;
ThreadedServer here, the fallback, gives each connection a thread that
reads, processes and sends with blocking calls.  Both honour the same
contract:

A protocol whose ``process`` stopped before a request that may block or
run long (a script procedure, an ext call; ``deferred()`` returns True)
is called again for it: LoopServer calls it in a worker thread and does not
read that connection meanwhile, ThreadedServer right away in the
connection's thread.  The replies before it are sent first, and the
connection's replies stay in order.

A session may take a connection over for good (Kyoto Tycoon's replication
stream, which pushes log messages and heartbeats instead of answering
requests): it sets its ``takeover`` attribute to a callable during
``process``; once the replies of that call are sent, the server stops
reading the socket itself and calls ``takeover(sock, buf)`` with the
socket (blocking mode, no timeout) and whatever bytes are still buffered,
in a thread of its own.  The callable owns the connection until it
returns; the server then closes the socket and calls ``connection_lost``.

A protocol object ends a connection by returning ``close=True`` from
``process`` (after the bytes it returns are sent) or by raising
ProtocolError (logged, the connection is closed, the server goes on).  Any
other exception in a protocol is a bug: it is logged with its traceback
and only that connection is closed.  Connections idle for ``timeout``
seconds are closed (ktserver's ``-tout``).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
from typing import Callable, Final, List, Optional, Set, Tuple
from typing import Protocol as TypingProtocol

from kt.connection import mypyc_attr
from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer
from kt.server.log import Logger

__all__ = ["MAX_FIELD", "RECV_MAX", "RECV_SIZE", "Takeover", "Engine", "Protocol", "BaseServer", "Session", "SessionProtocol", "ThreadedServer",
           "bind_listener",
           "announce", "engine_protocol", "install_signal_handlers", "recv_size_after", "run_signal_handlers"]

#: Largest single field a client may send the built-in servers (256 MiB,
#: ktserver's and ttserver's own limit).
MAX_FIELD: Final = 1 << 28

#: The smallest recv() size.  CPython allocates a bytes object of the full
#: size for every read and shrinks it afterwards; up to 448 bytes that is
#: its own small-object allocator (a bytes object of n bytes takes n + 33),
#: beyond it malloc, realloc and free, about a thousand instructions more
#: per read.  A single get, set, put or out request fits.
RECV_SIZE: Final = 448
#: The largest recv() size.
RECV_MAX: Final = 1024 * 1024


def recv_size_after(size: int, got: int, burst: int) -> int:
    """The next recv() size after a read of ``got`` bytes asked for ``size``.

    A read that fills its size makes the next one four times as large (to
    RECV_MAX): a big request is arriving.  Otherwise the next size is the
    first step of that ladder above ``burst``, the bytes of this read and
    of the full reads just before it: the size that would have taken them
    in one read, so a connection sending requests of a few KiB reads each
    in one call, and one that sent a big request goes back to small reads.
    """
    if got == size:
        return size * 4 if size * 4 <= RECV_MAX else RECV_MAX
    if burst < RECV_SIZE:
        return RECV_SIZE
    step = RECV_SIZE
    while step <= burst and step < RECV_MAX:
        step *= 4
    return step if step <= RECV_MAX else RECV_MAX


#: What a session sets to take its connection over (see the module text).
Takeover = Callable[[socket.socket, ReceiveBuffer], None]

#: An expression that does nothing.  CPython calls the Python-level signal
#: handlers from its interpreter loop, between bytecodes of the main
#: thread, and code compiled by mypyc runs none: a server loop compiled
#: with mypyc would never see SIGTERM arrive while it is not blocked in a
#: system call.  Evaluating this runs that check (see run_signal_handlers).
_PENDING_CHECK: Final = compile("None", "<kt.server signal check>", "eval")


def run_signal_handlers() -> None:
    """Run the Python-level signal handlers of signals that arrived (in
    the main thread; elsewhere it does nothing).  The server loops call
    it on every wake-up of their own and now and then while busy."""
    eval(_PENDING_CHECK)


class Session:
    """What an engine hands each connection: the base class of
    kt.server.kyoto.engine's KyotoSession and kt.server.tyrant.engine's
    TyrantSession (a class, not a structural type, so that the compiled
    build calls them natively)."""

    #: Set by a request that takes the connection over (see the module text).
    takeover: Optional[Takeover]
    #: Set when ``process`` stopped before a request that may block (see
    #: the module text); cleared by the next ``process`` call, which
    #: serves that request first.
    deferred: bool

    def __init__(self) -> None:
        self.takeover = None
        self.deferred = False

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        """Answer every complete request in ``buf`` (see Protocol.process)."""
        raise NotImplementedError

    def close(self) -> None:
        """The connection ended."""
        raise NotImplementedError


@mypyc_attr(allow_interpreted_subclasses=True)
class Protocol:
    """One connection's request handler (subclassed by each server)."""

    def __init__(self, peer: str) -> None:
        self.peer = peer

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        """Handle every complete request in ``buf``.

        Returns the bytes to send (in order) and whether to close the
        connection afterwards.  Leaves an incomplete request in ``buf``.
        """
        raise NotImplementedError

    def connection_lost(self) -> None:
        """Called once when the connection ends, whatever the reason."""

    def takeover(self) -> Optional[Takeover]:
        """The callable that takes this connection over, once set (see the
        module text); None while the server serves it request by request."""
        return None

    def deferred(self) -> bool:
        """Whether the last ``process`` stopped before a request that may
        block, which the next call (made off the event loop) serves."""
        return False


class SessionProtocol(Protocol):
    """A Protocol that hands the bytes to an engine's session."""

    def __init__(self, peer: str, session: Session) -> None:
        super().__init__(peer)
        self.session = session

    def process(self, buf: ReceiveBuffer) -> Tuple[List[bytes], bool]:
        return self.session.process(buf)

    def connection_lost(self) -> None:
        self.session.close()

    def takeover(self) -> Optional[Takeover]:
        return self.session.takeover

    def deferred(self) -> bool:
        return self.session.deferred


class Engine(TypingProtocol):
    """What hands out sessions (KyotoEngine, TyrantEngine)."""

    def session(self, peer: str) -> Session: ...


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host`` (all interfaces if empty) and
    ``port`` (0: a free one), for either server class."""
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC,
                               socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    last: Optional[OSError] = None
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(addr)
            sock.listen(1024)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last if last is not None else OSError("cannot bind %s:%d" % (host, port))


def engine_protocol(engine: Engine) -> Callable[[str], Protocol]:
    """The protocol factory of a ThreadedServer serving ``engine``."""
    def factory(peer: str) -> Protocol:
        return SessionProtocol(peer, engine.session(peer))
    return factory


class BaseServer:
    """What both server classes share: the listening socket, the protocol
    factory, the idle ``timeout`` (seconds, None for none; connections
    idle that long are closed, as ktserver's ``-tout`` does)."""

    def __init__(self, host: str, port: int, protocol_factory: Callable[[str], Protocol],
                 logger: Logger, timeout: Optional[float] = None, name: str = "server") -> None:
        self.host = host
        self.port = port
        self.protocol_factory = protocol_factory
        self.logger = logger
        self.timeout = timeout
        self.name = name
        self._listener: Optional[socket.socket] = None
        self._stopping = threading.Event()
        #: Set by the first ``stop`` (a second one, say from a second signal
        #: arriving during the first one's handler, returns at once).
        self._stop_asked = False
        # Reentrant: ``stop`` may run in a signal handler that interrupted
        # the same thread while it held the lock.
        self._lock = threading.RLock()

    def bind(self) -> Tuple[str, int]:
        """Open the listening socket; returns the address actually bound."""
        self._listener = bind_listener(self.host, self.port)
        bound = self._listener.getsockname()
        self.port = int(bound[1])
        return str(bound[0]), int(bound[1])

    def serve_forever(self) -> None:
        """Serve until ``stop``."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        raise NotImplementedError

    def wakeup_fd(self) -> int:
        """A descriptor that wakes the serving loop when written to (for
        ``signal.set_wakeup_fd``), or -1 when the loop needs none."""
        return -1

    def _bound(self) -> socket.socket:
        if self._listener is None:
            raise RuntimeError("bind() first")
        return self._listener

    @staticmethod
    def _shut(socks: List[socket.socket]) -> None:
        """Shut ``socks`` down (their threads see the end and close them)."""
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class ThreadedServer(BaseServer):
    """A TCP listener that serves each connection in its own thread (the
    ``-threaded`` fallback of the cli modules)."""

    def __init__(self, host: str, port: int, protocol_factory: Callable[[str], Protocol],
                 logger: Logger, timeout: Optional[float] = None, name: str = "server") -> None:
        super().__init__(host, port, protocol_factory, logger, timeout, name)
        self._conns: Set[socket.socket] = set()

    def serve_forever(self) -> None:
        listener = self._bound()
        listener.settimeout(0.5)
        while not self._stopping.is_set():
            run_signal_handlers()
            try:
                sock, addr = listener.accept()
            except socket.timeout:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                self.logger.error("accept failed: %s" % exc)
                time.sleep(0.05)
                continue
            peer = "%s:%s" % (addr[0], addr[1]) if isinstance(addr, tuple) else str(addr)
            thread = threading.Thread(target=self._serve_connection, args=(sock, peer),
                                      name="%s-conn" % self.name, daemon=True)
            thread.start()
        try:
            listener.close()
        except OSError:
            pass

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        if self._stop_asked:
            return
        self._stop_asked = True
        self._stopping.set()
        with self._lock:
            conns = list(self._conns)
        self._shut(conns)

    def _serve_connection(self, sock: socket.socket, peer: str) -> None:
        with self._lock:
            self._conns.add(sock)
        protocol: Optional[Protocol] = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            protocol = self.protocol_factory(peer)
            buf = ReceiveBuffer(limit=MAX_FIELD + 64)
            recv = sock.recv
            sendall = sock.sendall
            size = RECV_SIZE
            burst = 0
            while not self._stopping.is_set():
                try:
                    chunk = recv(size)
                except socket.timeout:
                    self.logger.info("(%s): connection timed out" % peer)
                    break
                if not chunk:
                    break
                # a big request arriving: larger reads; then small again
                got = len(chunk)
                burst += got
                full = got == size
                size = recv_size_after(size, got, burst)
                if not full:
                    burst = 0
                buf.feed(chunk)
                close = False
                try:
                    while True:
                        out, close = protocol.process(buf)
                        if out:
                            sendall(out[0] if len(out) == 1 else b"".join(out))
                        # A deferred request runs right here, in this thread.
                        if close or not protocol.deferred():
                            break
                except ProtocolError as exc:
                    self.logger.info("(%s): bad request, closing the connection: %s" % (peer, exc))
                    break
                if close:
                    break
                hand = protocol.takeover()
                if hand is not None:
                    sock.settimeout(None)
                    hand(sock, buf)
                    break
        except OSError as exc:
            if not self._stopping.is_set():
                self.logger.info("(%s): connection error: %s" % (peer, exc))
        except Exception:
            self.logger.error("(%s): internal error, closing the connection:\n%s"
                              % (peer, traceback.format_exc()))
        finally:
            with self._lock:
                self._conns.discard(sock)
            if protocol is not None:
                try:
                    protocol.connection_lost()
                except Exception:
                    self.logger.error("(%s): error while closing:\n%s" % (peer, traceback.format_exc()))
            try:
                sock.close()
            except OSError:
                pass


def install_signal_handlers(server: BaseServer) -> None:
    """SIGTERM and SIGINT stop the server (the caller then flushes and
    exits 0).  Call it in the main thread, which then runs the server:
    a signal also writes to the server's wake-up descriptor, so that its
    loop wakes and runs the handler (see run_signal_handlers)."""

    def handler(signum: int, frame: object) -> None:
        server.logger.system("caught the signal %d: shutting down" % signum)
        server.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    fd = server.wakeup_fd()
    if fd >= 0:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def announce(host: str, port: int, kind: str) -> None:
    """Print the ready line a parent process waits for."""
    shown = "[%s]" % host if ":" in host else host
    sys.stdout.write("kt.server %s listening on %s:%d pid=%d\n" % (kind, shown, port, os.getpid()))
    sys.stdout.flush()
