"""Kyoto Tycoon over HTTP/1.1: message framing and TSV-RPC bodies.

Who calls it: both sides.  The KyotoTycoon client builds requests with
``encode_rpc_request`` / ``encode_rest_request`` and reads replies with
``ResponseParser``; the built-in server reads requests with
``RequestParser`` and answers with ``encode_response`` /
``encode_rpc_response`` / ``encode_error_response``.  Everything here is
sans-I/O: bytes in, values out, and no clock (callers that want a ``Date``
header pass it in).

What ktserver (Kyoto Tycoon 1.0.0, kthttp.h / ktrpc.h / ktutil.h) does, and
what this module therefore mirrors:

* RPC: ``POST /rpc/<procedure>`` with a body of TSV lines ``key\\tvalue\\n``
  and ``Content-Type: text/tab-separated-values``, optionally with a
  ``colenc`` attribute: ``B`` base64 (standard alphabet, padded, strict),
  ``Q`` quoted-printable, ``U`` URL encoding.  The whole body (keys and
  values) uses one encoding.  A line is cut at its first tab; a trailing CR
  is dropped; a line without a tab is silently ignored.  A body sent as
  ``application/x-www-form-urlencoded`` and the query string are read as
  ``k=v&k=v`` (``;`` also separates); a body without a Content-Type header
  is ignored.
* The server does NOT echo the request's colenc: it scans its output map
  (ktutil.h ``checkmapenc``) and sends it raw unless some key or value holds
  a byte below 0x20 or 0x7F, or is longer than 255 bytes; then it picks
  ``B`` when the base64 estimate is shorter than the URL-encoding estimate,
  else ``U`` (only the first 255 bytes of each field are looked at; it
  never picks ``Q``).  ``ktserver_colenc`` reproduces that rule exactly;
  ``choose_colenc`` is the cheaper rule this library's client uses.
* URL encoding leaves ``A-Z a-z 0-9 _ - . ~`` alone and writes ``%xx``;
  decoding also turns ``+`` into a space and drops raw bytes <= 0x20 and
  0x7F.
* Status codes: 200 ok, 400 bad request, 450 logical failure, 500 internal
  error, 501 not implemented, 503 timeout; RESTful GET/HEAD answer 200 or
  404, PUT 201 (450 when X-Kt-Mode add/replace fails), DELETE 204 or 404.
  Reason phrases come from ``REASONS`` (450 is "Logical Inconsistency").
* Replies start ``HTTP/1.1 <code> <reason>``, then ``Server:
  KyotoTycoon/1.0.0``, ``Date:``, ``Connection: close`` only when the
  connection will be closed, ``Content-Length`` (left out for HEAD and 304,
  where the handler sets it itself), then the handler's headers
  (``Content-Type``, ``X-Kt-Xt``, ``X-Kt-Error``, ``Location``).  Error
  replies produced by the HTTP layer itself are ``text/plain`` bodies
  ``"<code> <reason> (<message>)\\n"`` with ``Connection: close``.
* Connections are persistent for HTTP/1.1 unless ``Connection: close``;
  HTTP/1.0 only with ``Connection: keep-alive``.  Only HTTP/1.0 and 1.1
  request lines are accepted.
* RESTful paths are ``/<key>`` or ``/<db>/<key>``, each part URL-encoded;
  ``<db>`` is an index when it starts with a digit, otherwise a database
  name.  A path starting ``/rpc/`` is always RPC.  ``X-Kt-Xt`` on a PUT is
  an absolute time (decimal seconds since the epoch, RFC 1123 or W3CDTF);
  on GET/HEAD replies it is an RFC 1123 date, absent when the record never
  expires.  ``X-Kt-Mode: add|replace`` selects the PUT mode.

Differences, on purpose: ktserver reads a request body only for POST, PUT
and unknown methods; ``RequestParser`` frames every request by its headers
(RFC 7230), so a GET with a Content-Length does not desynchronise the
stream.  (doc/spex.html's colenc=U reply example is illustrative: by the
rule above, ktserver sends UTF-8 text raw.)  Malformed
encodings and framing raise ``ProtocolError`` where ktserver guesses.
"""

from __future__ import annotations

import binascii
import calendar
import re
import time
from urllib.parse import unquote_to_bytes

try:  # CPython's C escape decoder: ~20x faster than unquote_to_bytes
    from _codecs import escape_decode

    _HAVE_ESCAPE_DECODE = True
except ImportError:  # pragma: no cover - other interpreters
    _HAVE_ESCAPE_DECODE = False
from typing import Dict, Final, List, Optional, Sequence, Tuple, final

from kt.errors import ProtocolError
from kt.protocol.buffer import ReceiveBuffer

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

#: Media type of TSV-RPC bodies.
TSV_CONTENT_TYPE: Final = b"text/tab-separated-values"
#: Media type of HTML-form bodies (accepted by ktserver for RPC input).
FORM_CONTENT_TYPE: Final = b"application/x-www-form-urlencoded"
#: Column encodings: none, base64, quoted-printable, URL encoding.
COLENCS: Final = ("", "B", "Q", "U")
#: What ktserver 1.0.0 puts in its ``Server`` header.
SERVER_NAME: Final = b"KyotoTycoon/1.0.0"
#: Default limit of a request's or response's header section, in bytes.
MAX_HEADER_SIZE: Final = 64 * 1024
#: Interim reply a server may send to a client waiting on
#: ``Expect: 100-continue`` (see ``RequestParser.expect_continue``).
CONTINUE_RESPONSE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

