"""The API reference covers the public API, and every public name has a docstring.

The site (docs/, built by Sphinx in CI) documents everything in
``kt.__all__`` in docs/api.md; the reference is generated from docstrings,
so a public class, function or method without one is a gap in the docs.
Checked on the source with ast, so that it means the same on the pure and
the compiled build.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Dict, List

import kt

ROOT = Path(__file__).resolve().parent.parent
API = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")


def test_every_public_name_is_in_the_reference() -> None:
    missing = [name for name in kt.__all__
               if not re.search(r"(?<!\w)%s(?!\w)" % re.escape(name.strip("_")), API)]
    assert missing == []


def _source_classes() -> Dict[str, ast.ClassDef]:
    classes: Dict[str, ast.ClassDef] = {}
    for path in (ROOT / "kt").rglob("*.py"):
        if "server" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, node)
    return classes


def _public_classes() -> List[str]:
    return [name for name in kt.__all__ if inspect.isclass(getattr(kt, name))]


def test_public_classes_and_methods_have_docstrings() -> None:
    classes = _source_classes()
    missing: List[str] = []
    for name in _public_classes():
        cls = getattr(kt, name)
        node = classes.get(cls.__name__)
        assert node is not None, "no source for %s" % name
        if ast.get_docstring(node) is None:
            missing.append(name)
        # The methods a user sees, including those of kt's own base classes
        # (the clients inherit theirs from the shared method classes).
        for base in cls.__mro__:
            if not base.__module__.startswith("kt"):
                continue
            base_node = classes.get(base.__name__)
            assert base_node is not None, "no source for %s" % base.__name__
            for item in base_node.body:
                if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if item.name.startswith("_"):
                    continue
                if ast.get_docstring(item) is None:
                    missing.append("%s.%s" % (base.__name__, item.name))
    assert sorted(set(missing)) == []
