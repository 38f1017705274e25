-- The Lua APIs of both real servers, exercised with fixed inputs.  The
-- same file runs on ktserver (-scr), on ttserver (-ext) and on the built-in
-- servers / kt.server.lua, and the answers must be the same each time:
--   utilities (both): the utility functions, as JSON text
--     -> tests/lua/{kyoto,tyrant}_utilities.expected.json
--   api, status, fail, crash, spin (ktserver): the __kyototycoon__ database,
--     cursor and visitor functions, step by step -> tests/lua/kyoto_api.expected.txt
-- (tests/test_lua_runtime.py, tests/test_kyoto_lua.py).

local function hex(s)
  return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

local function show(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = show(k) .. "=" .. show(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif type(v) == "string" then
    return "'" .. hex(v) .. "'"
  end
  return type(v) .. ":" .. tostring(v)
end

local function sorted(t) table.sort(t); return t end

local kt = __kyototycoon__

local kt_cases = {
  atoi = function() return {kt.atoi("42"), kt.atoi("  -17xyz"), kt.atoi("abc"), kt.atoi(""), kt.atoi("12.9"), kt.atoi(77)} end,
  atoix = function() return {kt.atoix("3k"), kt.atoix("2M"), kt.atoix("1g"), kt.atoix("-5"), kt.atoix("x")} end,
  atof = function() return {kt.atof("1.5"), kt.atof("-2.25e2"), kt.atof("x"), kt.atof(" 3")} end,
  murmur = function() return {kt.hash_murmur(""), kt.hash_murmur("a"), kt.hash_murmur("hello"), kt.hash_murmur("0123456789abcdefXYZ")} end,
  fnv = function() return {kt.hash_fnv(""), kt.hash_fnv("a"), kt.hash_fnv("hello"), kt.hash_fnv("0123456789abcdefXYZ")} end,
  levdist = function() return {kt.levdist("kitten", "sitting"), kt.levdist("", "abc"), kt.levdist("\195\169t\195\169", "ete"), kt.levdist("\195\169t\195\169", "ete", true)} end,
  pack = function() return {hex(kt.pack("CsiN", 65, 513, 70000, 1)), hex(kt.pack("n*", 1, 2, 3)), hex(kt.pack("w3", 1, 300, 70000)), hex(kt.pack("d", 1.5)), hex(kt.pack("C*", {1, 2}, 3)), hex(kt.pack("c", -1)), hex(kt.pack("M", 258)), hex(kt.pack("l", -2))} end,
  unpack = function() return {kt.unpack("C*", "AB"), kt.unpack("c", "\255"), kt.unpack("n", "\1\2"), kt.unpack("N", "\0\0\1\0"), kt.unpack("w*", kt.pack("w*", 5, 300)), kt.unpack("s", "\255\255"), kt.unpack("S", "\255\255"), kt.unpack("d", kt.pack("d", -0.25)), kt.unpack("i2", "\1\0\0\0")} end,
  split = function() return {kt.split("a,b;;c", ",;"), kt.split("a\0b\0", nil), kt.split("x"), kt.split("", ","), kt.split("a,b\0c,d", ",")} end,
  codec = function() return {kt.codec("url", "a b&c/~é"), kt.codec("~url", "a%20b+c%2F"), kt.codec("base", "hello!"), kt.codec("~base", "aGVsbG8h"), kt.codec("hex", "\0\255A"), kt.codec("~hex", "0aff41"), kt.codec("~zlib", kt.codec("zlib", "data data data")), kt.codec("~deflate", kt.codec("deflate", "xyz")), kt.codec("~gzip", kt.codec("gzip", "gz"))} end,
  bit = function() return {kt.bit("and", 12, 10), kt.bit("or", 12, 3), kt.bit("xor", 5, 1), kt.bit("not", 0), kt.bit("left", 1, 4), kt.bit("right", 256, 4), kt.bit("left", 3, 31)} end,
  strstr = function() return {kt.strstr("hello world", "o"), kt.strstr("hello", "z"), kt.strstr("a-b-c", "-", "+"), kt.strstr("aaa", "a", ""), kt.strstr("abc", "")} end,
  fwm = function() return {kt.strfwm("prefix-rest", "prefix"), kt.strfwm("pre", "prefix"), kt.strbwm("file.lua", ".lua"), kt.strbwm("file.lua", ".py"), kt.strfwm("x", "")} end,
  regex = function() return {kt.regex("hello", "^h.*o$"), kt.regex("hello", "^e"), kt.regex("abcabc", "b", "X"), kt.regex("2024-01-05", "([0-9]+)-([0-9]+)", "\\2/\\1"), kt.regex("abc", "[a-z]", "<&>")} end,
  array = function() return {hex(kt.arraydump({"a", "", "bc", 5, 1.5})), kt.arrayload(kt.arraydump({"x", "yz"})), kt.arrayload("\2ab\1")} end,
  map = function() return {hex(kt.mapdump({k = "v"})), kt.mapload(kt.mapdump({a = "1", b = "", [3] = 4.25})), kt.mapload("\1\1ab\9")} end,
}


local tt_cases = {
  pack = function() return {hex(_pack("CsiN", 65, 513, 70000, 1)), hex(_pack("n*", 1, 2, 3)), hex(_pack("w3", 1, 300, 70000)), hex(_pack("d", 1.5)), hex(_pack("C*", {1, 2}, 3)), hex(_pack("c", -1))} end,
  unpack = function() return {_unpack("C*", "AB"), _unpack("c", "\255"), _unpack("n", "\1\2"), _unpack("N", "\0\0\1\0"), _unpack("w*", _pack("w*", 5, 300)), _unpack("s", "\255\255"), _unpack("S", "\255\255")} end,
  split = function() return {_split("a,b;;c", ",;"), _split("a\0b\0"), _split("x"), _split("", ",")} end,
  codec = function() return {_codec("url", "a b&c/~\195\169"), _codec("~url", "a%20b+c%2F"), _codec("base", "hello!"), _codec("~base", "aGVsbG8h"), _codec("hex", "\0\255A"), _codec("~hex", "0aff41"), _codec("~deflate", _codec("deflate", "xyz")), _codec("~gzip", _codec("gzip", "gz")), _codec("xml", "<a href=\"x\">&</a>"), _codec("~xml", "&lt;b&gt;&amp;&quot;")} end,
  hash = function() return {_hash("md5", "hello"), hex(_hash("md5raw", "hello")), _hash("crc32", "hello"), _hash("nope", "x")} end,
  bit = function() return {_bit("and", 12, 10), _bit("or", 12, 3), _bit("xor", 5, 1), _bit("not", 0), _bit("left", 1, 4), _bit("right", 256, 4)} end,
  strstr = function() return {_strstr("hello world", "o"), _strstr("hello", "z"), _strstr("a-b-c", "-", "+"), _strstr("abc", "")} end,
  regex = function() return {_regex("hello", "^h.*o$"), _regex("hello", "^e"), _regex("HELLO", "*^hel"), _regex("abcabc", "b", "X"), _regex("2024-01-05", "([0-9]+)-([0-9]+)", "\\2/\\1"), _regex("abc", "[a-z]", "<&>")} end,
  ucs = function() return {_ucs("a\195\169\226\130\172"), hex(_ucs({97, 233, 8364}))} end,
  dist = function() return {_dist("kitten", "sitting"), _dist("", "abc"), _dist("\195\169t\195\169", "ete"), _dist("\195\169t\195\169", "ete", true)} end,
  isect = function() return {sorted(_isect({"a", "b", "c"}, {"b", "c", "d"})), sorted(_isect({{"a", "b"}, {"b"}, {"b", "z"}})), _isect({"a"}, {})} end,
  union = function() return {sorted(_union({"a", "b"}, {"b", "c"})), sorted(_union({{"x"}, {"y", "x"}}))} end,
}


local function pack(...) return {n = select("#", ...), ...} end

local function showall(t)
  local parts = {}
  for i = 1, t.n do parts[i] = show(t[i]) end
  return table.concat(parts, " ")
end

local steps = {
  {"dbs", function() return #kt.dbs, kt.dbs["*"] == kt.db, kt.dbs["%"] == kt.dbs[2] end},
  {"rv", function() return kt.RVSUCCESS, kt.RVENOIMPL, kt.RVEINVALID, kt.RVELOGIC, kt.RVEINTERNAL end},
  {"clear", function(db) return db:clear(), db:count() end},
  {"set", function(db) return db:set("a", "1"), db:set("b", "2"), db:get("a") end},
  {"add", function(db) return db:add("a", "x"), db:add("c", "3"), db:get("c") end},
  {"replace", function(db) return db:replace("zz", "x"), db:replace("c", "33"), db:get("c") end},
  {"append", function(db) return db:append("a", "+"), db:append("new", "n"), db:get("a"), db:get("new") end},
  {"check", function(db) return db:check("a"), db:check("nope") end},
  {"index", function(db) db.idx = "via newindex"; return db.idx, db["a"], db.nothing end},
  {"increment", function(db) return db:increment("n", 5), db:increment("n", -2), db:increment("n"), db:increment("a", 1) end},
  {"increment_double", function(db) return db:increment_double("d", 1.5), db:increment_double("d", 0.25), db:increment_double("a", 1) end},
  {"cas", function(db) return db:cas("c", "33", "34"), db:cas("c", "33", "35"), db:get("c"), db:cas("c", "34", nil), db:get("c"), db:cas("c", nil, "new"), db:get("c") end},
  {"remove", function(db) return db:remove("c"), db:remove("c"), db:get("c") end},
  {"seize", function(db) local v = db:seize("b"); return v, db:get("b"), db:seize("b") end},
  {"bulk", function(db)
    local n = db:set_bulk({k1 = "v1", k2 = "v2", k3 = "v3"})
    local got = db:get_bulk({"k1", "k3", "missing"})
    local removed = db:remove_bulk({"k1", "missing"})
    return n, got, removed, db:get("k1")
  end},
  {"match", function(db)
    local p = db:match_prefix("k")
    table.sort(p)
    local r = db:match_regex("^k[23]$")
    table.sort(r)
    local s = db:match_similar("k9", 1)
    table.sort(s)
    return p, r, s, #db:match_prefix("k", 1)
  end},
  {"count", function(db) return db:count() end},
  {"accept_function", function(db)
    local seen = {}
    db:accept("k2", function(k, v) seen[#seen + 1] = k .. "=" .. tostring(v); return v .. "!" end)
    db:accept("fresh", function(k, v) seen[#seen + 1] = k .. "=" .. tostring(v); return "made" end)
    db:accept("k3", function(k, v) return kt.Visitor.REMOVE end)
    db:accept("k2", function(k, v) return kt.Visitor.NOP end)
    return seen, db:get("k2"), db:get("fresh"), db:get("k3")
  end},
  {"accept_visitor", function(db)
    local visitor = kt.Visitor:new()
    local log = {}
    function visitor:visit_full(k, v) log[#log + 1] = "full " .. k; return "visited" end
    function visitor:visit_empty(k) log[#log + 1] = "empty " .. k; return kt.Visitor.NOP end
    db:accept("k2", visitor)
    db:accept("absent", visitor)
    db:accept("new", visitor, false)
    return log, db:get("k2"), db:get("absent"), db:get("new")
  end},
  {"accept_bulk", function(db)
    db:accept_bulk({"k2", "fresh"}, function(k, v) return kt.Visitor.REMOVE end)
    return db:get("k2"), db:get("fresh")
  end},
  {"iterate", function(db)
    db:iterate(function(k, v) if k == "a" then return "A" end return kt.Visitor.NOP end)
    return db:get("a")
  end},
  {"pairs", function(db)
    local all = {}
    for k, v in db:pairs() do all[k] = v end
    return all
  end},
  {"cursor_walk", function(db)
    local cur = db:cursor()
    local n, first = 0, cur:jump()
    while cur:get_key(true) do n = n + 1 end
    cur:disable()
    return first, n, db:count()
  end},
  {"transaction", function(db)
    local ok = db:transaction(function() db:set("t", "1"); return true end)
    return ok, db:get("t"), db:begin_transaction(), db:end_transaction(true)
  end},
}

-- each argument shown, in order (Lua evaluates arguments left to right)
local function trace(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = show((select(i, ...))) end
  return table.concat(parts, " ")
end

local function abc_cursor(db)
  db:clear()
  db:set_bulk({a = "1", b = "2", c = "3"})
  return db:cursor()
end

local ordered = {
  {"cursor", function(db)
    local cur = abc_cursor(db)
    local text = trace(cur:jump(), cur:get_key(), pack(cur:get(true)), cur:get_value(),
      cur:set_value("B"), cur:get_value(), cur:remove(), cur:get_key(), pack(cur:seize()),
      cur:get_key(), cur:step(), cur:jump("b"), cur:db() == db)
    cur:disable()
    return text, db:count()
  end},
  {"cursor_back", function(db)
    local cur = abc_cursor(db)
    local text = trace(cur:jump_back(), cur:get_key(), cur:step_back(), cur:get_key(),
      cur:jump("bb"), cur:get_key(), cur:jump_back("bb"), cur:get_key())
    cur:disable()
    local keys = {}
    for k in db:pairs() do keys[#keys + 1] = k end
    return text, table.concat(keys, ",")
  end},
}

local function run(cases, now)
  local parts = {}
  for name, fn in pairs(cases) do
    local ok, result = pcall(fn)
    local text
    if ok then text = show(result) else text = "error: " .. tostring(result) end
    text = string.gsub(text, "[\"\\]", "?")
    parts[#parts + 1] = string.format("%q: \"%s\"", name, text)
  end
  parts[#parts + 1] = "\"time\": \"" .. tostring(math.abs(now() - os.time()) < 5) .. "\""
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

if kt then
  function utilities(inmap, outmap)
    outmap.result = run(kt_cases, kt.time)
    return kt.RVSUCCESS
  end

  local function run_steps(list, which, lines)
    local db = kt.dbs[which]
    for _, step in ipairs(list) do
      local ok, result = pcall(function() return pack(step[2](db)) end)
      lines[#lines + 1] = which .. " " .. step[1] .. ": " .. (ok and showall(result) or ("error " .. tostring(result)))
    end
  end

  function api(inmap, outmap)
    local lines = {}
    local which = inmap.db or "*"
    run_steps(steps, which, lines)
    if which == "%" then run_steps(ordered, which, lines) end
    kt.log("info", "api ran " .. #lines .. " steps")
    outmap.result = table.concat(lines, "\n")
    return kt.RVSUCCESS
  end

  function status(inmap, outmap)
    outmap.count = kt.db:count()
    outmap.type = type(kt.db:status())
    outmap.size = kt.db:size() >= 0
    outmap.path = kt.db:path()
    return kt.RVSUCCESS
  end

  function fail(inmap, outmap) return kt.RVELOGIC end
  function crash(inmap, outmap) error("deliberate") end
  function spin(inmap, outmap) while true do end end
else
  function utilities(key, value)
    return run(tt_cases, _time)
  end

  local tt_steps = {
    {"globals", function() return type(_version), type(_pid), _sid ~= nil, _thnum > 0, _thid > 0 end},
    {"vanish", function() return _vanish(), _rnum() end},
    {"put", function() return _put("a", "1"), _put("b", "2"), _get("a"), _get("zz") end},
    {"putkeep", function() return _putkeep("a", "x"), _putkeep("c", "3"), _get("c") end},
    {"putcat", function() return _putcat("a", "+"), _putcat("n", "new"), _get("a"), _get("n") end},
    {"out", function() return _out("n"), _out("n"), _get("n") end},
    {"vsiz", function() return _vsiz("a"), _vsiz("zz") end},
    {"addint", function() return _addint("i", 5), _addint("i", -2), _addint("a", 1) end},
    {"adddouble", function() return _adddouble("d", 1.5), _adddouble("d", 0.25) end},
    {"fwmkeys", function() return sorted(_fwmkeys("")), _fwmkeys("a"), #_fwmkeys("", 2) end},
    {"rnum", function() return _rnum(), _size() > 0 end},
    {"iter", function()
      local keys = {}
      _iterinit()
      while true do local k = _iternext(); if not k then break end; keys[#keys + 1] = k end
      return sorted(keys)
    end},
    {"foreach", function()
      local seen = {}
      local ok = _foreach(function(k, v) seen[#seen + 1] = k .. "=" .. v; return true end)
      return ok, sorted(seen)
    end},
    {"misc", function() return _misc("putlist", "m1", "v1", "m2", "v2"), _misc("getlist", {"m1", "m2", "zz"}), _misc("outlist", "m1"), _get("m1"), _misc("nosuch") end},
    {"stash", function()
      return _stashput("s", "1"), _stashputkeep("s", "x"), _stashputcat("s", "2"), _stashget("s"),
        _stashout("s"), _stashget("s"), _stashputkeep("t", "9"), _stashvanish(), _stashget("t")
    end},
    {"stashforeach", function()
      _stashput("p", "1"); _stashput("q", "2")
      local seen = {}
      _stashforeach(function(k, v) seen[#seen + 1] = k .. v; return true end)
      _stashvanish()
      return sorted(seen)
    end},
    {"lock", function() return _lock("L"), _unlock("L"), _unlock("L") end},
    {"eval", function() return _eval("evaluated = 40 + 2"), evaluated end},
    {"files", function()
      local dir = "kt-lua-test-dir"
      _remove(dir)
      local made = _mkdir(dir)
      local st = _stat(dir)
      return made, _mkdir(dir), st._directory, st._regular, #_glob(dir), _remove(dir), _stat(dir)
    end},
    {"sleep", function() return _sleep(0.01), _time() > 0 end},
  }

  function api(key, value)
    local lines = {}
    for _, step in ipairs(tt_steps) do
      local ok, result = pcall(function() return pack(step[2]()) end)
      lines[#lines + 1] = step[1] .. ": " .. (ok and showall(result) or ("error " .. tostring(result)))
    end
    _log("api ran " .. #lines .. " steps")
    return table.concat(lines, "\n")
  end

  function number(key, value) return 42 end
  function yes(key, value) return true end
  function no(key, value) return false end
  function first(key, value) return {"one", "two"} end
  function crash(key, value) error("deliberate") end
  function spin(key, value) while true do end end
end
