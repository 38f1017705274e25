"""Kyoto Tycoon over HTTP: RPC and RESTful requests and replies.

Who calls it: the KyotoTycoon client builds requests with
``encode_rpc_request`` / ``encode_rest_request`` and reads replies with
``ResponseParser``; the built-in Kyoto Tycoon server reads requests with
``RequestParser`` and answers with ``encode_response`` /
``encode_rpc_response`` / ``encode_error_response``.  The layers below live
in their own modules and are re-exported here, so ``kt_http.<name>`` keeps
reaching all of them:

* kt.protocol.http: HTTP/1.1 framing (parsers, ``encode_response``,
  ``HttpRequest`` / ``HttpResponse``, ``REASONS``);
* kt.protocol.kt_tsv: TSV bodies and their column encodings, forms, URL
  encoding, the colenc rules of ktserver and of this client.

What ktserver (Kyoto Tycoon 1.0.0, ktrpc.h / ktutil.h) does on top of HTTP,
and what this module therefore mirrors:

* RPC: ``POST /rpc/<procedure>`` with a TSV body (see kt_tsv).
* Status codes: 200 ok, 400 bad request, 450 logical failure, 500 internal
  error, 501 not implemented, 503 timeout; RESTful GET/HEAD answer 200 or
  404, PUT 201 (450 when X-Kt-Mode add/replace fails), DELETE 204 or 404.
  Handlers add ``Content-Type``, ``X-Kt-Xt``, ``X-Kt-Error`` and
  ``Location`` headers.  Error replies produced by the HTTP layer itself
  are ``text/plain`` bodies ``"<code> <reason> (<message>)\\n"`` with
  ``Connection: close``.
* RESTful paths are ``/<key>`` or ``/<db>/<key>``, each part URL-encoded;
  ``<db>`` is an index when it starts with a digit, otherwise a database
  name.  A path starting ``/rpc/`` is always RPC.  ``X-Kt-Xt`` on a PUT is
  an absolute time (decimal seconds since the epoch, RFC 1123 or W3CDTF);
  on GET/HEAD replies it is an RFC 1123 date, absent when the record never
  expires.  ``X-Kt-Mode: add|replace`` selects the PUT mode.
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Dict, Final, List, Optional, Sequence, Tuple

from kt.errors import ProtocolError
from kt.protocol.http import (
    CONTINUE_RESPONSE,
    MAX_HEADER_SIZE,
    REASONS,
    SERVER_NAME,
    HttpRequest,
    HttpResponse,
    RequestParser,
    ResponseParser,
    _check_host,
    _check_status,
    encode_response,
    reason_phrase,
)
from kt.protocol.kt_tsv import (
    COLENCS,
    FORM_CONTENT_TYPE,
    TSV_CONTENT_TYPE,
    _tsv_body,
    choose_colenc,
    decode_form,
    decode_rpc_body,
    decode_tsv,
    encode_form,
    encode_tsv,
    ktserver_colenc,
    parse_colenc,
    tsv_content_type,
    url_decode,
    url_encode,
)

__all__ = [
    "COLENCS",
    "CONTINUE_RESPONSE",
    "FORM_CONTENT_TYPE",
    "MAX_HEADER_SIZE",
    "REASONS",
    "SERVER_NAME",
    "TSV_CONTENT_TYPE",
    "HttpRequest",
    "HttpResponse",
    "RequestParser",
    "ResponseParser",
    "choose_colenc",
    "decode_form",
    "decode_rpc_body",
    "decode_tsv",
    "encode_error_response",
    "encode_form",
    "encode_response",
    "encode_rest_request",
    "encode_rpc_request",
    "encode_rpc_response",
    "encode_tsv",
    "format_xt_header",
    "ktserver_colenc",
    "parse_colenc",
    "parse_xt_header",
    "reason_phrase",
    "rpc_procedure",
    "split_rest_path",
    "tsv_content_type",
    "url_decode",
    "url_encode",
]


# --------------------------------------------------------------------------
# Paths and expiration headers
# --------------------------------------------------------------------------


def rpc_procedure(path: bytes) -> Optional[str]:
    """The procedure name of an RPC path ``/rpc/<name>`` (URL-decoded, read
    as Latin-1), or None when ``path`` is not under ``/rpc/``."""
    if not path.startswith(b"/rpc/"):
        return None
    return url_decode(path[5:]).decode("latin-1")


def split_rest_path(path: bytes) -> Tuple[Optional[bytes], bytes]:
    """(database, key) of a RESTful path, both URL-decoded.

    ``/key`` gives (None, key); ``/db/key`` gives (db, key) where db is a
    number or a name for the caller to resolve; an empty db part gives
    None (ktserver then uses database 0).  As in ktserver, the path is cut
    at its first raw ``/`` after the leading one, and one extra ``/`` after
    it is skipped.
    """
    if path.startswith(b"/"):
        path = path[1:]
    slash = path.find(b"/")
    if slash < 0:
        return None, url_decode(path)
    db = url_decode(path[:slash])
    rest = path[slash + 1:]
    if rest.startswith(b"/"):
        rest = rest[1:]
    return (db if db else None), url_decode(rest)


_DAYS: Final = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS: Final = (
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun",
    b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
)
_MONTH_NUMBERS: Final[Dict[bytes, int]] = {m.lower(): i + 1 for i, m in enumerate(_MONTHS)}
_RFC1123_RE: Final = re.compile(
    rb"(?:[A-Za-z]{3},)? *([0-9]{1,2}) +([A-Za-z]{3}) +([0-9]{4}) +"
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2})(?: *(?:GMT|UTC|UT|Z|([+-])([0-9]{2})([0-9]{2})))?"
)
_HEX_RE: Final = re.compile(rb"[0-9A-Fa-f]{1,15}")
_W3CDTF_RE: Final = re.compile(
    rb"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2})(?:T([0-9]{2}):([0-9]{2})"
    rb"(?::([0-9]{2})(?:\.[0-9]+)?)?(?:Z|([+-])([0-9]{2}):([0-9]{2}))?)?)?)?"
)


def format_xt_header(xt: int) -> bytes:
    """An absolute time (seconds since the epoch) as ktserver writes it in
    ``X-Kt-Xt`` replies: RFC 1123, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``."""
    if not isinstance(xt, int) or isinstance(xt, bool):
        raise TypeError("xt must be an int, not %s" % type(xt).__name__)
    try:
        tm = time.gmtime(xt)
    except (OverflowError, OSError, ValueError):
        raise ValueError("xt %d is outside the range of dates" % xt) from None
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _DAYS[tm.tm_wday],
        tm.tm_mday,
        _MONTHS[tm.tm_mon - 1],
        tm.tm_year,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
    )


def _timegm(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 24 and minute <= 59 and second <= 61):
        raise ProtocolError("X-Kt-Xt date out of range")
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def parse_xt_header(value: bytes) -> int:
    """An ``X-Kt-Xt`` value as an absolute time in seconds since the epoch.

    Accepts what ktserver understands in common use: a decimal integer
    (optionally signed), ``0x`` hexadecimal, RFC 1123 dates (what ktserver
    sends) and W3CDTF (``2011-01-02T03:04:05+09:00``).  Anything else
    raises ProtocolError.
    """
    v = value.strip(b" \t")
    if not v or len(v) > 64:
        raise ProtocolError("invalid X-Kt-Xt value %r" % value[:80])
    body = v[1:] if v[:1] in (b"-", b"+") else v
    if body.isdigit():
        if len(body) > 19:
            raise ProtocolError("X-Kt-Xt value %r is too large" % value[:80])
        return int(v)
    if v[:2] in (b"0x", b"0X") and _HEX_RE.fullmatch(v[2:]) is not None:
        return int(v[2:], 16)
    m = _RFC1123_RE.fullmatch(v)
    if m is not None:
        month = _MONTH_NUMBERS.get(m.group(2).lower())
        if month is None:
            raise ProtocolError("invalid month in X-Kt-Xt value %r" % value[:80])
        t = _timegm(
            int(m.group(3)), month, int(m.group(1)),
            int(m.group(4)), int(m.group(5)), int(m.group(6)),
        )
        sign = m.group(7)
        if sign is not None:
            offset = int(m.group(8)) * 3600 + int(m.group(9)) * 60
            t = t - offset if sign == b"+" else t + offset
        return t
    m = _W3CDTF_RE.fullmatch(v)
    if m is not None:
        t = _timegm(
            int(m.group(1)),
            int(m.group(2) or b"1"),
            int(m.group(3) or b"1"),
            int(m.group(4) or b"0"),
            int(m.group(5) or b"0"),
            int(m.group(6) or b"0"),
        )
        sign = m.group(7)
        if sign is not None:
            offset = int(m.group(8)) * 3600 + int(m.group(9)) * 60
            t = t - offset if sign == b"+" else t + offset
        return t
    raise ProtocolError("invalid X-Kt-Xt value %r" % value[:80])



# --------------------------------------------------------------------------
# Requests and replies
# --------------------------------------------------------------------------


def encode_rpc_request(
    procedure: str,
    pairs: Sequence[Tuple[bytes, bytes]],
    colenc: Optional[str],
    host_header: bytes,
    keep_alive: bool = True,
) -> bytes:
    """``POST /rpc/<procedure>`` with ``pairs`` as a TSV body.

    ``colenc`` None picks one with ``choose_colenc``.  The request is
    HTTP/1.1 and so persistent unless ``keep_alive`` is False (then it
    carries ``Connection: close``).
    """
    if not isinstance(procedure, str):
        raise TypeError("procedure must be a str, not %s" % type(procedure).__name__)
    if not procedure:
        raise ValueError("procedure must not be empty")
    _check_host(host_header)
    body, ctype = _tsv_body(pairs, colenc, False)
    head = b"POST /rpc/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nContent-Type: %s\r\n%s\r\n" % (
        url_encode(procedure.encode("utf-8")),
        host_header,
        len(body),
        ctype,
        b"" if keep_alive else b"Connection: close\r\n",
    )
    return head + body


_REST_METHODS: Final = ("GET", "HEAD", "PUT", "DELETE")
_REST_MODES: Final = ("set", "add", "replace")
_INT63: Final = (1 << 63) - 1


def encode_rest_request(
    method: str,
    key: bytes,
    value: Optional[bytes],
    xt: Optional[int],
    db: Optional[bytes],
    host_header: bytes,
    mode: Optional[str] = None,
    keep_alive: bool = True,
) -> bytes:
    """A RESTful request: GET/HEAD/DELETE ``/<db>/<key>``, or PUT with
    ``value`` as the body.

    ``xt`` (PUT only) is an absolute expiration time in seconds since the
    epoch, sent as ``X-Kt-Xt``; ktserver ignores values <= 0.  ``mode``
    (PUT only) is "set", "add" or "replace" (``X-Kt-Mode``).  ``db`` is a
    database index or name as bytes (e.g. ``b"1"``, ``b"casket.kch"``);
    ``b"rpc"`` is refused because ktserver would route ``/rpc/...`` to RPC.
    """
    if not isinstance(method, str):
        raise TypeError("method must be a str, not %s" % type(method).__name__)
    if method not in _REST_METHODS:
        raise ValueError("method must be GET, HEAD, PUT or DELETE, not %r" % method)
    if not isinstance(key, bytes):
        raise TypeError("key must be bytes, not %s" % type(key).__name__)
    _check_host(host_header)
    is_put = method == "PUT"
    if value is not None and not isinstance(value, bytes):
        raise TypeError("value must be bytes or None, not %s" % type(value).__name__)
    if is_put and value is None:
        raise ValueError("value is required for PUT")
    if not is_put and value is not None:
        raise ValueError("value is only allowed with PUT")
    extra: List[bytes] = []
    if xt is not None:
        if not isinstance(xt, int) or isinstance(xt, bool):
            raise TypeError("xt must be an int or None, not %s" % type(xt).__name__)
        if not is_put:
            raise ValueError("xt is only allowed with PUT")
        if not 0 < xt <= _INT63:
            raise ValueError("xt must be a positive absolute time, not %d" % xt)
        extra.append(b"X-Kt-Xt: %d\r\n" % xt)
    if mode is not None:
        if not isinstance(mode, str):
            raise TypeError("mode must be a str or None, not %s" % type(mode).__name__)
        if not is_put:
            raise ValueError("mode is only allowed with PUT")
        if mode not in _REST_MODES:
            raise ValueError("mode must be 'set', 'add' or 'replace', not %r" % mode)
        extra.append(b"X-Kt-Mode: %s\r\n" % mode.encode("ascii"))
    if db is not None:
        if not isinstance(db, bytes):
            raise TypeError("db must be bytes or None, not %s" % type(db).__name__)
        if not db:
            raise ValueError("db must not be empty (use None for the default)")
        if db == b"rpc":
            raise ValueError("db b'rpc' cannot be addressed by path; use its index")
        path = b"/" + url_encode(db) + b"/" + url_encode(key)
    else:
        path = b"/" + url_encode(key)
    if not keep_alive:
        extra.append(b"Connection: close\r\n")
    if value is not None:
        extra.append(b"Content-Length: %d\r\n" % len(value))
    head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (
        method.encode("ascii"),
        path,
        host_header,
        b"".join(extra),
    )
    if value is not None:
        return head + value
    return head



def encode_rpc_response(
    status: int,
    pairs: Sequence[Tuple[bytes, bytes]],
    colenc: Optional[str],
    keep_alive: bool,
    date: Optional[bytes] = None,
    server: Optional[bytes] = SERVER_NAME,
) -> bytes:
    """An RPC reply: ``pairs`` as a TSV body.  ``colenc`` None applies
    ktserver's own choice (``ktserver_colenc``), which ignores the colenc of
    the request."""
    body, ctype = _tsv_body(pairs, colenc, True)
    return encode_response(
        status, [(b"Content-Type", ctype)], body, keep_alive, False, date, server
    )


def encode_error_response(
    status: int,
    message: bytes,
    date: Optional[bytes] = None,
    server: Optional[bytes] = SERVER_NAME,
) -> bytes:
    """The plain-text error ktserver's HTTP layer sends before closing the
    connection (unparsable request, body too large): the body reads
    ``"<status> <reason> (<message>)\\n"``."""
    _check_status(status)
    if not isinstance(message, bytes):
        raise TypeError("message must be bytes, not %s" % type(message).__name__)
    body = b"%d %s (%s)\n" % (status, reason_phrase(status), message)
    return encode_response(
        status, [(b"Content-Type", b"text/plain")], body, False, False, date, server
    )