#: Reason phrases, as ktserver's HTTPServer::status_name spells them.
REASONS: Final[Dict[int, bytes]] = {
    100: b"Continue",
    101: b"Switching Protocols",
    102: b"Processing",
    200: b"OK",
    201: b"Created",
    202: b"Accepted",
    203: b"Non-Authoritative Information",
    204: b"No Content",
    205: b"Reset Content",
    206: b"Partial Content",
    207: b"Multi-Status",
    300: b"Multiple Choices",
    301: b"Moved Permanently",
    302: b"Found",
    303: b"See Other",
    304: b"Not Modified",
    305: b"Use Proxy",
    307: b"Temporary Redirect",
    400: b"Bad Request",
    401: b"Unauthorized",
    402: b"Payment Required",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    406: b"Not Acceptable",
    407: b"Proxy Authentication Required",
    408: b"Request Timeout",
    409: b"Conflict",
    410: b"Gone",
    411: b"Length Required",
    412: b"Precondition Failed",
    413: b"Request Entity Too Large",
    414: b"Request-URI Too Long",
    415: b"Unsupported Media Type",
    416: b"Requested Range Not Satisfiable",
    417: b"Expectation Failed",
    422: b"Unprocessable Entity",
    423: b"Locked",
    424: b"Failed Dependency",
    426: b"Upgrade Required",
    450: b"Logical Inconsistency",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
    506: b"Variant Also Negotiates",
    507: b"Insufficient Storage",
    509: b"Bandwidth Limit Exceeded",
    510: b"Not Extended",
}

# --------------------------------------------------------------------------
# Byte classes and tables
# --------------------------------------------------------------------------

_ALNUM: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Bytes kc::urlencode leaves as they are.
_URL_SAFE: Final = _ALNUM + b"_-.~"
# Bytes checkmapenc counts as one character when it estimates the size of
# URL encoding (its list differs slightly from what urlencode spares).
_URL_CHEAP: Final = _ALNUM + b"_-.!~*'()"
_B64_ALPHABET: Final = _ALNUM + b"+/"
# Control bytes: their presence forces an encoding.
_CTRL: Final = bytes(range(0x20)) + b"\x7f"
# Raw bytes a URL decoder drops (kc::urldecode skips them).
_URL_DROP: Final = bytes(range(0x21)) + b"\x7f"

_CTRL_RE: Final = re.compile(rb"[\x00-\x1f\x7f]")
_URL_DROP_RE: Final = re.compile(rb"[\x00-\x20\x7f]")
# Whitespace skipped before an item of a form (as ktserver does).
_FORM_SPACE: Final = bytes(range(1, 0x21))
_BAD_PERCENT_RE: Final = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_BAD_EQUALS_RE: Final = re.compile(rb"=(?![0-9A-Fa-f]{2})")
_TOKEN_RE: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_LINE_RE: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\n]*")
_HEADER_BLOCK_RE: Final = re.compile(
    rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\n]*\n)*[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\n]*"
)
_BAD_VALUE_RE: Final = re.compile(rb"[\x00\r\n]")
_CHUNK_SIZE_RE: Final = re.compile(rb"[0-9A-Fa-f]{1,15}")
_REQUEST_LINE_RE: Final = re.compile(
    rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\x00-\x20\x7f]+) (HTTP/1\.[01])"
)
_STATUS_LINE_RE: Final = re.compile(
    rb"(HTTP/1\.[01]) ([1-9][0-9][0-9])(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?"
)


def _build_str_table(safe: bytes, fmt: str) -> List[str]:
    table: List[str] = []
    for b in range(256):
        if b in safe:
            table.append(chr(b))
        else:
            table.append(fmt % b)
    return table


# str.translate tables (indexed by code point): the whole translation runs
# in C, which beats a per-byte loop by two orders of magnitude.
_URL_TABLE: Final = _build_str_table(_URL_SAFE, "%%%02x")
_QP_SAFE: Final = bytes(b for b in range(0x20, 0x7F) if b != 0x3D)
_QP_TABLE: Final = _build_str_table(_QP_SAFE, "=%02X")

# --------------------------------------------------------------------------
# Column encodings
# --------------------------------------------------------------------------


def url_encode(data: bytes) -> bytes:
    """URL-encode ``data`` as kc::urlencode does (``%xx``, lower-case hex)."""
    if not data.translate(None, _URL_SAFE):
        return data
    return data.decode("latin-1").translate(_URL_TABLE).encode("ascii")


def url_decode(data: bytes) -> bytes:
    """Decode URL encoding: ``%xx``, ``+`` for a space; raw bytes <= 0x20 and
    0x7F are dropped (as ktserver does).  A ``%`` not followed by two hex
    digits raises ProtocolError."""
    if _URL_DROP_RE.search(data) is not None:
        data = data.translate(None, _URL_DROP)
    if 0x2B in data:  # "+"
        data = data.replace(b"+", b" ")
    if 0x25 not in data:  # "%"
        return data
    if _BAD_PERCENT_RE.search(data) is not None:
        raise ProtocolError("invalid %%-escape in URL-encoded data %r" % data[:80])
    if not _HAVE_ESCAPE_DECODE:  # pragma: no cover - other interpreters
        return unquote_to_bytes(data)
    # Turn every %xx into \xNN and let the C escape decoder do the rest;
    # existing backslashes are doubled first so that they stay literal.
    escaped = data.replace(b"\\", b"\\\\").replace(b"%", b"\\x")
    decoded: bytes = escape_decode(escaped)[0]
    return decoded


def _qp_encode(data: bytes) -> bytes:
    if not data.translate(None, _QP_SAFE):
        return data
    return data.decode("latin-1").translate(_QP_TABLE).encode("ascii")


