"""ttserver's Lua extensions (``-ext FILE.lua``) for the built-in Tokyo
Tyrant server: the ``_`` functions of ttserver 1.1.41's scrext.c over the
server's database.

Who calls it: the server's extension loader, for a .lua file, asks
``LuaExtension.load`` for the script's functions; each is a Python
callable ``fn(key, value) -> bytes | None`` like the functions of a .py
extension, so the ext command, its lock options and its failure answer
stay where they are.

What scripts see: _get, _put, _putkeep, _putcat, _out, _vsiz, _addint,
_adddouble, _vanish, _rnum, _size, _fwmkeys, _iterinit/_iternext,
_foreach, _misc, _stash* (a store shared by all calls), _lock/_unlock,
_eval, _log, _sleep, _time, the utility functions of kt.server.lua
(_pack, _unpack, _split, _codec, _hash, _bit, _strstr, _regex, _ucs,
_dist, _isect, _union), the file functions _stat, _glob, _remove, _mkdir,
and the globals _version, _pid, _sid, _thnum, _thid.  _mapreduce is not
provided.  A function's result is converted as ttserver does: a string
or number as text, true as "true", a table by its first element;
anything else (nil, false, an error) fails the call.
"""

from __future__ import annotations

import glob
import os
import stat as statmod
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from kt.server.lua import (
    LuaScriptError,
    LuaState,
    LuaUnavailable,
    StatePool,
    install,
    lua_bytes,
    lua_number,
    tt_utilities,
)

__all__ = ["LuaExtension", "LuaExtLoadError"]

ExtFunction = Callable[[bytes, bytes], Optional[bytes]]

TT_VERSION = b"1.1.41"


class LuaExtLoadError(Exception):
    """The Lua extension cannot be used (missing lupa, bad script...)."""


class _Shared:
    """What all Lua states of one server share: the stash and the locks."""

    def __init__(self) -> None:
        self.mutex = threading.Lock()
        self.stash: Dict[bytes, bytes] = {}
        self.locked: Set[bytes] = set()


def _text_result(value: Any) -> Optional[bytes]:
    if isinstance(value, bool):
        return b"true" if value else None
    if isinstance(value, (bytes, int, float)):
        return lua_bytes(value)
    return None


