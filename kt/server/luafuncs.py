"""The utility functions the Lua APIs of both real servers provide, as
plain functions on bytes and numbers (no Lua in here).

Who calls it: kt.server.lua binds them into a Lua state, under ktserver's
names (``kt.split``, ``kt.pack``, ``kt.hash_murmur`` ...) and ttserver's
(``_split``, ``_pack``, ``_hash`` ...).  Their results follow the C code
of ktserver 1.0.0 (myscript.cc) and ttserver 1.1.41 (scrext.c); the tests
run the same Lua against the real servers (tests/test_lua_runtime.py).
Strings are bytes; where the C code reads a NUL-terminated string
(``lua_tostring`` then ``strlen``), the argument is cut at its first NUL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import struct
import time
import zlib
from typing import Dict, Final, List, Optional, Sequence, Tuple, Union

from kt.protocol.kt_repl import encode_varnum
from kt.server.ere import compile_ere, key_matches
from kt.server.cnum import atof as kc_atof
from kt.server.cnum import atoi as kc_atoi
from kt.server.kyoto.storage import _levenshtein

Number = Union[int, float]

__all__ = [
    "arraydump", "arrayload", "atof", "atoi", "atoix", "bit", "codec", "cstr",
    "format_number", "hash_fnv", "hash_murmur", "levdist", "mapdump", "mapload",
    "pack", "regex", "split", "strbwm", "strfwm", "strstr", "unpack", "varnum",
]

_U64: Final = 0xFFFFFFFFFFFFFFFF
_U32: Final = 0xFFFFFFFF
_MASK48: Final = (1 << 48) - 1


def cstr(value: bytes) -> bytes:
    """What C sees of a Lua string read with lua_tostring: up to the NUL."""
    end = value.find(b"\x00")
    return value if end < 0 else value[:end]


def format_number(num: float) -> bytes:
    """A number as arraydump/mapdump write it: "%lld" when integral,
    else "%.6f"."""
    if math.isfinite(num) and num == math.floor(num):
        return b"%d" % int(num)
    return b"%.6f" % num


# -- numbers --------------------------------------------------------------------


def atoi(text: bytes) -> int:
    return kc_atoi(cstr(text))


def atof(text: bytes) -> float:
    return kc_atof(cstr(text))


_METRIC: Final = {0x6B: 10, 0x6D: 20, 0x67: 30, 0x74: 40, 0x70: 50, 0x65: 60}


def atoix(text: bytes) -> int:
    """atoi with a binary metric suffix (K, M, G, T, P, E), saturating."""
    text = cstr(text).strip()
    num = kc_atof(text)
    i = 0
    while i < len(text) and (text[i] in b"+-." or 0x30 <= text[i] <= 0x39):
        i += 1
    while i < len(text) and text[i] == 0x20:
        i += 1
    if i < len(text) and (text[i] | 0x20) in _METRIC:
        num *= float(1 << _METRIC[text[i] | 0x20])
    if num >= 9.223372036854775807e18:
        return (1 << 63) - 1
    if num <= -9.223372036854775808e18:
        return -(1 << 63)
    return int(num)


def bit(mode: bytes, num: float, aux: float) -> int:
    """32-bit unsigned bit operations: and, or, xor, not, left, right."""
    n = _to_u(num, _U32)
    a = _to_u(aux, _U32)
    op = cstr(mode).lower()
    if op == b"and":
        n &= a
    elif op == b"or":
        n |= a
    elif op == b"xor":
        n ^= a
    elif op == b"not":
        n = ~n
    elif op == b"left":
        n = n << a if a < 32 else 0
    elif op == b"right":
        n = n >> a if a < 32 else 0
    return n & _U32


def _to_u(num: float, mask: int) -> int:
    """A C cast of a double to an unsigned type (wrapping; 0 for nan)."""
    if not math.isfinite(num):
        return 0
    return int(num) & mask


# -- hashing and distance ---------------------------------------------------------


def hash_murmur(data: bytes) -> int:
    """Kyoto Cabinet's hashmurmur (MurmurHash64A, seed 19780211), 48 bits."""
    mul = 0xC6A4A7935BD1E995
    size = len(data)
    h = (19780211 ^ (size * mul)) & _U64
    full = size - size % 8
    for pos in range(0, full, 8):
        k = int.from_bytes(data[pos:pos + 8], "little")
        k = (k * mul) & _U64
        k ^= k >> 47
        k = (k * mul) & _U64
        h = ((h * mul) & _U64) ^ k
    rest = data[full:]
    if rest:
        h ^= int.from_bytes(rest, "little")
        h = (h * mul) & _U64
    h ^= h >> 47
    h = (h * mul) & _U64
    h ^= h >> 47
    return h & _MASK48


