"""Pure and mypyc builds of kt side by side, for benchmarks.

``builds()`` returns the directories to put on PYTHONPATH: one holding the
pure-Python sources, one holding the same sources compiled with mypyc
(built once and cached under ``.bench-build/``, keyed by a hash of the
compiled sources), and, when a PyPy interpreter is installed (``pypy3`` on
PATH, or ``KT_BENCH_PYPY=/path/to/pypy``; ``KT_BENCH_PYPY=0`` leaves it
out), the pure sources again as the "pypy" build, run by PyPy:
``python_for(build)`` is the interpreter of a build.  Each benchmark runs its workload in one subprocess per
build and prints the figures side by side, so both are measured in the same
run on the same machine.

The compiled build needs mypy (the ``dev`` extra) and a C compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench-build"


def _copy_sources(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        ROOT / "kt",
        dest / "kt",
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"),
    )
    shutil.copy(ROOT / "setup.py", dest / "setup.py")


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted((ROOT / "kt").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    h.update((ROOT / "setup.py").read_bytes())
    return h.hexdigest()[:16]


def _build_compiled(dest: Path) -> None:
    _copy_sources(dest)
    env = dict(os.environ, KT_USE_MYPYC="1")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=dest, env=env, check=True,
        stdout=subprocess.DEVNULL,
    )
    (dest / ".built").write_text("ok")


def _publish(final: Path, make: "Callable[[Path], None]") -> None:
    """Build into a private directory, then rename it into place, so that
    benchmarks running at the same time never see (or break) a half-built
    copy."""
    CACHE.mkdir(exist_ok=True)
    tmp = CACHE / ("%s.tmp-%d" % (final.name, os.getpid()))
    make(tmp)
    try:
        os.rename(tmp, final)
    except OSError:  # another process published it first
        shutil.rmtree(tmp, ignore_errors=True)


def pypy_interpreter() -> str:
    """The PyPy interpreter to benchmark the pure build with, or ""."""
    choice = os.environ.get("KT_BENCH_PYPY", "")
    if choice == "0":
        return ""
    return choice or shutil.which("pypy3") or ""


def python_for(build: str) -> str:
    """The interpreter that runs ``build``."""
    return pypy_interpreter() if build == "pypy" else sys.executable


def builds() -> List[Tuple[str, Path]]:
    """[("pure", dir), ("compiled", dir)] and ("pypy", dir) when PyPy is
    installed, building what is missing."""
    digest = _source_hash()
    pure = CACHE / ("pure-" + digest)
    compiled = CACHE / ("mypyc-" + digest)
    if not (pure / "kt").exists():
        _publish(pure, _copy_sources)
    if not (compiled / ".built").exists():
        print("building the mypyc build in %s (once per source change)..." % compiled,
              file=sys.stderr, flush=True)
        _publish(compiled, _build_compiled)
    found: List[Tuple[str, Path]] = [("pure", pure), ("compiled", compiled)]
    if pypy_interpreter():
        found.append(("pypy", pure))
    return found


def run_worker(script: Path, build: str, path: Path, args: List[str]) -> Dict[str, float]:
    """Run ``script --worker ARGS`` against one build; it prints JSON."""
    env = dict(os.environ, PYTHONPATH=str(path), KT_BENCH_BUILD=build)
    out = subprocess.run(
        [python_for(build), str(script), "--worker", *args],
        env=env, capture_output=True, text=True,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit("the %s worker failed (exit %d)" % (build, out.returncode))
    result: Dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def check_build() -> None:
    """In a worker: make sure the build we were told to use is the one imported."""
    import kt

    want = os.environ.get("KT_BENCH_BUILD")
    if want is not None and kt.COMPILED != (want == "compiled"):
        # the "pypy" build is the pure sources under PyPy
        raise SystemExit("expected the %s build, but kt.COMPILED is %s (kt from %s)"
                         % (want, kt.COMPILED, kt.__file__))