class LuaExtension:
    """The functions of one ttserver Lua extension file."""

    def __init__(self, path: str, db: Any, log: Callable[[str], None], sid: int = 0,
                 thnum: int = 8, timeout: float = 30.0) -> None:
        self.path, self.db, self._log = path, db, log
        self.sid, self.thnum, self.timeout = sid, thnum, timeout
        self.shared = _Shared()
        self.pool = StatePool(self._new_state)
        self._source = b""
        self._lock = threading.Lock()
        self._evals: List[bytes] = []
        self._applied: Dict[int, int] = {}
        self.names: List[str] = []

    def load(self) -> Dict[str, ExtFunction]:
        """Run the script once; its global functions as ext functions."""
        try:
            with open(self.path, "rb") as f:
                self._source = f.read()
            state = self.pool.acquire()
        except OSError as exc:
            raise LuaExtLoadError("cannot load the extension %s: %s" % (self.path, exc)) from None
        except (LuaUnavailable, LuaScriptError) as exc:
            raise LuaExtLoadError("the extension %s failed while loading: %s"
                                  % (self.path, exc)) from None
        self.pool.release(state)
        return {name: self._function(name.encode("utf-8")) for name in self.names}

    def _function(self, name: bytes) -> ExtFunction:
        return lambda key, value: self.call(name, key, value)

    def call(self, name: bytes, key: bytes, value: bytes) -> Optional[bytes]:
        """Run the function ``name``; None when it fails (LuaScriptError
        for an error inside the script)."""
        state = self.pool.acquire()
        try:
            self._catch_up(state)
            fn = state.function(name)
            if fn is None or name.startswith(b"_"):
                return None
            result = state.call(fn, key, value)
        finally:
            self.pool.release(state)
        first = result[0] if result else None
        if state.is_table(first):
            items = state.array(first)
            first = items[0] if items else None
        return _text_result(first)

    # -- a new state ---------------------------------------------------------------

    def _new_state(self, thid: int) -> LuaState:
        state = LuaState(self.timeout)
        funcs = tt_utilities(state)
        funcs.update(self._database_functions(state))
        funcs.update(self._server_functions(state))
        install(state, state.globals, funcs, prefix="_")
        g = state.globals
        g[b"_version"] = TT_VERSION
        g[b"_pid"] = os.getpid()
        g[b"_sid"] = self.sid
        g[b"_thnum"] = self.thnum
        g[b"_thid"] = thid
        before = set(g.keys())
        state.load(self._source, os.path.basename(self.path))
        self.names = sorted(
            k.decode("utf-8", "replace") for k, v in g.items()
            if k not in before and isinstance(k, bytes) and not k.startswith(b"_")
            and state.lupa.lua_type(v) == "function")
        return state

    def _database_functions(self, state: LuaState) -> Dict[str, Callable[..., Any]]:
        db, s = self.db, lua_bytes
        iterator: List[bytes] = []
        funcs: Dict[str, Callable[..., Any]] = {
            "get": lambda k: db.get(s(k)),
            "put": lambda k, v: db.put(s(k), s(v)),
            "putkeep": lambda k, v: db.putkeep(s(k), s(v)),
            "putcat": lambda k, v: db.putcat(s(k), s(v)),
            "out": lambda k: db.out(s(k)),
            "vsiz": lambda k: db.vsiz(s(k)),
            "addint": lambda k, n=0: db.addint(s(k), int(lua_number(n))),
            "adddouble": lambda k, n=0: db.adddouble(s(k), lua_number(n)),
            "vanish": db.vanish,
            "rnum": db.rnum,
            "size": db.size,
            "fwmkeys": lambda p, m=None: state.table(
                db.fwmkeys(s(p), -1 if m is None else int(lua_number(m)))),
            "iterinit": lambda: _reset(iterator, db.fwmkeys(b"", -1)),
            "iternext": lambda: iterator.pop(0) if iterator else None,
            "foreach": lambda fn: self._foreach(state, fn),
            "misc": lambda name, *args: self._misc(state, name, args),
        }
        return funcs

    def _foreach(self, state: LuaState, fn: Any) -> bool:
        if state.lupa.lua_type(fn) != "function":
            raise LuaScriptError("_foreach: invalid arguments")
        for key in self.db.fwmkeys(b"", -1):
            value = self.db.get(key)
            if value is None:
                continue
            go_on = fn(key, value)
            if go_on is None or go_on is False:
                break
        return True

    def _misc(self, state: LuaState, name: Any, args: Any) -> Any:
        words: List[bytes] = []
        for arg in args:
            if state.is_table(arg):
                words.extend(lua_bytes(v) for v in state.array(arg) if not isinstance(v, bool))
            elif isinstance(arg, (bytes, int, float)) and not isinstance(arg, bool):
                words.append(lua_bytes(arg))
        command = lua_bytes(name)
        if command.startswith(b"$"):  # "no update log": there is none here
            command = command[1:]
        result = self.db.misc(command, words)
        return None if result is None else state.table(result)

    def _server_functions(self, state: LuaState) -> Dict[str, Callable[..., Any]]:
        shared, s = self.shared, lua_bytes
        return {
            "log": lambda msg, level=None: self._log(s(msg).decode("utf-8", "replace")),
            "eval": lambda code: self._eval(state, s(code)),
            "stashput": lambda k, v: _stash_put(shared, s(k), s(v), "put"),
            "stashputkeep": lambda k, v: _stash_put(shared, s(k), s(v), "keep"),
            "stashputcat": lambda k, v: _stash_put(shared, s(k), s(v), "cat"),
            "stashout": lambda k: _stash_out(shared, s(k)),
            "stashget": lambda k: shared.stash.get(s(k)),
            "stashvanish": lambda: _stash_vanish(shared),
            "stashforeach": lambda fn: _stash_foreach(shared, fn),
            "lock": lambda k: self._take_lock(state, s(k)),
            "unlock": lambda k: _unlock(shared, s(k)),
            "stat": lambda path: _stat(state, s(path)),
            "glob": lambda pattern: state.table(
                sorted(p.encode() for p in glob.glob(s(pattern).decode("utf-8", "replace")))),
            "remove": lambda path: _remove(s(path)),
            "mkdir": lambda path: _mkdir(s(path)),
        }

    def _eval(self, state: LuaState, code: bytes) -> bool:
        """Run ``code`` in every Lua state of the server (ttserver runs it
        in each worker thread's state); true even when it fails, as
        ttserver answers.  Idle states catch up when next used."""
        with self._lock:
            self._evals.append(code)
            self._applied[id(state)] = len(self._evals)
        _run_quietly(state, code)
        return True

    def _catch_up(self, state: LuaState) -> None:
        with self._lock:
            done = self._applied.get(id(state), 0)
            pending = self._evals[done:]
            self._applied[id(state)] = len(self._evals)
        for code in pending:
            _run_quietly(state, code)

    def _take_lock(self, state: LuaState, key: bytes) -> bool:
        """Wait until no other call holds ``key``, then hold it (ttserver
        polls every 0.1 s); a wait past the time limit fails the call."""
        while True:
            with self.shared.mutex:
                if key not in self.shared.locked:
                    self.shared.locked.add(key)
                    return True
            state.sleep(0.1)