def _qp_decode(data: bytes) -> bytes:
    if _CTRL_RE.search(data) is not None:
        data = data.translate(None, _CTRL)
    if 0x3D not in data:  # "="
        return data
    if _BAD_EQUALS_RE.search(data) is not None:
        raise ProtocolError("invalid =-escape in quoted-printable data %r" % data[:80])
    return binascii.a2b_qp(data)


def _b64_decode(data: bytes) -> bytes:
    # Strict, as ktserver's decoder is: whole 4-character groups of the
    # standard alphabet, at most two "=" and only at the end.  (binascii's
    # own strict mode needs Python 3.11.)
    n = len(data)
    if n % 4 == 0:
        core = data.rstrip(b"=")
        if n - len(core) <= 2 and not core.translate(None, _B64_ALPHABET):
            try:
                return binascii.a2b_base64(data)
            except binascii.Error:
                pass
    raise ProtocolError("invalid base64 in TSV body: %r" % data[:80])


def _check_colenc(colenc: object) -> str:
    if not isinstance(colenc, str):
        raise TypeError("colenc must be a str, not %s" % type(colenc).__name__)
    if colenc not in COLENCS:
        raise ValueError("colenc must be one of '', 'B', 'Q', 'U', not %r" % colenc)
    return colenc


def _check_pairs(pairs: Sequence[Tuple[bytes, bytes]]) -> None:
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError("pairs must hold (key, value) tuples, got %r" % (pair,))
        k, v = pair
        if not isinstance(k, bytes):
            raise TypeError("pairs: key must be bytes, not %s" % type(k).__name__)
        if not isinstance(v, bytes):
            raise TypeError("pairs: value must be bytes, not %s" % type(v).__name__)


# --------------------------------------------------------------------------
# Choosing an encoding
# --------------------------------------------------------------------------


def _url_estimate(field: bytes) -> int:
    # checkmapenc's URL size estimate of one field (first 255 bytes).
    return len(field) + 2 * len(field.translate(None, _URL_CHEAP))


def ktserver_colenc(pairs: Sequence[Tuple[bytes, bytes]]) -> str:
    """The colenc ktserver picks for a reply holding ``pairs`` (exact rule).

    Raw ("") unless a key or value contains a byte < 0x20 or 0x7F or is
    longer than 255 bytes; then "B" if ``sum(n*6//4 + 3)`` is smaller than
    the URL estimate (1 per alphanumeric or ``_-.!~*'()`` byte, 3 for the
    others), else "U"; n counts at most 255 bytes of each field.
    """
    _check_pairs(pairs)
    return _ktserver_colenc(pairs)


def _ktserver_colenc(pairs: Sequence[Tuple[bytes, bytes]]) -> str:
    binary = False
    for k, v in pairs:
        if (
            len(k) > 255
            or len(v) > 255
            or _CTRL_RE.search(k) is not None
            or _CTRL_RE.search(v) is not None
        ):
            binary = True
            break
    if not binary:
        return ""
    blen = 0
    ulen = 0
    for k, v in pairs:
        if len(k) > 255:
            k = k[:255]
        if len(v) > 255:
            v = v[:255]
        blen += len(k) * 6 // 4 + len(v) * 6 // 4 + 6
        ulen += _url_estimate(k) + _url_estimate(v)
    return "B" if blen < ulen else "U"


def choose_colenc(pairs: Sequence[Tuple[bytes, bytes]]) -> str:
    """The colenc this library's client sends ``pairs`` with.

    Raw ("") when no key or value holds a byte < 0x20 or 0x7F (every byte is
    checked, in C; bytes >= 0x80 travel raw, as with ktserver).  Otherwise
    ktserver's size estimate decides between "B" and "U", except that a
    field longer than 255 bytes always means "B": base64 runs in C, URL
    encoding costs Python time per byte.
    """
    _check_pairs(pairs)
    return _client_colenc(pairs)


def _client_colenc(pairs: Sequence[Tuple[bytes, bytes]]) -> str:
    binary = False
    for k, v in pairs:
        if _CTRL_RE.search(k) is not None or _CTRL_RE.search(v) is not None:
            binary = True
            break
    if not binary:
        return ""
    blen = 0
    ulen = 0
    for k, v in pairs:
        if len(k) > 255 or len(v) > 255:
            return "B"
        blen += len(k) * 6 // 4 + len(v) * 6 // 4 + 6
        ulen += _url_estimate(k) + _url_estimate(v)
    return "B" if blen < ulen else "U"


# --------------------------------------------------------------------------
# TSV bodies
# --------------------------------------------------------------------------


def _encode_tsv(pairs: Sequence[Tuple[bytes, bytes]], colenc: str) -> bytes:
    # pairs and colenc already checked.
    parts: List[bytes] = []
    append = parts.append
    if colenc == "":
        for k, v in pairs:
            if 9 in k or 10 in k:  # tab, LF
                raise ValueError("pairs: key %r needs a colenc (tab or newline)" % k[:80])
            if 10 in v or v[-1:] == b"\r":
                raise ValueError(
                    "pairs: value %r needs a colenc (newline or trailing CR)" % v[:80]
                )
            append(k)
            append(b"\t")
            append(v)
            append(b"\n")
        return b"".join(parts)
    if colenc == "B":
        for k, v in pairs:
            append(binascii.b2a_base64(k, newline=False))
            append(b"\t")
            append(binascii.b2a_base64(v, newline=False))
            append(b"\n")
    elif colenc == "U":
        for k, v in pairs:
            append(url_encode(k))
            append(b"\t")
            append(url_encode(v))
            append(b"\n")
    else:
        for k, v in pairs:
            append(_qp_encode(k))
            append(b"\t")
            append(_qp_encode(v))
            append(b"\n")
    return b"".join(parts)


