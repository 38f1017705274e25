"""ktserver's Lua scripting (``-scr FILE.lua``) for the built-in Kyoto
Tycoon server: the ``__kyototycoon__`` module over the server's databases.

Who calls it: the server's command line creates a ``LuaScriptHost`` for a
.lua script (a ``ScriptHost`` for a .py one) and gives it to the engine,
whose play_script calls ``host(name, inmap)``.

What scripts see, as doc/luadoc of Kyoto Tycoon documents it:
``kt.db`` / ``kt.dbs`` (by 1-based index and by path), DB objects (get,
set, add, replace, append, increment, increment_double, cas, remove,
seize, check, get_bulk, set_bulk, remove_bulk, match_prefix/regex/similar,
count, size, clear, status, path, cursor, pairs, iterate, accept,
accept_bulk, transaction, begin/end_transaction, ``db[key]``), cursors
(jump, jump_back, step, step_back, get, get_key, get_value, set_value,
remove, seize, accept, db, disable), ``kt.Visitor`` with NOP and REMOVE,
``kt.log``, ``kt.RV*``, ``kt.thid``, ``kt.VERSION`` and the utility
functions of kt.server.lua.  A procedure is ``name(inmap, outmap)``
returning an RV status.

Atomicity: every DB method is atomic on its own (the storage's lock);
``accept`` reads the record, runs the visitor and writes with a
compare-and-swap, running the visitor again if another client changed the
record meanwhile, so an update never overwrites a concurrent one.
``accept_bulk`` and ``iterate`` do that record by record, and
transactions have no rollback (the built-in storage has no undo log).
Several procedures run at once, each in its own Lua state (a pool), as
ktserver gives each worker thread its own; globals are per state.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from kt.server.kyoto.engine import RV_EINTERNAL, RV_EINVALID, RV_ELOGIC
from kt.server.kyoto.engine import RV_ENOIMPL, RV_ETIMEOUT, RV_SUCCESS
from kt.server.lua import (
    LuaScriptError,
    LuaState,
    LuaUnavailable,
    StatePool,
    kt_utilities,
    lua_bytes,
    lua_number,
    opt_bytes,
)
from kt.server.kyoto.scripting import ScriptLoadError
from kt.server.kyoto.storage import INT64_MAX, XT_MAX, Cursor, Database, DBError

__all__ = ["LuaScriptHost"]

INT64_MIN = -(1 << 63)

_PRELUDE = b"""
local raw_dbs, paths, utils, log, consts = ...
local kt = {}
for name, fn in pairs(utils) do kt[name] = fn end
for name, value in pairs(consts) do kt[name] = value end
kt.log = log

local Visitor = {NOP = setmetatable({}, {__tostring = function() return "NOP" end}),
                 REMOVE = setmetatable({}, {__tostring = function() return "REMOVE" end})}
Visitor.__index = Visitor
function Visitor:new() return setmetatable({}, self) end
function Visitor:visit_full(key, value, xt) return Visitor.NOP end
function Visitor:visit_empty(key) return Visitor.NOP end
kt.Visitor = Visitor

local function visit(visitor, key, value, xt)
  if type(visitor) == "function" then return visitor(key, value, xt) end
  if value == nil then
    if visitor.visit_empty then return visitor:visit_empty(key) end
  elseif visitor.visit_full then
    return visitor:visit_full(key, value, xt)
  end
  return Visitor.NOP
end

-- one record: read, visit, compare-and-swap (again if the record changed)
local function accept_one(raw, key, visitor, writable)
  while true do
    local value, xt = raw.get(key)
    local result, nxt = visit(visitor, key, value, xt)
    if writable == false or result == nil or result == Visitor.NOP then return end
    if result == Visitor.REMOVE then
      if value == nil or raw.cas(key, value, nil) then return end
    elseif raw.cas(key, value, tostring(result), nxt) then
      return
    end
  end
end

local DB = {}
local methods = {}
for _, name in ipairs({"get", "check", "set", "add", "replace", "append", "remove",
    "seize", "increment", "increment_double", "cas", "get_bulk", "set_bulk",
    "remove_bulk", "match_prefix", "match_regex", "match_similar", "count", "size",
    "clear", "status", "path", "synchronize"}) do
  methods[name] = function(self, ...) return rawget(self, "raw_")[name](...) end
end
DB.__index = function(self, key)
  local method = methods[key]
  if method ~= nil then return method end
  return rawget(self, "raw_").get(key)
end
DB.__newindex = function(self, key, value) rawget(self, "raw_").set(key, value) end
DB.__tostring = function(self) return rawget(self, "raw_").path() end

local Cursor = {}
Cursor.__index = Cursor
for _, name in ipairs({"jump", "jump_back", "step", "step_back", "get", "get_key",
    "get_value", "set_value", "remove", "seize", "disable"}) do
  Cursor[name] = function(self, ...) return self.raw_[name](...) end
