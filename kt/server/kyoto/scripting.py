"""Script procedures of the built-in Kyoto Tycoon server, written in Python.

Who calls it: kt.server.kyoto.cli loads the file given with ``-scr FILE.py``
and hands kt.server.kyoto.engine a ``ScriptHost``; ``play_script`` (binary and RPC)
calls procedures through it.  Script authors import ``ScriptError`` and
the ``RV_*`` constants from here.

The interface (docs/server-kyoto.md has examples): every top-level
function of the script whose name does not start with ``_`` is a
procedure.  ktserver's Lua procedures are ``function name(inmap, outmap)``
returning a status; a Python procedure is::

    def name(ctx: ScriptContext, inmap: dict[bytes, bytes]) -> Mapping | None

``ctx.db`` is the first database, ``ctx.dbs`` all of them and
``ctx.database(index_or_name)`` one of them (kt.server.kyoto.storage.Database
objects: ``get``, ``set``, ``add``, ``replace``, ``append``, ``remove``,
``increment``, ``cas``, ``match_prefix``, ``cursor()`` ...; bytes in and
out).  ``inmap`` holds the input (without the ``_`` prefix of RPC).  The
returned mapping is the output; keys and values may be bytes or str
(UTF-8), ints and floats are written in decimal; None means no output.

A procedure fails the way a Lua procedure does by raising
``ScriptError(status)`` with ``RV_ELOGIC`` (HTTP 450), ``RV_EINVALID``
(400), ``RV_ENOIMPL`` (501, "no such scripting procedure") or
``RV_EINTERNAL`` (500); any other exception counts as ``RV_EINTERNAL`` and
its traceback is logged, as a Lua error is.  Over the binary protocol any
failure is the 0xBF reply.  Procedures run in the connection's thread:
several may run at once, and each database operation is atomic on its own.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import threading
import traceback
from types import ModuleType
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from kt.server.kyoto.engine import (
    RV_EINTERNAL,
    RV_EINVALID,
    RV_ELOGIC,
    RV_ENOIMPL,
    RV_ETIMEOUT,
    RV_SUCCESS,
)
from kt.server.kyoto.storage import Database
from kt.server.runtime import refuse_lua, script_bytes

__all__ = [
    "RV_SUCCESS", "RV_ENOIMPL", "RV_EINVALID", "RV_ELOGIC", "RV_ETIMEOUT", "RV_EINTERNAL",
    "ScriptContext",
    "ScriptError",
    "ScriptHost",
    "ScriptLoadError",
]

_module_counter = 0
_module_lock = threading.Lock()


class ScriptError(Exception):
    """Raised by a procedure to fail with a Kyoto Tycoon status
    (``RV_ELOGIC`` by default)."""

    def __init__(self, status: int = RV_ELOGIC, message: str = "") -> None:
        super().__init__(message or "script procedure failed with status %d" % status)
        self.status = status


class ScriptLoadError(Exception):
    """The script file cannot be used (missing, Lua, or failing to import)."""


class ScriptContext:
    """What a procedure gets besides its input: the databases and a log."""

    def __init__(self, dbs: List[Database], dbmap: Dict[bytes, int],
                 log: Callable[[str, str], None]) -> None:
        self.dbs = dbs
        self.db = dbs[0]
        self._dbmap = dbmap
        self._log = log

    def database(self, which: Union[int, str, bytes]) -> Database:
        """A database by index or by name (the last part of its path)."""
        if isinstance(which, int):
            return self.dbs[which]
        name = which.encode("utf-8") if isinstance(which, str) else which
        idx = self._dbmap.get(name)
        if idx is None:
            raise KeyError("no such database: %r" % (which,))
        return self.dbs[idx]

    def log(self, message: str, level: str = "INFO") -> None:
        """Write a line to the server log (``[SCRIPT]: message``)."""
        self._log(level, "[SCRIPT]: %s" % message)


def _to_bytes(value: Any, what: str) -> bytes:
    data = script_bytes(value)
    if data is None:
        raise TypeError("%s of a script output must be bytes or str, not %s"
                        % (what, type(value).__name__))
    return data


class ScriptHost:
    """The procedures of one script file, callable as the engine's
    ``ScriptCaller``."""

    def __init__(self, path: str, dbs: List[Database], dbmap: Dict[bytes, int],
                 log: Callable[[str, str], None]) -> None:
        self.path = path
        self.context = ScriptContext(dbs, dbmap, log)
        self._log = log
        self.procedures: Dict[bytes, Callable[..., Any]] = {}

    def load(self) -> List[str]:
        """Import the script; returns the procedure names.  Raises
        ScriptLoadError when the file is not a usable Python script."""
        path = self.path
        refusal = refuse_lua(path, "kyoto")
        if refusal is not None:
            raise ScriptLoadError(refusal)
        if not os.path.isfile(path):
            raise ScriptLoadError("%s: no such file" % path)
        global _module_counter
        with _module_lock:
            _module_counter += 1
            name = "kt_server_script_%d" % _module_counter
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ScriptLoadError("%s: not a Python file" % path)
        module: ModuleType = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            raise ScriptLoadError("%s: loading failed: %s\n%s"
                                  % (path, exc, traceback.format_exc())) from None
        procs: Dict[bytes, Callable[..., Any]] = {}
        for attr, value in vars(module).items():
            if attr.startswith("_") or not inspect.isfunction(value):
                continue
            if getattr(value, "__module__", None) != name:
                continue
            procs[attr.encode("utf-8")] = value
        self.procedures = procs
        return sorted(p.decode("utf-8") for p in procs)

    def __call__(self, name: bytes, inmap: Dict[bytes, bytes]) -> Tuple[int, Dict[bytes, bytes]]:
        proc = self.procedures.get(name)
        if proc is None:
            return RV_ENOIMPL, {}
        label = name.decode("utf-8", "replace")
        try:
            result = proc(self.context, inmap)
            out: Dict[bytes, bytes] = {}
            if result is not None:
                if not isinstance(result, Mapping):
                    raise TypeError("procedure %s returned %s, not a mapping or None"
                                    % (label, type(result).__name__))
                for k, v in result.items():
                    out[_to_bytes(k, "a key")] = _to_bytes(v, "a value")
        except ScriptError as exc:
            self._log("INFO", "[SCRIPT]: %s failed: status %d: %s" % (label, exc.status, exc))
            return exc.status if exc.status != RV_SUCCESS else RV_EINTERNAL, {}
        except Exception:
            self._log("ERROR", "[SCRIPT]: %s raised an exception:\n%s"
                      % (label, traceback.format_exc().rstrip()))
            return RV_EINTERNAL, {}
        return RV_SUCCESS, out