def encode_tsv(pairs: Sequence[Tuple[bytes, bytes]], colenc: str) -> bytes:
    """Serialise ``pairs`` as TSV lines ``key\\tvalue\\n`` under ``colenc``.

    With colenc "" a key holding a tab or newline, or a value holding a
    newline or ending with CR, cannot be represented: ValueError.
    """
    colenc = _check_colenc(colenc)
    _check_pairs(pairs)
    return _encode_tsv(pairs, colenc)


def decode_tsv(body: bytes, colenc: str) -> List[Tuple[bytes, bytes]]:
    """Parse a TSV body into (key, value) pairs, in order, duplicates kept
    (ktserver keeps the last one of a key).

    As in ktserver, lines end at LF, one trailing CR is dropped, a line is
    cut at its first tab, and a line without a tab (blank lines included)
    is ignored.  Bad base64 or a bad ``%xx`` / ``=XX`` escape raises
    ProtocolError.
    """
    if not isinstance(body, bytes):
        raise TypeError("body must be bytes, not %s" % type(body).__name__)
    colenc = _check_colenc(colenc)
    out: List[Tuple[bytes, bytes]] = []
    if not body:
        return out
    append = out.append
    for line in body.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        tab = line.find(b"\t")
        if tab < 0:
            continue
        k = line[:tab]
        v = line[tab + 1:]
        if colenc == "B":
            k = _b64_decode(k)
            v = _b64_decode(v)
        elif colenc == "U":
            k = url_decode(k)
            v = url_decode(v)
        elif colenc == "Q":
            k = _qp_decode(k)
            v = _qp_decode(v)
        append((k, v))
    return out


def tsv_content_type(colenc: str) -> bytes:
    """The Content-Type value announcing a TSV body under ``colenc``."""
    colenc = _check_colenc(colenc)
    if colenc:
        return TSV_CONTENT_TYPE + b"; colenc=" + colenc.encode("ascii")
    return TSV_CONTENT_TYPE


def parse_colenc(content_type: bytes) -> str:
    """The colenc announced by a Content-Type value ("" when none).

    Mirrors ktserver: the value must start (case-insensitively) with
    ``text/tab-separated-values``; attributes are separated by spaces or
    ``;``; ``colenc=`` (any case, value optionally quoted) is judged by its
    first letter; the last one wins.  A non-TSV type gives "".
    """
    n = len(TSV_CONTENT_TYPE)
    if content_type[:n].lower() != TSV_CONTENT_TYPE:
        return ""
    colenc = ""
    for token in content_type[n:].replace(b";", b" ").split(b" "):
        if len(token) > 7 and token[:7].lower() == b"colenc=":
            letter = token[7:8]
            if letter == b'"':
                letter = token[8:9]
            letter = letter.upper()
            if letter == b"B":
                colenc = "B"
            elif letter == b"Q":
                colenc = "Q"
            elif letter == b"U":
                colenc = "U"
    return colenc


def decode_form(data: bytes) -> List[Tuple[bytes, bytes]]:
    """Parse ``k=v&k=v`` (query strings and HTML-form bodies) into pairs.

    ``;`` separates too, leading whitespace of an item is skipped, empty
    items are ignored, an item without ``=`` has an empty value; both sides
    are URL-decoded (ProtocolError on a bad escape).
    """
    out: List[Tuple[bytes, bytes]] = []
    if not data:
        return out
    if 0x3B in data:  # ";"
        data = data.replace(b";", b"&")
    for item in data.split(b"&"):
        item = item.lstrip(_FORM_SPACE)
        if not item:
            continue
        eq = item.find(b"=")
        if eq < 0:
            out.append((url_decode(item), b""))
        else:
            out.append((url_decode(item[:eq]), url_decode(item[eq + 1:])))
    return out


def encode_form(pairs: Sequence[Tuple[bytes, bytes]]) -> bytes:
    """Serialise pairs as ``k=v&k=v`` with URL encoding (for query strings)."""
    _check_pairs(pairs)
    return b"&".join([url_encode(k) + b"=" + url_encode(v) for k, v in pairs])


def decode_rpc_body(content_type: Optional[bytes], body: bytes) -> List[Tuple[bytes, bytes]]:
    """The pairs carried by an RPC request or reply body.

    TSV (with its colenc) or HTML form, chosen by ``content_type``; with no
    Content-Type, or another media type, the body is ignored (as ktserver
    does) and the result is empty.
    """
    if content_type is None:
        return []
    n = len(TSV_CONTENT_TYPE)
    if content_type[:n].lower() == TSV_CONTENT_TYPE:
        return decode_tsv(body, parse_colenc(content_type))
    if content_type[: len(FORM_CONTENT_TYPE)].lower() == FORM_CONTENT_TYPE:
        return decode_form(body)
    return []


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
    if v[:2] in (b"0x", b"0X") and _CHUNK_SIZE_RE.fullmatch(v[2:]) is not None:
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
# Messages
# --------------------------------------------------------------------------


def _connection_keep_alive(version: bytes, headers: Dict[bytes, bytes]) -> bool:
    conn = headers.get(b"connection")
    if conn is None:
        return version == b"HTTP/1.1"
    tokens = [t.strip(b" \t") for t in conn.lower().split(b",")]
    if b"close" in tokens:
        return False
    if b"keep-alive" in tokens:
        return True
    return version == b"HTTP/1.1"


