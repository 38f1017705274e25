"""Kyoto Tycoon's body encodings: TSV with column encodings, forms, URLs.

Who calls it: kt.protocol.kt_http (RPC requests and replies, REST paths),
kt.protocol.http (a request's query string, and the ``rpc_pairs()`` /
``colenc`` of parsed messages), and through kt_http's re-exports the
KyotoTycoon client, the built-in Kyoto Tycoon server and the tests.  No
I/O: bytes in, values out.

What ktserver (Kyoto Tycoon 1.0.0, ktrpc.h / ktutil.h) does, and what this
module therefore mirrors:

* RPC bodies are TSV lines ``key\\tvalue\\n`` with ``Content-Type:
  text/tab-separated-values``, optionally with a ``colenc`` attribute:
  ``B`` base64 (standard alphabet, padded, strict), ``Q``
  quoted-printable, ``U`` URL encoding.  The whole body (keys and values)
  uses one encoding.  A line is cut at its first tab; a trailing CR is
  dropped; a line without a tab is silently ignored.  A body sent as
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
  (doc/spex.html's colenc=U reply example is illustrative: by this rule,
  ktserver sends UTF-8 text raw.)
* URL encoding leaves ``A-Z a-z 0-9 _ - . ~`` alone and writes ``%xx``;
  decoding also turns ``+`` into a space and drops raw bytes <= 0x20 and
  0x7F.

Malformed encodings raise ``ProtocolError`` where ktserver guesses.
"""

from __future__ import annotations

import binascii
import re
from urllib.parse import unquote_to_bytes

try:  # CPython's C escape decoder: ~20x faster than unquote_to_bytes
    from _codecs import escape_decode

    _HAVE_ESCAPE_DECODE = True
except ImportError:  # pragma: no cover - other interpreters
    _HAVE_ESCAPE_DECODE = False
from typing import Final, List, Optional, Sequence, Tuple

from kt.errors import ProtocolError

#: Media type of TSV-RPC bodies.
TSV_CONTENT_TYPE: Final = b"text/tab-separated-values"
#: Media type of HTML-form bodies (accepted by ktserver for RPC input).
FORM_CONTENT_TYPE: Final = b"application/x-www-form-urlencoded"
#: Column encodings: none, base64, quoted-printable, URL encoding.
COLENCS: Final = ("", "B", "Q", "U")

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
    return _pick_colenc(pairs, True)


def _pick_colenc(pairs: Sequence[Tuple[bytes, bytes]], server: bool) -> str:
    """ktserver's rule (``server``) or this client's: see ktserver_colenc
    and choose_colenc."""
    binary = False
    for k, v in pairs:
        if (
            (server and (len(k) > 255 or len(v) > 255))
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
        if len(k) > 255 or len(v) > 255:
            if not server:
                return "B"
            k = k[:255]
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
    return _pick_colenc(pairs, False)


# --------------------------------------------------------------------------
# TSV bodies
# --------------------------------------------------------------------------


def _encode_tsv(pairs: Sequence[Tuple[bytes, bytes]], colenc: str) -> bytes:
    # pairs and colenc already checked.
    parts: List[bytes] = []
    if colenc == "":
        for k, v in pairs:
            if 9 in k or 10 in k:  # tab, LF
                raise ValueError("pairs: key %r needs a colenc (tab or newline)" % k[:80])
            if 10 in v or v[-1:] == b"\r":
                raise ValueError(
                    "pairs: value %r needs a colenc (newline or trailing CR)" % v[:80]
                )
            parts.append(k)
            parts.append(b"\t")
            parts.append(v)
            parts.append(b"\n")
        return b"".join(parts)
    if colenc == "B":
        for k, v in pairs:
            parts.append(binascii.b2a_base64(k, newline=False))
            parts.append(b"\t")
            parts.append(binascii.b2a_base64(v, newline=False))
            parts.append(b"\n")
    elif colenc == "U":
        for k, v in pairs:
            parts.append(url_encode(k))
            parts.append(b"\t")
            parts.append(url_encode(v))
            parts.append(b"\n")
    else:
        for k, v in pairs:
            parts.append(_qp_encode(k))
            parts.append(b"\t")
            parts.append(_qp_encode(v))
            parts.append(b"\n")
    return b"".join(parts)


def _tsv_body(
    pairs: Sequence[Tuple[bytes, bytes]], colenc: Optional[str], server_rule: bool
) -> Tuple[bytes, bytes]:
    """(body, Content-Type) of an RPC message carrying ``pairs``; colenc None
    picks one by ktserver's rule (``server_rule``) or the client's."""
    _check_pairs(pairs)
    if colenc is None:
        colenc = _pick_colenc(pairs, server_rule)
    else:
        colenc = _check_colenc(colenc)
    body = _encode_tsv(pairs, colenc)
    if colenc:
        return body, TSV_CONTENT_TYPE + b"; colenc=" + colenc.encode("ascii")
    return body, TSV_CONTENT_TYPE


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
        out.append((k, v))
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
