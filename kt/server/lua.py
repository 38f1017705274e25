"""The Lua runtime shared by both built-in servers: a Lua 5.1 state from
lupa, sandboxed, with a bounded run time and the utility functions of the
real servers' Lua APIs.

Who calls it: the scripting modules of the built-in servers (ktserver's
``-scr FILE.lua`` and ttserver's ``-ext FILE.lua``) create a ``LuaState``,
add their database API to it and call procedures through ``call``; the
tests use it directly.  ``kt_utilities`` and ``tt_utilities`` are the
functions ktserver puts in ``__kyototycoon__`` and ttserver in its ``_``
globals (their byte-level work is in kt.server.luafuncs).

Lua comes from lupa (an optional extra: ``pip install 'kt-typed[lua]'``),
whose wheels include Lua 5.1, the version both real servers embed.  The
state has Lua's standard libraries, as the real servers' states do, but
no way into Python: lupa's ``python`` table is removed and attribute
access on the Python functions is refused.  An error inside a script,
a run past the time limit (checked every few thousand Lua instructions and
in ``sleep``), running out of memory (256 MiB a state; that state is
then dropped) or a failing callback raises ``LuaScriptError``, which the
engines turn into the protocol's error answer.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from kt.server import luafuncs as lf

__all__ = [
    "LuaScriptError",
    "LuaState",
    "LuaTimeout",
    "LuaUnavailable",
    "StatePool",
    "load_lupa",
    "kt_utilities",
    "tt_utilities",
]

INSTALL_HINT = "pip install 'kt-typed[lua]'"

# Instructions between two checks of the deadline.
_HOOK_COUNT = 10000

# The time limit: a count hook checks the deadline; once it has passed,
# pcall / xpcall pass the error on (a script cannot swallow it) and
# coroutines get the same hook.
_DEADLINE_HOOK = b"""
local now, sethook = ...
local deadline, expired = math.huge, false
local function check()
  if expired or now() > deadline then
    expired = true
    error("script timed out", 2)
  end
end
local function pass(ok, ...)
  if not ok and expired then error((...), 0) end
  return ok, ...
end
local raw_pcall, raw_xpcall = pcall, xpcall
pcall = function(...) return pass(raw_pcall(...)) end
xpcall = function(...) return pass(raw_xpcall(...)) end
local create = coroutine.create
coroutine.create = function(f)
  local co = create(f)
  if deadline ~= math.huge then sethook(co, check, "", %d) end
  return co
end
coroutine.wrap = function(f)
  local co = coroutine.create(f)
  return function(...)
    local function unwrap(ok, ...)
      if not ok then error((...), 0) end
      return ...
    end
    return unwrap(coroutine.resume(co, ...))
  end
end
return function(limit)
  deadline, expired = limit, false
  if limit == math.huge then sethook() else sethook(check, "", %d) end
end
"""


class LuaUnavailable(RuntimeError):
    """Lua scripts need lupa, which is not installed (or has no Lua 5.1)."""


class LuaScriptError(Exception):
    """A Lua script failed: a syntax error, a runtime error, or a call of a
    server function with bad arguments.  The message is Lua's."""


class LuaTimeout(LuaScriptError):
    """A Lua script ran past the time limit."""


def load_lupa() -> Any:
    """lupa's Lua 5.1 module; LuaUnavailable (naming the extra) without it."""
    try:
        from lupa import lua51
    except ImportError:
        raise LuaUnavailable(
            "Lua scripts need the lupa package (Lua 5.1): %s" % INSTALL_HINT) from None
    return lua51


def _no_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("Lua scripts cannot reach Python attributes")


