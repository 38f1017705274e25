"""Database arguments as both real servers take them: ``name#opt=val#...``.

Who calls it: kt.server.kyoto.storage and kt.server.tyrant.storage, whose
``open_database`` parse the command line's database arguments with
``parse_db_spec`` and their own tables of symbols and suffixes.
"""

from __future__ import annotations

from typing import Dict

__all__ = ["DBSpec", "parse_db_spec"]


class DBSpec:
    """A parsed database argument (``casket.kct#bnum=1000``).

    ``kind`` is the caller's code for the database type, 0 when neither a
    symbol nor a suffix named one; ``options`` are the ``name=value``
    parts, as written.
    """

    spec: str
    path: str
    kind: int
    options: Dict[str, str]

    def __init__(self, spec: str, path: str, kind: int, options: Dict[str, str]) -> None:
        self.spec = spec
        self.path = path
        self.kind = kind
        self.options = options


def parse_db_spec(spec: str, symbols: Dict[str, int], suffixes: Dict[str, int]) -> DBSpec:
    """Split ``spec`` at ``#`` into the path and its options; the kind is
    ``symbols[path]`` or that of the first suffix (case-insensitive) the
    path ends with, after at least one other character; else 0."""
    parts = spec.split("#")
    path = parts[0]
    options: Dict[str, str] = {}
    for opt in parts[1:]:
        name, sep, value = opt.partition("=")
        if sep:
            options[name] = value
    kind = symbols.get(path, 0)
    if kind == 0:
        lower = path.lower()
        for suffix, code in suffixes.items():
            if lower.endswith(suffix) and len(path) > len(suffix):
                kind = code
                break
    return DBSpec(spec, path, kind, options)