@final
class HttpResponse:
    """A parsed HTTP response (client side).

    ``headers`` maps lower-cased names to values (repeated headers joined
    with ``", "``); ``body`` is the de-chunked entity body.
    """

    version: bytes
    status: int
    reason: bytes
    headers: Dict[bytes, bytes]
    body: bytes
    ended_by_close: bool

    def __init__(
        self,
        version: bytes,
        status: int,
        reason: bytes,
        headers: Dict[bytes, bytes],
        body: bytes,
        ended_by_close: bool = False,
    ) -> None:
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.ended_by_close = ended_by_close

    @property
    def keep_alive(self) -> bool:
        """Whether the connection can carry another request."""
        if self.ended_by_close:
            return False
        return _connection_keep_alive(self.version, self.headers)

    @property
    def colenc(self) -> str:
        """The colenc of a TSV body ("" when none or not TSV)."""
        ct = self.headers.get(b"content-type")
        return parse_colenc(ct) if ct is not None else ""

    def rpc_pairs(self) -> List[Tuple[bytes, bytes]]:
        """The pairs of an RPC reply body (see ``decode_rpc_body``)."""
        return decode_rpc_body(self.headers.get(b"content-type"), self.body)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HttpResponse):
            return NotImplemented
        return (
            self.version == other.version
            and self.status == other.status
            and self.reason == other.reason
            and self.headers == other.headers
            and self.body == other.body
            and self.ended_by_close == other.ended_by_close
        )

    def __repr__(self) -> str:
        return "HttpResponse(%r, %d, %r, headers=%r, body=%r)" % (
            self.version, self.status, self.reason, self.headers, self.body[:200],
        )


@final
class HttpRequest:
    """A parsed HTTP request (server side).

    ``target`` is the request target as sent; ``path`` its part before
    ``?``, still URL-encoded (RESTful paths must be split before decoding:
    see ``split_rest_path`` and ``rpc_procedure``); ``query`` the decoded
    query pairs.  ``headers`` maps lower-cased names to values.
    """

    method: bytes
    target: bytes
    path: bytes
    query: List[Tuple[bytes, bytes]]
    version: bytes
    headers: Dict[bytes, bytes]
    body: bytes

    def __init__(
        self,
        method: bytes,
        target: bytes,
        path: bytes,
        query: List[Tuple[bytes, bytes]],
        version: bytes,
        headers: Dict[bytes, bytes],
        body: bytes,
    ) -> None:
        self.method = method
        self.target = target
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body

    @property
    def keep_alive(self) -> bool:
        """Whether the client wants the connection kept open afterwards."""
        return _connection_keep_alive(self.version, self.headers)

    def rpc_pairs(self) -> List[Tuple[bytes, bytes]]:
        """RPC input as ktserver assembles it: query pairs, then body pairs."""
        body_pairs = decode_rpc_body(self.headers.get(b"content-type"), self.body)
        if not self.query:
            return body_pairs
        return self.query + body_pairs

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HttpRequest):
            return NotImplemented
        return (
            self.method == other.method
            and self.target == other.target
            and self.path == other.path
            and self.query == other.query
            and self.version == other.version
            and self.headers == other.headers
            and self.body == other.body
        )

    def __repr__(self) -> str:
        return "HttpRequest(%r, %r, %r, headers=%r, body=%r)" % (
            self.method, self.target, self.version, self.headers, self.body[:200],
        )


# --------------------------------------------------------------------------
# Shared parsing machinery
# --------------------------------------------------------------------------

_MAX_CHUNK_LINE: Final = 4096


def _find_section_end(data: bytes, pos: int, scan: int) -> Tuple[int, int]:
    """Find the blank line that ends a header (or trailer) section.

    The section starts at ``pos``; ``scan`` is where searching may resume.
    Returns (end of the section's text, first byte after the blank line),
    or (-1, -1) when the blank line has not arrived.  Lines may end with
    CRLF or a bare LF.
    """
    if data.startswith(b"\r\n", pos):
        return pos, pos + 2
    if data.startswith(b"\n", pos):
        return pos, pos + 1
    crlf = data.find(b"\n\r\n", scan)
    if crlf >= 0:
        lf = data.find(b"\n\n", scan, crlf + 1)
    else:
        lf = data.find(b"\n\n", scan)
    if lf >= 0:
        return lf, lf + 2
    if crlf >= 0:
        return crlf, crlf + 3
    return -1, -1


def _section_text(data: bytes, pos: int, end: int) -> bytes:
    """The text of a section with every line ending turned into a bare LF
    (and none after the last line)."""
    text = data[pos:end]
    if text.endswith(b"\r"):
        text = text[:-1]
    if 13 in text:
        text = text.replace(b"\r\n", b"\n")
    return text


def _split_start_line(text: bytes) -> Tuple[bytes, bytes]:
    nl = text.find(b"\n")
    if nl < 0:
        return text, b""
    return text[:nl], text[nl + 1:]


def _parse_header_block(block: bytes) -> Dict[bytes, bytes]:
    """Header fields of LF-separated ``block``: lower-cased names, values
    without surrounding blanks, repeated names joined with ", "."""
    headers: Dict[bytes, bytes] = {}
    if not block:
        return headers
    # One C-level check of the whole block: every line is "token:value".
    if _HEADER_BLOCK_RE.fullmatch(block) is None:
        for line in block.split(b"\n"):
            if _HEADER_LINE_RE.fullmatch(line) is None:
                raise ProtocolError("malformed header line %r" % line[:80])
        raise ProtocolError("malformed header section")  # pragma: no cover
    for line in block.split(b"\n"):
        name, _, value = line.partition(b":")
        name = name.lower()
        value = value.strip(b" \t")
        old = headers.get(name)
        headers[name] = value if old is None else old + b", " + value
    return headers


