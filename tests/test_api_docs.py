"""The API reference covers the public API, and every public name has a docstring.

The site (docs/, built by Sphinx in CI) documents everything in
``kt.__all__`` in docs/api.md; the reference is generated from docstrings,
so a public class, function or method without one is a gap in the docs.
Checked on the source with ast, so that it means the same on the pure and
the compiled build.

The docstrings follow one style (Google style, rendered by Sphinx's
napoleon extension): a summary, then the sections ``Args:`` (every
parameter, by name), ``Returns:`` (or ``Yields:``) and ``Raises:``.  A
class documents its constructor's parameters in its own docstring.
``test_docstrings_document_params_returns_raises`` enforces that for every
public method of every class in ``kt.__all__``.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

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


def _documented_classes() -> List[type]:
    """The classes of kt.__all__ and the Lua helper containers (which the
    clients hand out and docs/api.md documents)."""
    from kt import containers
    found: List[type] = [getattr(kt, name) for name in _public_classes()]
    found += [containers.Hash, containers.Set, containers.List, containers.Queue,
              containers.TTQueue]
    return found


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


#: Public methods that cannot fail (local bookkeeping, no I/O, no argument
#: to check): no ``Raises:`` section expected.
RAISE_NOTHING: Set[str] = {
    "PooledClient.checkin", "PooledClient.close", "PooledClient.close_all",
    "PooledClient.close_idle", "_AsyncTransport.close", "_AsyncTransport.close_all",
    "_AsyncTransport.close_idle", "QueryBuilder.copy", "QueryBuilder.build",
    "_BaseServer.stop", "_BaseServer.close", "_BaseServer.ready_marks_seen_possible",
    "CursorMethods.is_valid", "Cursor.close", "AsyncCursor.close",
    "ShardedMethods.clients", "ShardedMethods.down", "_SyncShards.close", "_AsyncShards.close",
}

_SECTION = re.compile(r"^(Args|Arguments|Returns|Yields|Raises|Examples?|Note|Notes|Attributes):\s*$")
_ARG = re.compile(r"^    (\*{0,2}[A-Za-z_]\w*)(?: \([^)]*\))?:")


def _sections(doc: str) -> Dict[str, List[str]]:
    """The Google-style sections of a docstring: name -> its lines."""
    found: Dict[str, List[str]] = {}
    current: Optional[str] = None
    for line in doc.splitlines():
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
            found[current] = []
        elif current is not None:
            if line and not line.startswith(" "):
                current = None
            else:
                found[current].append(line)
    return found


def _params(fn: ast.FunctionDef) -> List[str]:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg is not None:
        names.append("*" + args.vararg.arg)
    if args.kwarg is not None:
        names.append("**" + args.kwarg.arg)
    # ``__data`` (positional only by convention) is documented as ``data``.
    return [n.replace("__", "") if n.startswith("__") else n
            for n in names if n not in ("self", "cls")]


def _is_property(fn: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "property"
               or isinstance(d, ast.Attribute) and d.attr in ("setter", "getter")
               for d in fn.decorator_list)


def _returns_nothing(fn: ast.FunctionDef) -> bool:
    ret = fn.returns
    return isinstance(ret, ast.Constant) and ret.value is None


def _style_problems(owner: str, fn: ast.FunctionDef, doc: str) -> List[str]:
    if _is_property(fn):
        return []
    name = "%s.%s" % (owner, fn.name)
    sections = _sections(doc)
    problems: List[str] = []
    params = _params(fn)
    documented = [m.group(1) for line in sections.get("Args", []) for m in [_ARG.match(line)] if m]
    for param in params:
        if param not in documented:
            problems.append("%s: parameter %s not under Args:" % (name, param))
    for extra in documented:
        if extra not in params:
            problems.append("%s: Args: names %s, which it does not take" % (name, extra))
    if fn.name != "__init__":
        if not _returns_nothing(fn) and "Returns" not in sections and "Yields" not in sections:
            problems.append("%s: no Returns: section" % name)
        if name not in RAISE_NOTHING and "Raises" not in sections:
            problems.append("%s: no Raises: section" % name)
    return problems


def _constructor(cls: type, classes: Dict[str, ast.ClassDef]
                 ) -> Optional[Tuple[ast.FunctionDef, ast.ClassDef]]:
    """The ``__init__`` a class runs (its own or the first kt base's) and
    the class that defines it."""
    for base in cls.__mro__:
        if not base.__module__.startswith("kt"):
            return None
        node = classes[base.__name__]
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                return item, node
    return None


def test_docstrings_document_params_returns_raises() -> None:
    classes = _source_classes()
    problems: List[str] = []
    seen: Set[str] = set()
    for cls in _documented_classes():
        # The constructor's parameters are documented on the public class,
        # or on the base class whose constructor it inherits, or the class
        # says it takes the same arguments as another one.
        found = _constructor(cls, classes)
        class_doc = ast.get_docstring(classes[cls.__name__]) or ""
        if found is not None and "same arguments as" not in class_doc:
            init, owner = found
            own = _style_problems(cls.__name__, init, class_doc)
            if own and owner.name != cls.__name__:
                own = _style_problems(owner.name, init, ast.get_docstring(owner) or "")
            problems += own
        for base in cls.__mro__:
            if not base.__module__.startswith("kt") or base.__name__ in seen:
                continue
            seen.add(base.__name__)
            for item in classes[base.__name__].body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    problems += _style_problems(base.__name__, item, ast.get_docstring(item) or "")
                elif isinstance(item, ast.AsyncFunctionDef) and not item.name.startswith("_"):
                    problems += _style_problems(base.__name__, item,  # type: ignore[arg-type]
                                                ast.get_docstring(item) or "")
    assert problems == [], "\n".join(problems)


def test_public_functions_document_params_returns_raises() -> None:
    problems: List[str] = []
    for name in kt.__all__:
        obj = getattr(kt, name)
        if not inspect.isfunction(obj):
            continue
        source = Path(inspect.getsourcefile(obj) or "")
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == obj.__name__:
                problems += _style_problems(source.stem, node, ast.get_docstring(node) or "")
    assert problems == [], "\n".join(problems)