class LuaState:
    """One sandboxed Lua state.  Not thread-safe: callers serialize their
    use (``lock``) or keep one state per thread, as the real servers do."""

    def __init__(self, timeout: float = 30.0, max_memory: int = 256 << 20) -> None:
        lupa = load_lupa()
        self.lupa = lupa
        self.runtime = lupa.LuaRuntime(
            encoding=None, unpack_returned_tuples=True, register_eval=False,
            register_builtins=False, attribute_filter=_no_attributes, max_memory=max_memory)
        #: True once the state ran out of memory: it is not used again.
        self.broken = False
        self.lock = threading.RLock()
        self.timeout = timeout
        self.globals = self.runtime.globals()
        self.globals.python = None
        debug = self.globals.debug
        hook_source = _DEADLINE_HOOK % (_HOOK_COUNT, _HOOK_COUNT)
        loader = self.runtime.execute(b"return loadstring(...)", hook_source)
        self._set_deadline = loader(time.monotonic, debug.sethook)
        self._deadline = float("inf")

    # -- conversions --------------------------------------------------------------

    def table(self, values: Iterable[Any] = ()) -> Any:
        """A Lua array of ``values``."""
        return self.runtime.table_from(list(values))

    def map(self, pairs: Iterable[Tuple[Any, Any]]) -> Any:
        """A Lua table of key/value pairs."""
        t = self.runtime.table()
        for k, v in pairs:
            t[k] = v
        return t

    def is_table(self, value: Any) -> bool:
        return bool(self.lupa.lua_type(value) == "table")

    def array(self, table: Any) -> List[Any]:
        """The values t[1] .. t[#t] of a Lua table."""
        if not self.is_table(table):
            return []
        n = len(table)
        return [table[i] for i in range(1, n + 1)]

    # -- running ------------------------------------------------------------------

    def load(self, source: bytes, chunkname: str) -> None:
        """Compile and run a script (defining its functions)."""
        loaded = self.runtime.execute(b"return loadstring(...)", source,
                                      b"=" + chunkname.encode("utf-8"))
        if isinstance(loaded, tuple):  # nil and the message
            raise LuaScriptError(_text(loaded[1] if len(loaded) > 1 else loaded))
        self.call(loaded)

    def function(self, name: bytes) -> Any:
        """The global function ``name``, or None."""
        value = self.globals[name]
        if value is None or self.lupa.lua_type(value) != "function":
            return None
        return value

    def call(self, fn: Any, *args: Any) -> Tuple[Any, ...]:
        """Call a Lua function under the time limit; its results as a
        tuple.  Raises LuaScriptError (LuaTimeout past the limit)."""
        outer = self._deadline
        self._deadline = min(outer, time.monotonic() + self.timeout)
        self._set_deadline(self._deadline)
        try:
            result = fn(*args)
        except self.lupa.LuaMemoryError:
            self.broken = True
            raise LuaScriptError("script ran out of memory") from None
        except self.lupa.LuaError as exc:
            message = _text(exc.args[0] if exc.args else exc)
            if "script timed out" in message:
                raise LuaTimeout(message) from None
            raise LuaScriptError(message) from None
        except LuaScriptError:
            raise
        except Exception as exc:  # a Python callback failed
            raise LuaScriptError("%s: %s" % (type(exc).__name__, exc)) from None
        finally:
            self._deadline = outer
            self._set_deadline(outer)
        if isinstance(result, tuple):
            return result
        return (result,)

    def remaining(self) -> float:
        """Seconds left before the running call's deadline."""
        return self._deadline - time.monotonic()

    def sleep(self, seconds: Any) -> None:
        """Sleep, but not past the deadline (then the script fails)."""
        sec = float(seconds) if isinstance(seconds, (int, float)) else 0.0
        left = self.remaining()
        if sec > left:
            time.sleep(max(left, 0.0))
            raise LuaTimeout("script timed out")
        time.sleep(sec if sec > 0 else 0)


class StatePool:
    """Lua states for concurrent calls: an idle one is reused, else
    ``factory(number)`` makes a new one (numbered from 1), as the real
    servers keep one state per worker thread."""

    def __init__(self, factory: Callable[[int], LuaState]) -> None:
        self._factory = factory
        self._idle: List[LuaState] = []
        self._lock = threading.Lock()
        self.created = 0

    def acquire(self) -> LuaState:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.created += 1
            number = self.created
        return self._factory(number)

    def release(self, state: LuaState) -> None:
        """Return a state for reuse (one that ran out of memory is dropped)."""
        if state.broken:
            return
        with self._lock:
            self._idle.append(state)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# -- argument conversion (Lua's lua_tostring / lua_tonumber) -------------------


def lua_bytes(value: Any, what: str = "argument") -> bytes:
    """A Lua string argument (numbers convert as Lua's tostring does)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool) or value is None:
        raise LuaScriptError("invalid %s: expected a string" % what)
    if isinstance(value, int):
        return b"%d" % value
    if isinstance(value, float):
        return b"%.14g" % value
    raise LuaScriptError("invalid %s: expected a string" % what)


def opt_bytes(value: Any) -> Optional[bytes]:
    return None if value is None else lua_bytes(value)


def lua_number(value: Any) -> float:
    """lua_tonumber: numbers, numeric strings, else 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, bytes):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            try:
                return float(int(value.strip(), 16))
            except ValueError:
                return 0.0
    return 0.0


def _int_or_float(num: float) -> Any:
    return int(num) if num == int(num) and abs(num) < 2 ** 53 else num


# -- the utility functions ----------------------------------------------------------


def _pack_values(state: LuaState, args: Tuple[Any, ...]) -> List[float]:
    values: List[float] = []
    for arg in args:
        if state.is_table(arg):
            values.extend(lua_number(v) for v in state.array(arg))
        elif isinstance(arg, (int, float, bytes)) and not isinstance(arg, bool):
            values.append(lua_number(arg))
        else:
            values.append(0.0)
    return values


def _dump_item(value: Any) -> Optional[bytes]:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return lf.format_number(float(value))
    return None


def _array_dump(state: LuaState, table: Any) -> bytes:
    if not state.is_table(table):
        raise LuaScriptError("arraydump: invalid arguments")
    items = [_dump_item(v) for v in state.array(table)]
    return lf.arraydump([v for v in items if v is not None])