def _content_length(value: bytes) -> int:
    if not value.isdigit() or len(value) > 18:
        raise ProtocolError("invalid Content-Length %r" % value[:80])
    return int(value)


def _is_chunked(value: bytes) -> bool:
    """True for ``chunked``; ProtocolError for codings this layer cannot undo."""
    codings = [c.strip(b" \t") for c in value.lower().split(b",")]
    codings = [c for c in codings if c and c != b"identity"]
    if not codings:
        return False
    if codings == [b"chunked"]:
        return True
    raise ProtocolError("unsupported Transfer-Encoding %r" % value[:80])


_BODY_NONE: Final = 0
_BODY_LENGTH: Final = 1
_BODY_CHUNKED: Final = 2
_CHUNK_SIZE: Final = 0
_CHUNK_DATA: Final = 1
_CHUNK_TRAILER: Final = 2


@final
class _BodyReader:
    """Reads one body delimited by Content-Length or chunked coding."""

    mode: int
    remaining: int
    chunk_state: int
    parts: List[bytes]
    total: int
    scanned: int

    def __init__(self) -> None:
        self.mode = _BODY_NONE
        self.remaining = 0
        self.chunk_state = _CHUNK_SIZE
        self.parts = []
        self.total = 0
        self.scanned = 0

    def start(self, mode: int, length: int) -> None:
        self.mode = mode
        self.remaining = length
        self.chunk_state = _CHUNK_SIZE
        self.parts = []
        self.total = 0
        self.scanned = 0

    def read(self, buf: ReceiveBuffer) -> Optional[bytes]:
        """The whole body once complete (consumed from ``buf``), else None."""
        if self.mode == _BODY_LENGTH:
            n = self.remaining
            if not buf.ensure(n):
                return None
            self.mode = _BODY_NONE
            return buf.take(n)
        if self.mode == _BODY_CHUNKED:
            return self._read_chunked(buf)
        return b""

    def _read_chunked(self, buf: ReceiveBuffer) -> Optional[bytes]:
        while True:
            state = self.chunk_state
            if state == _CHUNK_SIZE:
                avail = len(buf)
                if avail == 0 or not buf.ensure(min(avail, _MAX_CHUNK_LINE + 1)):
                    return None
                data = buf.data
                pos = buf.pos
                nl = data.find(b"\n", pos, pos + _MAX_CHUNK_LINE)
                if nl < 0:
                    if avail >= _MAX_CHUNK_LINE:
                        raise ProtocolError("chunk-size line too long")
                    return None
                line = data[pos:nl]
                semi = line.find(b";")
                if semi >= 0:
                    line = line[:semi]
                line = line.strip(b" \t\r")
                if _CHUNK_SIZE_RE.fullmatch(line) is None:
                    raise ProtocolError("invalid chunk size %r" % data[pos:nl][:80])
                size = int(line, 16)
                buf.pos = nl + 1
                if size == 0:
                    self.chunk_state = _CHUNK_TRAILER
                    self.scanned = 0
                else:
                    if self.total + size > buf.limit:
                        raise ProtocolError(
                            "chunked body exceeds the limit of %d bytes" % buf.limit
                        )
                    self.remaining = size
                    self.chunk_state = _CHUNK_DATA
            elif state == _CHUNK_DATA:
                size = self.remaining
                if not buf.ensure(size + 1):
                    return None
                data = buf.data
                end = buf.pos + size
                if data[end] == 0x0A:
                    after = end + 1
                elif data[end] == 0x0D:
                    if not buf.ensure(size + 2):
                        return None
                    data = buf.data
                    end = buf.pos + size
                    if data[end + 1] != 0x0A:
                        raise ProtocolError("chunk data not followed by CRLF")
                    after = end + 2
                else:
                    raise ProtocolError("chunk data not followed by CRLF")
                self.parts.append(data[buf.pos:end])
                self.total += size
                buf.pos = after
                self.chunk_state = _CHUNK_SIZE
            else:
                avail = len(buf)
                if avail == 0 or not buf.ensure(min(avail, MAX_HEADER_SIZE + 5)):
                    return None
                data = buf.data
                pos = buf.pos
                scan = pos + max(0, self.scanned - 2)
                end, after = _find_section_end(data, pos, scan)
                if end < 0:
                    if avail > MAX_HEADER_SIZE:
                        raise ProtocolError("chunked trailer section too long")
                    self.scanned = avail
                    return None
                if end > pos:
                    # Trailer fields are checked for form, then dropped.
                    _parse_header_block(_section_text(data, pos, end))
                buf.pos = after
                body = b"".join(self.parts)
                self.start(_BODY_NONE, 0)
                return body


# --------------------------------------------------------------------------
# Client side: requests out, responses in
# --------------------------------------------------------------------------


def _check_host(host_header: bytes) -> None:
    if not isinstance(host_header, bytes):
        raise TypeError("host_header must be bytes, not %s" % type(host_header).__name__)
    if _BAD_VALUE_RE.search(host_header) is not None:
        raise ValueError("host_header must not contain CR, LF or NUL")


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
    _check_pairs(pairs)
    if colenc is None:
        colenc = _client_colenc(pairs)
    else:
        colenc = _check_colenc(colenc)
    body = _encode_tsv(pairs, colenc)
    ctype = TSV_CONTENT_TYPE + b"; colenc=" + colenc.encode("ascii") if colenc else TSV_CONTENT_TYPE
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


_R_HEAD: Final = 0
_R_BODY: Final = 1
_R_UNTIL_CLOSE: Final = 2