def hash_fnv(data: bytes) -> int:
    """Kyoto Cabinet's hashfnv (FNV-1a 64), 48 bits."""
    h = 14695981039346656037
    for c in data:
        h = ((h ^ c) * 109951162811) & _U64
    return h & _MASK48


def levdist(a: bytes, b: bytes, utf: bool = False) -> int:
    """Levenshtein distance in bytes, or in code points with ``utf``."""
    if utf:
        ua = [ord(c) for c in a.decode("utf-8", "replace")]
        ub = [ord(c) for c in b.decode("utf-8", "replace")]
        return _levenshtein(ua, ub, len(ua) + len(ub))
    return _levenshtein(list(a), list(b), len(a) + len(b))


# -- strings ------------------------------------------------------------------------


def split(data: bytes, delims: Optional[bytes] = None) -> List[bytes]:
    """Split at any byte of ``delims`` (C strings: the text ends at its first
    NUL), or at NUL bytes when ``delims`` is None."""
    if delims is None:
        return data.split(b"\x00")
    text = cstr(data)
    seps = cstr(delims)
    parts: List[bytes] = []
    start = 0
    for i, c in enumerate(text):
        if c in seps:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def strstr(text: bytes, pattern: bytes, alt: Optional[bytes] = None) -> Union[int, bytes]:
    """1-based index of ``pattern`` in ``text`` (0 when absent), or with
    ``alt`` the text with every occurrence replaced."""
    text, pattern = cstr(text), cstr(pattern)
    if alt is None:
        return text.find(pattern) + 1
    if not pattern:
        return text
    return text.replace(pattern, cstr(alt))


def strfwm(text: bytes, pattern: bytes) -> bool:
    return cstr(text).startswith(cstr(pattern))


def strbwm(text: bytes, pattern: bytes) -> bool:
    return cstr(text).endswith(cstr(pattern))


def regex(text: bytes, pattern: bytes, alt: Optional[bytes] = None) -> Union[bool, bytes]:
    """POSIX ERE search of ``pattern`` in ``text``, or with ``alt`` every
    match replaced by ``alt`` taken literally (Kyoto Cabinet's
    Regex::replace has no group references).  An invalid pattern matches
    nothing and replaces nothing."""
    text = cstr(text)
    try:
        compiled = compile_ere(cstr(pattern))
    except ValueError:
        return False if alt is None else text
    if alt is None:
        return key_matches(compiled, text)
    template = cstr(alt)
    return compiled.sub(lambda m: template, text)


def tt_regex(text: bytes, pattern: bytes, alt: Optional[bytes] = None) -> Union[bool, bytes]:
    """ttserver's _regex: like ``regex``, but a leading ``*`` makes the
    pattern case-insensitive and ``alt`` may hold ``&`` (the match) and
    ``\\1``-``\\9`` (its groups)."""
    text, pat = cstr(text), cstr(pattern)
    flags = 0
    if pat.startswith(b"*"):
        pat = pat[1:]
        flags = re.IGNORECASE
    try:
        compiled = re.compile(compile_ere(pat).pattern, flags)
    except (ValueError, re.error):
        return False if alt is None else text
    if alt is None:
        return key_matches(compiled, text)
    template = cstr(alt)
    return compiled.sub(lambda m: _expand(template, m), text)


def _expand(template: bytes, m: "re.Match[bytes]") -> bytes:
    out: List[bytes] = []
    i = 0
    while i < len(template):
        c = template[i]
        if c == 0x26:  # &
            out.append(m.group(0))
        elif c == 0x5C and i + 1 < len(template):  # backslash
            i += 1
            d = template[i]
            n = d - 0x30
            if 0 <= n <= 9:
                out.append((m.group(n) or b"") if n <= (m.re.groups or 0) else b"")
            else:
                out.append(bytes([d]))
        else:
            out.append(bytes([c]))
        i += 1
    return b"".join(out)


def ucs(text: bytes) -> List[int]:
    """UTF-8 to UCS-2 code units (ttserver's _ucs on a string)."""
    return [ord(c) & 0xFFFF for c in cstr(text).decode("utf-8", "replace")]