def _map_dump(state: LuaState, table: Any) -> bytes:
    if not state.is_table(table):
        raise LuaScriptError("mapdump: invalid arguments")
    pairs = []
    for k, v in table.items():
        kb, vb = _dump_item(k), _dump_item(v)
        if kb is not None and vb is not None:
            pairs.append((kb, vb))
    return lf.mapdump(pairs)


def common_utilities(state: LuaState) -> Dict[str, Callable[..., Any]]:
    """Functions with the same behaviour in both APIs, by ktserver's name."""
    s = lua_bytes
    return {
        "split": lambda text, delims=None: state.table(lf.split(s(text), opt_bytes(delims))),
        "pack": lambda fmt, *args: lf.pack(s(fmt), _pack_values(state, args)),
        "unpack": lambda fmt, data: state.table(lf.unpack(s(fmt), s(data))),
        "bit": lambda mode, num=0, aux=0: lf.bit(s(mode), lua_number(num), lua_number(aux)),
        "strstr": lambda text, pat, alt=None: lf.strstr(s(text), s(pat), opt_bytes(alt)),
        "time": lf.now,
        "sleep": lambda sec=0: state.sleep(sec),
    }


def kt_utilities(state: LuaState) -> Dict[str, Callable[..., Any]]:
    """The utility functions of ktserver's ``__kyototycoon__`` table."""
    s = lua_bytes
    funcs = common_utilities(state)
    funcs.update({
        "atoi": lambda text: lf.atoi(s(text)),
        "atoix": lambda text: lf.atoix(s(text)),
        "atof": lambda text: lf.atof(s(text)),
        "hash_murmur": lambda data: lf.hash_murmur(s(data)),
        "hash_fnv": lambda data: lf.hash_fnv(s(data)),
        "levdist": lambda a, b, utf=False: lf.levdist(s(a), s(b), bool(utf)),
        "regex": lambda text, pat, alt=None: lf.regex(s(text), s(pat), opt_bytes(alt)),
        "codec": lambda mode, data: lf.codec(s(mode), s(data)),
        "strfwm": lambda text, pat: lf.strfwm(s(text), s(pat)),
        "strbwm": lambda text, pat: lf.strbwm(s(text), s(pat)),
        "arraydump": lambda table: _array_dump(state, table),
        "arrayload": lambda data: state.table(lf.arrayload(s(data))),
        "mapdump": lambda table: _map_dump(state, table),
        "mapload": lambda data: state.map(lf.mapload(s(data))),
    })
    return funcs


def tt_utilities(state: LuaState) -> Dict[str, Callable[..., Any]]:
    """The utility functions among ttserver's ``_`` globals (without the
    underscore)."""
    s = lua_bytes
    funcs = common_utilities(state)
    funcs.update({
        "regex": lambda text, pat, alt=None: lf.tt_regex(s(text), s(pat), opt_bytes(alt)),
        "codec": lambda mode, data: lf.codec(s(mode), s(data), True),
        "hash": lambda mode, data: lf.tt_hash(s(mode), s(data)),
        "ucs": lambda arg: _ucs(state, arg),
        "sleep": lambda sec=0: _slept(state, sec),
        "dist": lambda a, b, utf=False: lf.levdist(s(a), s(b), bool(utf)),
        "isect": lambda *tables: _set_op(state, tables, False),
        "union": lambda *tables: _set_op(state, tables, True),
    })
    return funcs


def _slept(state: LuaState, seconds: Any) -> bool:
    """ttserver's _sleep answers true."""
    state.sleep(seconds)
    return True


def _ucs(state: LuaState, arg: Any) -> Any:
    if state.is_table(arg):
        return lf.ucs_to_utf([lua_number(v) for v in state.array(arg)])
    return state.table(lf.ucs(lua_bytes(arg)))


def _set_op(state: LuaState, tables: Tuple[Any, ...], union: bool) -> Any:
    """ttserver's _isect / _union: of several arrays, or of one array of
    arrays; the result order is unspecified (first appearance here)."""
    if len(tables) == 1 and state.is_table(tables[0]):
        inner = state.array(tables[0])
        if inner and all(state.is_table(t) for t in inner):
            tables = tuple(inner)
    lists = [[v for v in state.array(t) if isinstance(v, bytes)]
             for t in tables if state.is_table(t)]
    if not union and any(not values for values in lists):
        return state.table()
    seen: Dict[bytes, int] = {}
    for values in lists:
        for v in dict.fromkeys(values):
            seen[v] = seen.get(v, 0) + 1
    return state.table([v for v, n in seen.items() if union or n == len(lists)])


def install(state: LuaState, table: Any, funcs: Mapping[str, Callable[..., Any]],
            prefix: str = "") -> None:
    """Put ``funcs`` into the Lua table ``table`` (or the globals), each
    name with ``prefix``."""
    for name, fn in funcs.items():
        table[(prefix + name).encode("ascii")] = fn