end
function Cursor:db() return self.db_ end
function Cursor:accept(visitor, writable, step)
  local key = self.raw_.get_key(false)
  if key == nil then return false end
  accept_one(rawget(self.db_, "raw_"), key, visitor, writable)
  if step then self.raw_.step() end
  return true
end
Cursor.__call = function(self) return self.raw_.get(true) end
Cursor.__tostring = function(self) return "cursor" end

function methods:cursor()
  return setmetatable({raw_ = rawget(self, "raw_").cursor(), db_ = self}, Cursor)
end
function methods:accept(key, visitor, writable)
  accept_one(rawget(self, "raw_"), key, visitor, writable)
  return true
end
function methods:accept_bulk(keys, visitor, writable)
  for _, key in ipairs(keys) do accept_one(rawget(self, "raw_"), key, visitor, writable) end
  return true
end
function methods:iterate(visitor, writable)
  local keys = rawget(self, "raw_").match_prefix("")
  for _, key in ipairs(keys) do accept_one(rawget(self, "raw_"), key, visitor, writable) end
  return true
end
function methods:pairs()
  local cur = self:cursor()
  cur:jump()
  return function()
    local key, value = cur:get(true)
    if key == nil then cur:disable() end
    return key, value
  end, self, nil
end
function methods:transaction(proc, hard) return proc() == true end
function methods:begin_transaction(hard) return true end
function methods:end_transaction(commit) return true end
function methods:error() return kt.Error:new(0, "no error") end

local Error = {SUCCESS = 0, NOIMPL = 1, INVALID = 2, NOREPOS = 3, NOPERM = 4, BROKEN = 5,
               DUPREC = 6, NOREC = 7, LOGIC = 8, SYSTEM = 9, MISC = 15}
Error.__index = Error
local names = {}
for name, code in pairs(Error) do if type(code) == "number" then names[code] = name end end
function Error:new(code, message)
  return setmetatable({code_ = code or 0, message_ = message or ""}, Error)
end
function Error:code() return self.code_ end
function Error:name() return names[self.code_] or "unknown" end
function Error:message() return self.message_ end
function Error:set(code, message) self.code_, self.message_ = code, message end
Error.__tostring = function(self) return self:name() .. ": " .. self.message_ end
kt.Error = Error
kt.DB = DB
kt.Cursor = Cursor

kt.dbs = {}
for i, raw in ipairs(raw_dbs) do
  local db = setmetatable({raw_ = raw}, DB)
  kt.dbs[i] = db
  kt.dbs[paths[i]] = db