def ucs_to_utf(codes: Sequence[float]) -> bytes:
    """UCS-2 code units to UTF-8 (ttserver's _ucs on a table)."""
    chars = []
    for num in codes:
        code = _to_u(num, 0xFFFF)
        if code == 0:
            break
        chars.append(chr(code) if not 0xD800 <= code <= 0xDFFF else "\ufffd")
    return "".join(chars).encode("utf-8")


# -- serialization ------------------------------------------------------------------


#: Kyoto Cabinet's variable-length number (big-endian base 128), the
#: update log's encoding.
varnum = encode_varnum


def _read_varnum(data: bytes, pos: int) -> Tuple[int, int]:
    num = 0
    while pos < len(data):
        c = data[pos]
        pos += 1
        num = (num << 7) | (c & 0x7F)
        if c < 0x80:
            break
    return num, pos


def arraydump(values: Sequence[bytes]) -> bytes:
    return b"".join(varnum(len(v)) + v for v in values)


def arrayload(data: bytes) -> List[bytes]:
    out: List[bytes] = []
    pos = 0
    while pos < len(data):
        size, pos = _read_varnum(data, pos)
        if size > len(data) - pos:
            break
        out.append(data[pos:pos + size])
        pos += size
    return out


def mapdump(pairs: Sequence[Tuple[bytes, bytes]]) -> bytes:
    return b"".join(varnum(len(k)) + varnum(len(v)) + k + v for k, v in pairs)


def mapload(data: bytes) -> List[Tuple[bytes, bytes]]:
    out: List[Tuple[bytes, bytes]] = []
    pos = 0
    while len(data) - pos > 1:
        ksiz, pos = _read_varnum(data, pos)
        if pos >= len(data):
            break
        vsiz, pos = _read_varnum(data, pos)
        if ksiz + vsiz > len(data) - pos:
            break
        out.append((data[pos:pos + ksiz], data[pos + ksiz:pos + ksiz + vsiz]))
        pos += ksiz + vsiz
    return out


# -- pack / unpack ------------------------------------------------------------------

# (size, struct code when signed-unsigned distinction matters on unpack)
_PACK: Final[Dict[int, Tuple[str, int]]] = {
    0x63: ("<B", 0xFF), 0x43: ("<B", 0xFF),
    0x73: ("<H", 0xFFFF), 0x53: ("<H", 0xFFFF),
    0x69: ("<I", _U32), 0x49: ("<I", _U32),
    0x6C: ("<Q", _U64), 0x4C: ("<Q", _U64),
    0x6E: (">H", 0xFFFF), 0x4E: (">I", _U32), 0x4D: (">Q", _U64),
}
_UNPACK: Final[Dict[int, str]] = {
    0x63: "<b", 0x43: "<B", 0x73: "<h", 0x53: "<H", 0x69: "<i", 0x49: "<I",
    0x6C: "<q", 0x4C: "<Q", 0x66: "<f", 0x46: "<f", 0x64: "<d", 0x44: "<d",
    0x6E: ">H", 0x4E: ">I", 0x4D: ">Q",
}


def _format_items(fmt: bytes) -> List[Tuple[int, int]]:
    """(conversion, repeat) pairs; repeat -1 for ``*``."""
    items: List[Tuple[int, int]] = []
    fmt = cstr(fmt)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        i += 1
        loop = 1
        if i < len(fmt) and fmt[i] == 0x2A:  # *
            loop = -1
            i += 1
        elif i < len(fmt) and 0x30 <= fmt[i] <= 0x39:
            start = i
            while i < len(fmt) and 0x30 <= fmt[i] <= 0x39:
                i += 1
            loop = int(fmt[start:i])
        items.append((c, loop))
    return items


def _pack_one(c: int, num: float) -> bytes:
    if c in (0x66, 0x46):  # f F
        try:
            return struct.pack("<f", num)
        except OverflowError:
            return struct.pack("<f", math.copysign(math.inf, num))
    if c in (0x64, 0x44):  # d D
        return struct.pack("<d", num)
    if c in (0x77, 0x57):  # w W
        return varnum(_to_u(num, _U64))
    spec = _PACK.get(c)
    if spec is None:
        return b""
    return struct.pack(spec[0], _to_u(num, spec[1]))