def _run_quietly(state: LuaState, code: bytes) -> None:
    loaded = state.runtime.execute(b"return loadstring(...)", code)
    if isinstance(loaded, tuple) or loaded is None:
        return
    try:
        loaded()
    except state.lupa.LuaError:
        pass


def _reset(target: List[bytes], values: List[bytes]) -> bool:
    target[:] = values
    return True


def _stash_put(shared: _Shared, key: bytes, value: bytes, mode: str) -> bool:
    """_stashput / _stashputkeep / _stashputcat: true whatever happened,
    as ttserver answers."""
    with shared.mutex:
        old = shared.stash.get(key)
        if mode != "keep" or old is None:
            shared.stash[key] = old + value if mode == "cat" and old is not None else value
        return True


def _stash_out(shared: _Shared, key: bytes) -> bool:
    with shared.mutex:
        return shared.stash.pop(key, None) is not None


def _stash_vanish(shared: _Shared) -> None:
    with shared.mutex:
        shared.stash.clear()


def _stash_foreach(shared: _Shared, fn: Any) -> bool:
    with shared.mutex:
        items = list(shared.stash.items())
    for key, value in items:
        go_on = fn(key, value)
        if go_on is None or go_on is False:
            break
    return True


def _unlock(shared: _Shared, key: bytes) -> bool:
    with shared.mutex:
        if key in shared.locked:
            shared.locked.discard(key)
            return True
        return False


def _stat(state: LuaState, path: bytes) -> Any:
    try:
        st = os.stat(path)
    except OSError:
        return None
    fields: Dict[bytes, Any] = {
        b"dev": st.st_dev, b"ino": st.st_ino, b"mode": st.st_mode, b"nlink": st.st_nlink,
        b"uid": st.st_uid, b"gid": st.st_gid, b"rdev": st.st_rdev, b"size": st.st_size,
        b"blksize": getattr(st, "st_blksize", 0), b"blocks": getattr(st, "st_blocks", 0),
        b"atime": int(st.st_atime), b"mtime": int(st.st_mtime), b"ctime": int(st.st_ctime),
        b"_regular": statmod.S_ISREG(st.st_mode), b"_directory": statmod.S_ISDIR(st.st_mode),
        b"_readable": os.access(path, os.R_OK), b"_writable": os.access(path, os.W_OK),
        b"_executable": os.access(path, os.X_OK), b"_realpath": os.path.realpath(path),
    }
    return state.map(fields.items())


def _remove(path: bytes) -> bool:
    try:
        if os.path.isdir(path):
            os.rmdir(path)
        else:
            os.remove(path)
    except OSError:
        return False
    return True


def _mkdir(path: bytes) -> bool:
    try:
        os.mkdir(path)
    except OSError:
        return False
    return True
