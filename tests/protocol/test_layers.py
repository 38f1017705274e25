"""kt.protocol's layers: each module imports only the layers below it, and
the modules that were split keep every name their callers import."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

from kt.protocol import http, kt_http, kt_tsv, tt_binary, tt_table

PROTOCOL = Path(kt_http.__file__).resolve().parent

# module -> the kt.protocol modules it may import (lower layers only)
ALLOWED: Dict[str, Set[str]] = {
    "buffer": set(),
    "convert": set(),
    "kt_tsv": set(),
    "http": {"buffer", "kt_tsv"},
    "kt_http": {"buffer", "http", "kt_tsv"},
    "kt_binary": {"buffer", "convert"},
    "kt_repl": {"buffer", "kt_binary"},
    "tt_table": set(),
    "tt_binary": {"buffer", "convert", "tt_table"},
}


def _protocol_imports(name: str) -> Set[str]:
    source = (PROTOCOL / (name + ".py")).read_text(encoding="utf-8")
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("kt.protocol."):
                found.add(node.module.split(".")[2])
            elif node.module == "kt.protocol":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kt.protocol."):
                    found.add(alias.name.split(".")[2])
    return found


def test_every_module_has_a_layer() -> None:
    modules = {p.stem for p in PROTOCOL.glob("*.py") if p.stem != "__init__"}
    assert modules == set(ALLOWED)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_imports_go_down_only(name: str) -> None:
    assert _protocol_imports(name) <= ALLOWED[name]


def _defined(name: str) -> List[str]:
    """Names a module defines at top level (functions, classes, constants)."""
    tree = ast.parse((PROTOCOL / (name + ".py")).read_text(encoding="utf-8"))
    names: List[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return names


@pytest.mark.parametrize("lower", ["http", "kt_tsv"])
def test_kt_http_reexports_its_lower_layers(lower: str) -> None:
    module = {"http": http, "kt_tsv": kt_tsv}[lower]
    names = [n for n in _defined(lower) if not n.startswith("_")]
    assert len(names) >= 8
    for name in names:
        assert name in kt_http.__all__, name
        assert getattr(kt_http, name) == getattr(module, name), name


def test_tt_binary_reexports_the_table_layer() -> None:
    names = [n for n in _defined("tt_table") if not n.startswith("_")] + ["_c_atoi", "_c_isnum"]
    assert "TTSearch" in names and "encode_columns" in names and "COND_NEGATE" in names
    for name in names:
        assert getattr(tt_binary, name) == getattr(tt_table, name), name
