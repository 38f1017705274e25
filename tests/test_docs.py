"""Every Python example in README.md and docs/*.md runs, and so does the tour."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _lupa_installed() -> bool:
    try:
        import lupa  # noqa: F401
    except ImportError:
        return False
    return True


#: Examples running Lua on the built-in servers need lupa, which PyPy lacks.
LUA_MARK = "lua_script_path"
HAVE_LUPA = _lupa_installed()


def python_blocks(path: Path) -> List[str]:
    blocks = BLOCK.findall(path.read_text(encoding="utf-8"))
    return [b for b in blocks if HAVE_LUPA or LUA_MARK not in b]


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=lambda p: p.name)
def test_python_examples_run(path: Path, tmp_path: Path) -> None:
    # The blocks of one file share a namespace, as a reader would run them.
    code = "\n\n".join(python_blocks(path))
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, "%s failed:\n%s\n%s" % (path.name, out.stdout, out.stderr)


def test_tour_runs(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "tour.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "tour finished" in out.stdout
    assert "query keys: ['anna', 'alice']" in out.stdout
