-- The utility functions of both real servers' Lua APIs, exercised with
-- fixed inputs.  The same file runs on ktserver (-scr: procedure
-- "utilities" answers result=JSON), on ttserver (-ext: function
-- "utilities" returns the JSON) and on kt.server.lua
-- (tests/test_lua_runtime.py), and the JSON must be the same each time:
-- tests/lua/{kyoto,tyrant}_utilities.expected.json.

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
else
  function utilities(key, value)
    return run(tt_cases, _time)
  end
end
