"""HTTP/1.1 message framing, as ktserver frames it, for both directions.

Who calls it: kt.protocol.kt_http builds Kyoto's RPC and RESTful messages on
top of it and re-exports every public name here, so the KyotoTycoon client
(``ResponseParser``), the built-in Kyoto Tycoon server (``RequestParser``,
``encode_response``) and the tests reach it as ``kt_http.<name>``.  Nothing
here knows Kyoto's procedures; the messages' ``rpc_pairs()`` and ``colenc``
decode their bodies with kt.protocol.kt_tsv.  Sans-I/O: bytes in, values
out, and no clock (callers that want a ``Date`` header pass it in).

What ktserver (Kyoto Tycoon 1.0.0, kthttp.h) does, and what this module
therefore mirrors:

* Replies start ``HTTP/1.1 <code> <reason>``, then ``Server:
  KyotoTycoon/1.0.0``, ``Date:``, ``Connection: close`` only when the
  connection will be closed, ``Content-Length`` (left out for HEAD and 304,
  where the handler sets it itself), then the handler's headers.  Reason
  phrases come from ``REASONS`` (450 is "Logical Inconsistency").
* Connections are persistent for HTTP/1.1 unless ``Connection: close``;
  HTTP/1.0 only with ``Connection: keep-alive``.  Only HTTP/1.0 and 1.1
  request lines are accepted.
* Bodies are delimited by Content-Length or chunked coding; lines may end
  with CRLF or a bare LF.

Differences, on purpose: ktserver reads a request body only for POST, PUT
and unknown methods; ``RequestParser`` frames every request by its headers
(RFC 7230), so a GET with a Content-Length does not desynchronise the
stream.  Malformed framing raises ``ProtocolError`` where ktserver guesses.
"""

from __future__ import annotations

import re
from typing import Dict, Final, List, Optional, Sequence, Tuple, final

from kt.errors import ProtocolError
from kt.protocol.buffer import FieldsRecord, ReceiveBuffer
from kt.protocol.kt_tsv import decode_form, decode_rpc_body, parse_colenc

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

# Header syntax.

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
class HttpResponse(FieldsRecord):
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

    def _fields(self) -> Tuple[object, ...]:
        return (
            self.version, self.status, self.reason, self.headers, self.body, self.ended_by_close
        )

    def __repr__(self) -> str:
        return "HttpResponse(%r, %d, %r, headers=%r, body=%r)" % (
            self.version, self.status, self.reason, self.headers, self.body[:200],
        )


@final
class HttpRequest(FieldsRecord):
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

    def _fields(self) -> Tuple[object, ...]:
        return (
            self.method, self.target, self.path, self.query, self.version, self.headers, self.body
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
# Client side: responses in
# --------------------------------------------------------------------------


def _check_host(host_header: bytes) -> None:
    if not isinstance(host_header, bytes):
        raise TypeError("host_header must be bytes, not %s" % type(host_header).__name__)
    if _BAD_VALUE_RE.search(host_header) is not None:
        raise ValueError("host_header must not contain CR, LF or NUL")



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