@final
class ResponseParser:
    """Parses the responses of one connection, one after another.

    Set ``head`` to True before parsing the response to a HEAD request (its
    Content-Length announces no body); 204, 304 and 1xx responses never
    have one, 1xx interim responses are skipped.  A response with neither
    Content-Length nor chunked coding runs until the connection closes:
    ``parse`` then returns None until the caller, at EOF, calls ``finish``.
    """

    head: bool
    max_header: int
    _state: int
    _scanned: int
    _pending: Optional[HttpResponse]
    _body: _BodyReader

    def __init__(self, head: bool = False, max_header: int = MAX_HEADER_SIZE) -> None:
        self.head = head
        self.max_header = max_header
        self._state = _R_HEAD
        self._scanned = 0
        self._pending = None
        self._body = _BodyReader()

    def parse(self, buf: ReceiveBuffer) -> Optional[HttpResponse]:
        """The next complete response, consumed from ``buf``, or None."""
        while True:
            state = self._state
            if state == _R_HEAD:
                resp = self._parse_head(buf)
                if resp is None:
                    return None
                status = resp.status
                if 100 <= status < 200:
                    continue
                headers = resp.headers
                if self.head or status == 204 or status == 304:
                    return resp
                te = headers.get(b"transfer-encoding")
                if te is not None and _is_chunked(te):
                    self._body.start(_BODY_CHUNKED, 0)
                else:
                    cl = headers.get(b"content-length")
                    if cl is None:
                        self._pending = resp
                        self._state = _R_UNTIL_CLOSE
                        return None
                    self._body.start(_BODY_LENGTH, _content_length(cl))
                self._pending = resp
                self._state = _R_BODY
            elif state == _R_BODY:
                body = self._body.read(buf)
                if body is None:
                    return None
                resp2 = self._pending
                self._pending = None
                self._state = _R_HEAD
                if resp2 is None:  # pragma: no cover - state invariant
                    raise ProtocolError("response parser lost its state")
                resp2.body = body
                return resp2
            else:
                if len(buf) > buf.limit:
                    raise ProtocolError(
                        "response body exceeds the limit of %d bytes" % buf.limit
                    )
                return None

    def finish(self, buf: ReceiveBuffer) -> Optional[HttpResponse]:
        """Call when the peer closed the connection.

        Returns the response whose body ran until the close, or None when
        the connection closed cleanly between responses; a response cut
        short raises ProtocolError.
        """
        state = self._state
        self._state = _R_HEAD
        self._scanned = 0
        if state == _R_UNTIL_CLOSE:
            resp = self._pending
            self._pending = None
            if resp is None:  # pragma: no cover - state invariant
                raise ProtocolError("response parser lost its state")
            n = len(buf)
            buf.ensure(n)
            resp.body = buf.take(n)
            resp.ended_by_close = True
            return resp
        self._pending = None
        if state == _R_HEAD and len(buf) == 0:
            return None
        raise ProtocolError("connection closed in the middle of a response")

    def _parse_head(self, buf: ReceiveBuffer) -> Optional[HttpResponse]:
        avail = len(buf)
        if avail == 0 or not buf.ensure(min(avail, self.max_header + 5)):
            return None
        data = buf.data
        pos = buf.pos
        scan = pos + max(0, self._scanned - 2)
        end, after = _find_section_end(data, pos, scan)
        if end < 0:
            if avail > self.max_header:
                raise ProtocolError(
                    "response header section exceeds %d bytes" % self.max_header
                )
            self._scanned = avail
            if not data.startswith(b"HTTP/"[: avail], pos):
                raise ProtocolError("not an HTTP response: %r" % data[pos:pos + 40])
            return None
        if after - pos > self.max_header + 4:
            raise ProtocolError("response header section exceeds %d bytes" % self.max_header)
        self._scanned = 0
        first, block = _split_start_line(_section_text(data, pos, end))
        m = _STATUS_LINE_RE.fullmatch(first)
        if m is None:
            raise ProtocolError("malformed status line %r" % first[:80])
        headers = _parse_header_block(block)
        buf.pos = after
        reason = m.group(3)
        return HttpResponse(
            m.group(1), int(m.group(2)), reason if reason is not None else b"", headers, b""
        )


# --------------------------------------------------------------------------
# Server side: requests in, responses out
# --------------------------------------------------------------------------