def pack(fmt: bytes, values: Sequence[float]) -> bytes:
    """Numbers to binary by a format of c/C s/S i/I l/L f/F d/D (native,
    little-endian), n/N/M (big-endian 16/32/64), w/W (BER), each optionally
    followed by a count or ``*``."""
    out: List[bytes] = []
    idx = 0
    for c, loop in _format_items(fmt):
        if idx >= len(values):
            break
        end = len(values) if loop < 0 else min(idx + loop, len(values))
        while idx < end:
            out.append(_pack_one(c, values[idx]))
            idx += 1
    return b"".join(out)


def unpack(fmt: bytes, data: bytes) -> List[Number]:
    """The inverse of ``pack``; stops at the end of ``data``."""
    out: List[Number] = []
    pos = 0
    for c, loop in _format_items(fmt):
        count = 0
        while (loop < 0 or count < loop) and pos < len(data):
            if c in (0x77, 0x57):
                num, pos = _read_varnum(data, pos)
                out.append(num)
            else:
                code = _UNPACK.get(c)
                if code is None:
                    break
                size = struct.calcsize(code)
                if len(data) - pos < size:
                    pos = len(data)
                    break
                out.append(struct.unpack_from(code, data, pos)[0])
                pos += size
            count += 1
        if pos >= len(data):
            break
    return out


# -- codecs ---------------------------------------------------------------------------

_URL_SAFE: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def _url_encode(data: bytes, upper: bool) -> bytes:
    form = b"%%%02X" if upper else b"%%%02x"
    return b"".join(bytes([c]) if c in _URL_SAFE else form % c for c in data)


_XML: Final = ((b"&", b"&amp;"), (b"<", b"&lt;"), (b">", b"&gt;"), (b'"', b"&quot;"))


def _xml(data: bytes, decode: bool) -> bytes:
    if not decode:
        for raw, escaped in _XML:
            data = data.replace(raw, escaped)
        return data
    for raw, escaped in reversed(_XML):
        data = data.replace(escaped, raw)
    return data


def _url_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        c = data[i]
        if c == 0x25 and i + 2 < len(data) + 0 and _is_hex(data[i + 1:i + 3]):
            out.append(int(data[i + 1:i + 3], 16))
            i += 3
            continue
        out.append(0x20 if c == 0x2B else c)
        i += 1
    return bytes(out)


def _is_hex(two: bytes) -> bool:
    return len(two) == 2 and all(c in b"0123456789abcdefABCDEF" for c in two)


def _hex_decode(data: bytes) -> bytes:
    digits = bytes(c for c in data if c in b"0123456789abcdefABCDEF")
    if len(digits) % 2:
        digits = digits[:-1]
    return binascii.unhexlify(digits)


def codec(mode: bytes, data: bytes, tyrant: bool = False) -> Optional[bytes]:
    """Encode or decode (``~`` prefix): url, base (Base64), hex, zlib
    (raw deflate; ktserver), deflate (zlib stream), gzip, xml (ttserver).
    None for an unknown mode or undecodable input.  ttserver writes URL
    escapes in capitals, ktserver in small letters."""
    name = cstr(mode).lower()
    decode = name.startswith(b"~")
    name = name[1:] if decode else name
    if tyrant and name == b"zlib" or not tyrant and name == b"xml":
        return None
    try:
        if name == b"url":
            return _url_decode(cstr(data)) if decode else _url_encode(data, tyrant)
        if name == b"xml":
            return _xml(cstr(data), decode)
        if name == b"base":
            return base64.b64decode(cstr(data) + b"==", validate=False) if decode \
                else base64.b64encode(data)
        if name == b"hex":
            return _hex_decode(cstr(data)) if decode else binascii.hexlify(data)
        wbits = {b"zlib": -15, b"deflate": 15, b"gzip": 31}.get(name)
        if wbits is not None:
            if decode:
                return zlib.decompress(data, wbits)
            obj = zlib.compressobj(6, zlib.DEFLATED, wbits)
            return obj.compress(data) + obj.flush()
    except (ValueError, zlib.error, binascii.Error):
        return None
    return None


def tt_hash(mode: bytes, data: bytes) -> Optional[Union[bytes, int]]:
    """ttserver's _hash: md5 (hex digest), md5raw (the digest), crc32."""
    name = cstr(mode).lower()
    if name == b"md5":
        return hashlib.md5(data).hexdigest().encode("ascii")
    if name == b"md5raw":
        return hashlib.md5(data).digest()
    if name == b"crc32":
        return zlib.crc32(data) & _U32
    return None


def now() -> float:
    return time.time()