end
kt.db = kt.dbs[1]
__kyototycoon__ = kt
"""


def _xt(value: Any) -> int:
    """A Lua xt argument: nil for never, else seconds (negative: epoch)."""
    if value is None:
        return INT64_MAX
    num = lua_number(value)
    if math.isnan(num) or num >= INT64_MAX:
        return INT64_MAX
    return int(num)


def _xt_out(xt: int) -> float:
    """An absolute expiration time as ktserver gives it (XT_MAX: never)."""
    return float(min(xt, XT_MAX))


def _done(operation: Callable[..., None], *args: Any) -> bool:
    """Run an operation that returns nothing; True (Lua's success)."""
    operation(*args)
    return True


def _limit(value: Any) -> int:
    return -1 if value is None else int(lua_number(value))


def _orig(value: Any) -> int:
    num = lua_number(value) if value is not None else 0.0
    if math.isinf(num):
        return INT64_MAX if num > 0 else INT64_MIN
    return int(num)


class _RecordAPI:
    """Record operations of one database, as Lua calls them."""

    def __init__(self, state: LuaState, db: Database) -> None:
        self.state = state
        self.db = db

    def get(self, key: Any) -> Any:
        found = self.db.get_with_xt(lua_bytes(key))
        return None if found is None else (found[0], _xt_out(found[1]))

    def check(self, key: Any) -> int:
        found = self.db.check(lua_bytes(key))
        return -1 if found is None else found[0]

    def seize(self, key: Any) -> Any:
        found = self.db.seize(lua_bytes(key))
        return None if found is None else (found[0], _xt_out(found[1]))

    def increment(self, key: Any, num: Any = 0, orig: Any = 0, xt: Any = None) -> Any:
        n = int(lua_number(num)) if num is not None else 0
        return self.db.increment(lua_bytes(key), n, _orig(orig), _xt(xt))

    def increment_double(self, key: Any, num: Any = 0, orig: Any = 0, xt: Any = None) -> Any:
        n = lua_number(num) if num is not None else 0.0
        o = lua_number(orig) if orig is not None else 0.0
        result = self.db.increment_double(lua_bytes(key), n, o, _xt(xt))
        return None if math.isnan(result) else result

    def get_bulk(self, keys: Any, atomic: Any = True) -> Any:
        found = self.db.get_bulk([lua_bytes(k) for k in self.state.array(keys)])
        return self.state.map(found.items())

    def set_bulk(self, recs: Any, atomic: Any = True, xt: Any = None) -> int:
        if not self.state.is_table(recs):
            raise LuaScriptError("set_bulk: invalid arguments")
        items = [(lua_bytes(k), lua_bytes(v)) for k, v in recs.items()]
        return self.db.set_bulk(items, _xt(xt))

    def remove_bulk(self, keys: Any, atomic: Any = True) -> int:
        return self.db.remove_bulk([lua_bytes(k) for k in self.state.array(keys)])

    def status(self) -> Any:
        return self.state.map((k.encode(), v.encode()) for k, v in self.db.status().items())

    def functions(self) -> Dict[str, Callable[..., Any]]:
        db, s, state = self.db, lua_bytes, self.state
        funcs: Dict[str, Callable[..., Any]] = {
            "set": lambda k, v, xt=None: _done(db.set, s(k), s(v), _xt(xt)),
            "add": lambda k, v, xt=None: db.add(s(k), s(v), _xt(xt)),
            "replace": lambda k, v, xt=None: db.replace(s(k), s(v), _xt(xt)),
            "append": lambda k, v, xt=None: _done(db.append, s(k), s(v), _xt(xt)),
            "remove": lambda k: db.remove(s(k)),
            "cas": lambda k, o=None, n=None, xt=None: db.cas(s(k), opt_bytes(o), opt_bytes(n), _xt(xt)),
            "match_prefix": lambda p, m=None: state.table(db.match_prefix(s(p), _limit(m))),
            "match_regex": lambda p, m=None: self._match_regex(s(p), _limit(m)),
            "match_similar": lambda o, r=None, utf=False, m=None: state.table(
                db.match_similar(s(o), int(lua_number(r)) if r is not None else 1, bool(utf),
                                 _limit(m))),
            "count": db.count,
            "size": db.size,
            "clear": lambda: _done(db.clear),
            "path": lambda: db.path.encode("utf-8"),
            "synchronize": lambda hard=False, proc=None: db.synchronize(bool(hard)),
            "cursor": lambda: _CursorAPI(state, db.cursor()).table(),
        }
        for name in ("get", "check", "seize", "increment", "increment_double", "get_bulk",
                     "set_bulk", "remove_bulk", "status"):
            funcs[name] = getattr(self, name)
        return funcs

    def _match_regex(self, pattern: bytes, limit: int) -> Any:
        try:
            return self.state.table(self.db.match_regex(pattern, limit))
        except ValueError:
            return None


class _CursorAPI:
    """One storage cursor, as Lua calls it."""

    def __init__(self, state: LuaState, cursor: Cursor) -> None:
        self.state = state
        self.cursor = cursor

    def get(self, step: Any = False) -> Any:
        found = self.cursor.get(bool(step))
        return None if found is None else (found[0], found[1], _xt_out(found[2]))

    def get_key(self, step: Any = False) -> Any:
        found = self.cursor.get(bool(step))
        return None if found is None else found[0]

    def get_value(self, step: Any = False) -> Any:
        found = self.cursor.get(bool(step))
        return None if found is None else found[1]

    def seize(self) -> Any:
        found = self.cursor.seize()
        return None if found is None else (found[0], found[1], _xt_out(found[2]))

    def move(self, backward: bool, key: Any = None) -> bool:
        """jump / jump_back: False where the database cannot (a hash
        database has no backward scan), as ktserver's dummy answers."""
        try:
            if backward:
                return self.cursor.jump_back(opt_bytes(key))
            return self.cursor.jump(opt_bytes(key))
        except DBError:
            return False

    def step(self, backward: bool) -> bool:
        try:
            return self.cursor.step_back() if backward else self.cursor.step()
        except DBError:
            return False

    def table(self) -> Any:
        c = self.cursor
        funcs: Dict[str, Callable[..., Any]] = {
            "jump": lambda key=None: self.move(False, key),
            "jump_back": lambda key=None: self.move(True, key),
            "step": lambda: self.step(False),
            "step_back": lambda: self.step(True),
            # ktserver 1.0.0 passes set_value's arguments swapped: the cursor
            # always steps and the record's xt becomes 0 or 1 (seconds from
            # now) from the step flag.  Scripts rely on what it does.
            "set_value": lambda v, xt=None, step=False: c.set_value(
                lua_bytes(v), 1 if step else 0, True),
            "remove": c.remove,
            "disable": lambda: None,
            "get": self.get,
            "get_key": self.get_key,
            "get_value": self.get_value,
            "seize": self.seize,
        }
        return self.state.map((k.encode("ascii"), v) for k, v in funcs.items())


_CONSTANTS: Dict[str, Any] = {
    "RVSUCCESS": RV_SUCCESS, "RVENOIMPL": RV_ENOIMPL, "RVEINVALID": RV_EINVALID,
    "RVELOGIC": RV_ELOGIC, "RVETIMEOUT": RV_ETIMEOUT, "RVEINTERNAL": RV_EINTERNAL,
    "RVENETWORK": 6, "RVEMISC": 15, "VERSION": b"1.0.0 (kt built-in)",
}


class LuaScriptHost:
    """The procedures of one ktserver Lua script, callable as the engine's
    ``ScriptCaller``: ``host(name, inmap) -> (status, outmap)``."""

    def __init__(self, path: str, dbs: List[Database], dbmap: Dict[bytes, int],
                 log: Callable[[str, str], None], timeout: float = 30.0) -> None:
        self.path, self.dbs, self._log, self.timeout = path, dbs, log, timeout
        self.pool = StatePool(self._new_state)
        self._source = b""
        self.procedures: List[str] = []

    def load(self) -> List[str]:
        """Read and run the script once; returns the names of the global
        functions it defines.  ScriptLoadError when it cannot be used."""
        try:
            with open(self.path, "rb") as f:
                self._source = f.read()
        except OSError as exc:
            raise ScriptLoadError("%s: %s" % (self.path, exc)) from None
        try:
            self.pool.release(self.pool.acquire())
        except (LuaUnavailable, LuaScriptError) as exc:
            raise ScriptLoadError("%s: %s" % (self.path, exc)) from None
        return self.procedures

    def _new_state(self, number: int) -> LuaState:
        state = LuaState(self.timeout)
        thid = number - 1
        utils = state.map((k.encode("ascii"), v) for k, v in kt_utilities(state).items())
        raws = state.table(
            state.map((k.encode("ascii"), v) for k, v in _RecordAPI(state, db).functions().items())
            for db in self.dbs)
        paths = state.table(db.path.encode("utf-8") for db in self.dbs)
        consts = state.map((k.encode("ascii"), v) for k, v in dict(_CONSTANTS, thid=thid).items())
        before = set(state.globals.keys())
        prelude = state.runtime.execute(b"return loadstring(...)", _PRELUDE, b"=kt")
        state.call(prelude, raws, paths, utils, self._log_from_lua, consts)
        before.add(b"__kyototycoon__")
        state.load(self._source, os.path.basename(self.path))
        self.procedures = sorted(
            k.decode("utf-8", "replace") for k, v in state.globals.items()
            if k not in before and isinstance(k, bytes)
            and state.lupa.lua_type(v) == "function")
        return state

    def _log_from_lua(self, kind: Any = b"info", message: Any = b"") -> None:
        level = {b"debug": "DEBUG", b"info": "INFO", b"system": "SYSTEM",
                 b"error": "ERROR"}.get(opt_bytes(kind) or b"info", "INFO")
        text = lua_bytes(message) if message is not None else b""
        self._log(level, "[SCRIPT]: %s" % text.decode("utf-8", "replace"))

    def __call__(self, name: bytes, inmap: Dict[bytes, bytes]) -> Tuple[int, Dict[bytes, bytes]]:
        state = self.pool.acquire()
        try:
            return self._run(state, name, inmap)
        finally:
            self.pool.release(state)

    def _run(self, state: LuaState, name: bytes, inmap: Dict[bytes, bytes]
             ) -> Tuple[int, Dict[bytes, bytes]]:
        fn = state.function(name)
        label = name.decode("utf-8", "replace")
        if fn is None:
            return RV_ENOIMPL, {}
        out = state.runtime.table()
        try:
            result = state.call(fn, state.map(inmap.items()), out)
        except LuaScriptError as exc:
            self._log("ERROR", "[SCRIPT]: %s failed: %s" % (label, exc))
            return RV_EINTERNAL, {}
        outmap: Dict[bytes, bytes] = {}
        for k, v in out.items():
            kb, vb = _out_text(k), _out_text(v)
            if kb is not None and vb is not None:
                outmap[kb] = vb
        # As ktserver: the status is lua_tointeger of the first result, so
        # no result (or a non-number) counts as RVSUCCESS.
        status = result[0] if result else None
        if isinstance(status, bytes):
            status = lua_number(status)
        if isinstance(status, bool) or not isinstance(status, (int, float)):
            status = RV_SUCCESS
        return int(status), outmap


def _out_text(value: Any) -> Optional[bytes]:
    """An outmap key or value as ktserver writes it: strings as they are,
    numbers as "%lld" or "%f", booleans as true/false; others skipped."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        num = float(value)
        if math.isfinite(num) and num == math.floor(num):
            return b"%d" % int(num)
        return b"%f" % num
    return None
