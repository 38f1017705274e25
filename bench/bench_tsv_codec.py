"""TSV-RPC body workloads for bench/codec.py (imported by its worker)."""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from kt.protocol import kt_http as kh


def tsv_workloads(value: bytes) -> Dict[str, Callable[[], object]]:
    text_value = b"v" * len(value)
    text: List[Tuple[bytes, bytes]] = [(b"_key-%08d" % i, text_value) for i in range(100)]
    binary: List[Tuple[bytes, bytes]] = [(b"_key-%08d" % i, value) for i in range(100)]
    work: Dict[str, Callable[[], object]] = {}
    for name, pairs, colenc in (("none", text, ""), ("B", binary, "B"), ("U", binary, "U")):
        body = kh.encode_tsv(pairs, colenc)

        def enc(pairs: List[Tuple[bytes, bytes]] = pairs, colenc: str = colenc) -> object:
            return kh.encode_tsv(pairs, colenc)

        def dec(body: bytes = body, colenc: str = colenc) -> object:
            return kh.decode_tsv(body, colenc)

        work["tsv encode 100 colenc=%s" % name] = enc
        work["tsv decode 100 colenc=%s" % name] = dec
    return work