@final
class RequestParser:
    """Parses the requests of one connection, one after another.

    Bodies are framed by Content-Length or chunked coding (both at once is
    refused); a request with neither has an empty body.  While the body of
    a request sent with ``Expect: 100-continue`` is still awaited,
    ``expect_continue`` is True: the server may then send
    ``CONTINUE_RESPONSE`` once.
    """

    max_header: int
    expect_continue: bool
    _scanned: int
    _pending: Optional[HttpRequest]
    _body: _BodyReader

    def __init__(self, max_header: int = MAX_HEADER_SIZE) -> None:
        self.max_header = max_header
        self.expect_continue = False
        self._scanned = 0
        self._pending = None
        self._body = _BodyReader()

    @property
    def in_body(self) -> bool:
        """True while a request's head was read and its body is awaited
        (the next bytes belong to that body, whatever they look like)."""
        return self._pending is not None

    def parse(self, buf: ReceiveBuffer) -> Optional[HttpRequest]:
        """The next complete request, consumed from ``buf``, or None."""
        req = self._pending
        if req is None:
            req = self._parse_head(buf)
            if req is None:
                return None
            headers = req.headers
            te = headers.get(b"transfer-encoding")
            cl = headers.get(b"content-length")
            if te is not None and _is_chunked(te):
                if cl is not None:
                    raise ProtocolError("request has both Content-Length and chunked coding")
                self._body.start(_BODY_CHUNKED, 0)
            elif cl is not None:
                self._body.start(_BODY_LENGTH, _content_length(cl))
            else:
                return req
            self._pending = req
            expect = headers.get(b"expect")
            self.expect_continue = expect is not None and expect.lower() == b"100-continue"
        body = self._body.read(buf)
        if body is None:
            return None
        self._pending = None
        self.expect_continue = False
        req.body = body
        return req

    def _parse_head(self, buf: ReceiveBuffer) -> Optional[HttpRequest]:
        while True:
            avail = len(buf)
            if avail == 0 or not buf.ensure(min(avail, self.max_header + 5)):
                return None
            data = buf.data
            pos = buf.pos
            # Blank lines before a request line are skipped (RFC 7230 3.5).
            start = pos
            while True:
                if data.startswith(b"\r\n", pos):
                    pos += 2
                elif data.startswith(b"\n", pos):
                    pos += 1
                else:
                    break
            if pos == start:
                break
            buf.pos = pos
            self._scanned = 0
        scan = pos + max(0, self._scanned - 2)
        end, after = _find_section_end(data, pos, scan)
        if end < 0:
            if avail > self.max_header:
                raise ProtocolError(
                    "request header section exceeds %d bytes" % self.max_header
                )
            self._scanned = avail
            return None
        if after - pos > self.max_header + 4:
            raise ProtocolError("request header section exceeds %d bytes" % self.max_header)
        self._scanned = 0
        first, block = _split_start_line(_section_text(data, pos, end))
        m = _REQUEST_LINE_RE.fullmatch(first)
        if m is None:
            raise ProtocolError("malformed request line %r" % first[:80])
        target = m.group(2)
        if not target.startswith(b"/"):
            raise ProtocolError("request target must start with '/': %r" % target[:80])
        headers = _parse_header_block(block)
        q = target.find(b"?")
        if q >= 0:
            path = target[:q]
            query = decode_form(target[q + 1:])
        else:
            path = target
            query = []
        buf.pos = after
        return HttpRequest(m.group(1), target, path, query, m.group(3), headers, b"")


def reason_phrase(status: int) -> bytes:
    """ktserver's reason phrase for ``status``."""
    reason = REASONS.get(status)
    if reason is not None:
        return reason
    if status < 100:
        return b"Unknown Status"
    if status < 200:
        return b"Unknown Informational Status"
    if status < 300:
        return b"Unknown Success Status"
    if status < 400:
        return b"Unknown Redirection Status"
    if status < 500:
        return b"Unknown Client Error Status"
    if status < 600:
        return b"Unknown Server Error Status"
    return b"Unknown Status"


def _check_status(status: int) -> None:
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError("status must be an int, not %s" % type(status).__name__)
    if not 100 <= status <= 999:
        raise ValueError("status must be between 100 and 999, not %d" % status)


def _check_optional_header(name: str, value: Optional[bytes]) -> None:
    if value is None:
        return
    if not isinstance(value, bytes):
        raise TypeError("%s must be bytes or None, not %s" % (name, type(value).__name__))
    if _BAD_VALUE_RE.search(value) is not None:
        raise ValueError("%s must not contain CR, LF or NUL" % name)


def encode_response(
    status: int,
    headers: Sequence[Tuple[bytes, bytes]],
    body: bytes,
    keep_alive: bool,
    head: bool = False,
    date: Optional[bytes] = None,
    server: Optional[bytes] = SERVER_NAME,
) -> bytes:
    """A complete response, laid out as ktserver lays it out.

    Status line, ``Server`` (unless None), ``Date`` (when given: the
    module has no clock; see ``format_xt_header`` for the format),
    ``Connection: close`` when not ``keep_alive``, ``Content-Length``, then
    ``headers`` in order, then the body.  For a HEAD request (``head``) and
    for 304 neither Content-Length nor the body is written; a HEAD handler
    passes its own Content-Length in ``headers``, as ktserver's does.
    """
    _check_status(status)
    if not isinstance(body, bytes):
        raise TypeError("body must be bytes, not %s" % type(body).__name__)
    _check_optional_header("date", date)
    _check_optional_header("server", server)
    if body and (status < 200 or status == 204):
        raise ValueError("body: a %d response cannot carry a body" % status)
    with_body = not head and status != 304
    parts: List[bytes] = [b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))]
    if server is not None:
        parts.append(b"Server: %s\r\n" % server)
    if date is not None:
        parts.append(b"Date: %s\r\n" % date)
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    if with_body:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    for pair in headers:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError("headers must hold (name, value) tuples, got %r" % (pair,))
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError("headers: names and values must be bytes")
        if _TOKEN_RE.fullmatch(name) is None:
            raise ValueError("headers: invalid header name %r" % name[:80])
        if _BAD_VALUE_RE.search(value) is not None:
            raise ValueError("headers: value of %r must not contain CR, LF or NUL" % name)
        if with_body:
            lname = name.lower()
            if lname == b"content-length" or lname == b"transfer-encoding":
                raise ValueError("headers: %r is set by encode_response" % name)
        parts.append(name + b": " + value + b"\r\n")
    parts.append(b"\r\n")
    if with_body and body:
        parts.append(body)
    return b"".join(parts)


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
    _check_pairs(pairs)
    if colenc is None:
        colenc = _ktserver_colenc(pairs)
    else:
        colenc = _check_colenc(colenc)
    body = _encode_tsv(pairs, colenc)
    ctype = TSV_CONTENT_TYPE + b"; colenc=" + colenc.encode("ascii") if colenc else TSV_CONTENT_TYPE
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
