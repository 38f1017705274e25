"""Exceptions raised by kt.

Everything kt raises on purpose derives from :class:`KyotoTycoonError`, so
one ``except`` clause catches every failure of a request.  The subclasses
tell apart *where* a request went wrong:

* the client could not talk to the server at all (:class:`ServerConnectionError`),
* the server answered with an error (:class:`ServerError`),
* the server answered with bytes that are not a valid reply (:class:`ProtocolError`),
* the library is not set up to do what was asked (:class:`ImproperlyConfigured`).

Invalid arguments raise the built-in :class:`TypeError` or :class:`ValueError`
before anything is sent.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "KyotoTycoonError",
    "ImproperlyConfigured",
    "ProtocolError",
    "ServerConnectionError",
    "ServerError",
    "ShardingError",
    "TokyoTyrantError",
]


class KyotoTycoonError(Exception):
    """Base class of every exception kt raises on purpose.

    The name comes from the original library; it covers Tokyo Tyrant errors
    too.
    """


class ImproperlyConfigured(KyotoTycoonError):
    """kt cannot do what was asked with what is installed or configured.

    Likely causes: an optional dependency is missing (``msgpack`` for
    ``KT_MSGPACK``), or a server executable or script file was named that
    does not exist.
    """


class ShardingError(KyotoTycoonError):
    """A sharded client was asked for something that cannot be spread over
    several servers.

    Likely causes: a cursor, a server-side script, a table search or
    another operation whose records may live on any shard (see the
    "Sharding and failover" section of docs/scaling.md).  Nothing was sent.
    Run it on one server with ``client_for(key)`` or ``clients()``.
    """


class ProtocolError(KyotoTycoonError):
    """Bytes received from the peer do not form a valid message.

    Likely causes: the port belongs to a different kind of server (a Tokyo
    Tyrant client pointed at Kyoto Tycoon, or an HTTP server), a proxy in
    between mangled the stream, or the peer is buggy.  The connection that
    produced the bytes is discarded.
    """


class ServerConnectionError(KyotoTycoonError):
    """The server could not be reached, the connection was lost, or a
    request timed out.

    The message names ``host:port``.  Likely causes: the server is not
    running or listens on another port, a firewall, a restart of the server,
    or a timeout shorter than the request needs.  The next request opens a
    new connection.
    """


class ServerError(KyotoTycoonError):
    """The server received the request and answered that it failed.

    ``code`` carries what the server said: the HTTP status for Kyoto Tycoon
    RPC calls (400, 450, 500, 501...), tcrdb's error code for Tokyo Tyrant
    commands (see TokyoTyrantError), or ``None`` when the protocol carries
    no code (the 0xBF binary error reply of Kyoto Tycoon).  ``message`` is
    the server's own text where it sends one.

    Args:
        message: what failed and on which server, with the server's own text
            where it sends one.
        code: the server's status or error code; None when it sent none.
    """

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        if self.code is None:
            return self.message
        return "%s (code %d)" % (self.message, self.code)


class TokyoTyrantError(ServerError):
    """A Tokyo Tyrant command failed on the server.

    ttserver answers every failure with the same status byte; ``code`` is
    the error code the C client library (tcrdb) derives from the command,
    as ``kt.protocol.tt_binary.error_code`` does: 6 ("existing record":
    ``incr`` on a record that is not a number), 7 ("no record found"),
    9999 ("miscellaneous error": a script that fails or does not exist, a
    search on a database that is not a table database...).
    """
