-- kt helper library for Kyoto Tycoon: containers, queues and key helpers.
--
-- Load it with `ktserver -scr kyoto.lua` (or `python -m kt.server kyoto -scr
-- kyoto.lua`); kt.lua_script_path("kyoto") gives its path.  Every procedure
-- follows the ktserver convention `name(inmap, outmap)` and returns a status.
-- Client side: kt.containers (client.Hash/Set/List/Queue) calls these.
--
-- Conventions shared by all procedures:
--   db       optional database, a 0-based index or a database name.
--   lists    are returned as maps whose keys are "0", "1", ... in order.
--   several  input values are passed as numbered entries "0", "1", ...
--   num      the count a procedure reports (added, removed, length...).
-- Each hash, set and list lives in one record and is changed with a visitor,
-- so that one call is atomic against other clients.

local kt = __kyototycoon__

local function pick_db(inmap)
  local which = inmap.db
  inmap.db = nil
  if which == nil then return kt.db end
  local idx = tonumber(which)
  if idx then return kt.dbs[idx + 1] end
  return kt.dbs[which]
end

local function numbered(inmap)
  local values = {}
  local i = 0
  while inmap[tostring(i)] ~= nil do
    values[#values + 1] = inmap[tostring(i)]
    i = i + 1
  end
  return values
end

local function values_of(inmap)
  local values = numbered(inmap)
  if #values == 0 and inmap.value ~= nil then values[1] = inmap.value end
  return values
end

local function put_list(outmap, arr)
  for i = 1, #arr do outmap[tostring(i - 1)] = arr[i] end
end

local function count_map(m)
  local n = 0
  for _ in pairs(m) do n = n + 1 end
  return n
end

-- Read-modify-write one record atomically.  `change(container)` gets the
-- decoded container and returns true when it modified it.
local function update(db, key, load, dump, change)
  local failed = false
  local ok = db:accept(key, function(k, v)
    local container = {}
    if v then container = load(v) end
    local changed, err = change(container)
    if err then failed = true end
    if changed and not err then return dump(container) end
    return kt.Visitor.NOP
  end)
  if not ok then return kt.RVEINTERNAL end
  if failed then return kt.RVELOGIC end
  return kt.RVSUCCESS
end

local function with_container(inmap, required, load, dump, change)
  local db = pick_db(inmap)
  if not db then return kt.RVEINVALID end
  local key = inmap[required]
  if key == nil then
    kt.log("info", "kt helper: missing argument '" .. required .. "'")
    return kt.RVEINVALID
  end
  inmap[required] = nil
  return update(db, key, load, dump, change)
end

-- Hashes: one record holds a map (kt.mapdump); its key is `table_key`.

local function hash_op(inmap, change)
  return with_container(inmap, "table_key", kt.mapload, kt.mapdump, change)
end

-- hset: table_key, key, value -> num (1 when the field is new)
function hset(inmap, outmap)
  local field, value = inmap.key, inmap.value
  if field == nil or value == nil then return kt.RVEINVALID end
  return hash_op(inmap, function(h)
    outmap.num = (h[field] == nil) and 1 or 0
    h[field] = value
    return true
  end)
end

-- hsetnx: table_key, key, value -> num (1 when stored, 0 when present)
function hsetnx(inmap, outmap)
  local field, value = inmap.key, inmap.value
  if field == nil or value == nil then return kt.RVEINVALID end
  return hash_op(inmap, function(h)
    if h[field] ~= nil then outmap.num = 0; return false end
    h[field] = value
    outmap.num = 1
    return true
  end)
end

-- hget: table_key, key -> value (absent when the field is missing)
function hget(inmap, outmap)
  local field = inmap.key
  if field == nil then return kt.RVEINVALID end
  return hash_op(inmap, function(h)
    outmap.value = h[field]
    return false
  end)
end

-- hmset: table_key, field=value... -> num (fields written)
function hmset(inmap, outmap)
  return hash_op(inmap, function(h)
    local n = 0
    for field, value in pairs(inmap) do h[field] = value; n = n + 1 end
    outmap.num = n
    return n > 0
  end)
end

-- hmget: table_key, field=anything... -> field=value for the present ones
function hmget(inmap, outmap)
  return hash_op(inmap, function(h)
    for field in pairs(inmap) do outmap[field] = h[field] end
    return false
  end)
end

-- Add (value "") or remove (value nil) entries of a map container;
-- num is how many changed.
local function map_change(keyarg, inmap, outmap, names, value)
  return with_container(inmap, keyarg, kt.mapload, kt.mapdump, function(m)
    local n = 0
    for _, name in ipairs(names) do
      if (m[name] == nil) ~= (value == nil) then m[name] = value; n = n + 1 end
    end
    outmap.num = n
    return n > 0
  end)
end

-- hdel: table_key, key -> num (fields removed)
function hdel(inmap, outmap)
  if inmap.key == nil then return kt.RVEINVALID end
  local field = inmap.key
  inmap.key = nil
  return map_change("table_key", inmap, outmap, {field}, nil)
end

-- hmdel: table_key, field=anything... -> num
function hmdel(inmap, outmap)
  local fields = {}
  for field in pairs(inmap) do
    if field ~= "table_key" and field ~= "db" then fields[#fields + 1] = field end
  end
  return map_change("table_key", inmap, outmap, fields, nil)
end

-- hgetall: table_key -> every field=value
function hgetall(inmap, outmap)
  return hash_op(inmap, function(h)
    for field, value in pairs(h) do outmap[field] = value end
    return false
  end)
end

-- Hashes and sets are both maps: their size and membership tests.
local function map_len(keyarg, inmap, outmap)
  return with_container(inmap, keyarg, kt.mapload, kt.mapdump, function(m)
    outmap.num = count_map(m)
    return false
  end)
end

local function map_has(keyarg, arg, inmap, outmap)
  local wanted = inmap[arg]
  if wanted == nil then return kt.RVEINVALID end
  return with_container(inmap, keyarg, kt.mapload, kt.mapdump, function(m)
    outmap.num = (m[wanted] ~= nil) and 1 or 0
    return false
  end)
end

-- hlen: table_key -> num
function hlen(inmap, outmap) return map_len("table_key", inmap, outmap) end

-- hcontains: table_key, key -> num (1 or 0)
function hcontains(inmap, outmap) return map_has("table_key", "key", inmap, outmap) end

-- Sets: one record holds a map whose keys are the members.

local function set_op(inmap, change)
  return with_container(inmap, "key", kt.mapload, kt.mapdump, change)
end

-- sadd: key, value or "0".."n" -> num (members added)
function sadd(inmap, outmap)
  return map_change("key", inmap, outmap, values_of(inmap), "")
end

-- srem: key, value or "0".."n" -> num (members removed)
function srem(inmap, outmap)
  return map_change("key", inmap, outmap, values_of(inmap), nil)
end

local function sorted_keys(m)
  local keys = {}
  for k in pairs(m) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- smembers: key -> "0".."n" (members in byte order)
function smembers(inmap, outmap)
  return set_op(inmap, function(s)
    put_list(outmap, sorted_keys(s))
    return false
  end)
end

-- sismember: key, value -> num (1 or 0)
function sismember(inmap, outmap) return map_has("key", "value", inmap, outmap) end

-- scard: key -> num
function scard(inmap, outmap) return map_len("key", inmap, outmap) end

-- spop: key -> num (1 or 0), value (the removed member, if any)
function spop(inmap, outmap)
  return set_op(inmap, function(s)
    local member = next(s)
    if member == nil then outmap.num = 0; return false end
    s[member] = nil
    outmap.num = 1
    outmap.value = member
    return true
  end)
end

-- sinter / sunion / sdiff: set keys as "0".."n" (sdiff: the first minus
-- the others), optional dest -> members as "0".."n", or num when stored in
-- dest.  The sources are read in one atomic get_bulk.
local function keep(kind, m, sets)
  for i = 2, #sets do
    local present = sets[i][m] ~= nil
    if kind == "inter" and not present then return false end
    if kind == "diff" and present then return false end
  end
  return true
end

local function combine(inmap, outmap, kind)
  local db = pick_db(inmap)
  if not db then return kt.RVEINVALID end
  local keys = numbered(inmap)
  if #keys == 0 then return kt.RVEINVALID end
  local recs = db:get_bulk(keys, true)
  if not recs then return kt.RVEINTERNAL end
  local sets = {}
  for i, key in ipairs(keys) do
    sets[i] = recs[key] and kt.mapload(recs[key]) or {}
  end
  local result = {}
  for i = 1, (kind == "union") and #sets or 1 do
    for m in pairs(sets[i]) do
      if kind == "union" or keep(kind, m, sets) then result[m] = "" end
    end
  end
  if inmap.dest then
    if not db:set(inmap.dest, kt.mapdump(result)) then return kt.RVEINTERNAL end
    outmap.num = count_map(result)
  else
    put_list(outmap, sorted_keys(result))
  end
  return kt.RVSUCCESS
end

function sinter(inmap, outmap) return combine(inmap, outmap, "inter") end
function sunion(inmap, outmap) return combine(inmap, outmap, "union") end
function sdiff(inmap, outmap) return combine(inmap, outmap, "diff") end

-- Lists: one record holds an array (kt.arraydump).  Indexes are 0-based
-- and may be negative (from the end), as in Python.

local function list_op(inmap, change)
  return with_container(inmap, "key", kt.arrayload, kt.arraydump, change)
end

local function position(len, index)
  local i = tonumber(index or 0)
  if i == nil then return nil end
  if i < 0 then i = len + i end
  if i < 0 or i >= len then return nil end
  return i + 1
end

local function push(inmap, outmap, front)
  local values = values_of(inmap)
  if #values == 0 then return kt.RVEINVALID end
  return list_op(inmap, function(arr)
    for _, v in ipairs(values) do
      if front then table.insert(arr, 1, v) else arr[#arr + 1] = v end
    end
    outmap.num = #arr
    return true
  end)
end

-- lpush / rpush: key, value or "0".."n" -> num (new length)
function lpush(inmap, outmap) return push(inmap, outmap, true) end
function rpush(inmap, outmap) return push(inmap, outmap, false) end

local function pop(inmap, outmap, front)
  return list_op(inmap, function(arr)
    if #arr == 0 then return false end
    outmap.value = table.remove(arr, front and 1 or #arr)
    return true
  end)
end

-- lpop / rpop: key -> value (absent when the list is empty)
function lpop(inmap, outmap) return pop(inmap, outmap, true) end
function rpop(inmap, outmap) return pop(inmap, outmap, false) end

-- the names the original kt library used
llpush, lrpush, llpop, lrpop = lpush, rpush, lpop, rpop

-- lrange: key, start, stop -> "0".."n" (Python slice arr[start:stop])
function lrange(inmap, outmap)
  local start, stop = tonumber(inmap.start or 0), tonumber(inmap.stop)
  if start == nil or (inmap.stop ~= nil and stop == nil) then return kt.RVEINVALID end
  return list_op(inmap, function(arr)
    local len = #arr
    local first = start < 0 and math.max(len + start, 0) or math.min(start, len)
    local last = stop or len
    last = last < 0 and math.max(len + last, 0) or math.min(last, len)
    local out = {}
    for i = first + 1, last do out[#out + 1] = arr[i] end
    put_list(outmap, out)
    return false
  end)
end

-- lindex: key, index -> value (absent when out of range)
function lindex(inmap, outmap)
  local index = inmap.index
  return list_op(inmap, function(arr)
    local i = position(#arr, index)
    if i then outmap.value = arr[i] end
    return false
  end)
end

-- linsert: key, index, value -> num (new length); inserts before index
-- like Python's list.insert (clamped to the ends).
function linsert(inmap, outmap)
  local index, value = tonumber(inmap.index or 0), inmap.value
  if index == nil or value == nil then return kt.RVEINVALID end
  return list_op(inmap, function(arr)
    local len = #arr
    local i = index < 0 and math.max(len + index, 0) or math.min(index, len)
    table.insert(arr, i + 1, value)
    outmap.num = #arr
    return true
  end)
end

-- lset: key, index, value -> fails with RVELOGIC when out of range
function lset(inmap, outmap)
  local index, value = inmap.index, inmap.value
  if value == nil then return kt.RVEINVALID end
  return list_op(inmap, function(arr)
    local i = position(#arr, index)
    if not i then return false, true end
    arr[i] = value
    return true
  end)
end

-- llen: key -> num
function llen(inmap, outmap)
  return list_op(inmap, function(arr)
    outmap.num = #arr
    return false
  end)
end

-- Queues: items are records "<queue>\t<12-digit id>", the id counter is
-- the record "<queue>" (db:increment).  Items are found in id order with a
-- cursor on tree databases and with match_prefix plus a sort elsewhere.
-- Each item is taken with an atomic seize, so concurrent consumers never
-- get the same item.

local function queue_keys(db, queue, reverse, limit)
  local prefix = queue .. "\t"
  local keys = {}
  local cur = db:cursor()
  local ordered
  if reverse then ordered = cur:jump_back(prefix .. "\255") else ordered = cur:jump(prefix) end
  if ordered then
    while limit < 0 or #keys < limit do
      local key = cur:get_key()
      if key == nil or not kt.strfwm(key, prefix) then break end
      keys[#keys + 1] = key
      if reverse then ordered = cur:step_back() else ordered = cur:step() end
      if not ordered then break end
    end
    cur:disable()
    return keys
  end
  cur:disable()
  local all = db:match_prefix(prefix) or {}
  table.sort(all)
  local first, last, step = 1, #all, 1
  if reverse then first, last, step = #all, 1, -1 end
  for i = first, last, step do
    if limit >= 0 and #keys >= limit then break end
    keys[#keys + 1] = all[i]
  end
  return keys
end

local function queue_args(inmap)
  local db = pick_db(inmap)
  if not db or inmap.queue == nil then return nil end
  return db, inmap.queue
end

local function enqueue(db, queue, value)
  local id = db:increment(queue, 1)
  if not id then return nil end
  if not db:add(string.format("%s\t%012d", queue, id), value) then return nil end
  return id
end

-- queue_add: queue, data -> id
function queue_add(inmap, outmap)
  local db, queue = queue_args(inmap)
  if not db or inmap.data == nil then return kt.RVEINVALID end
  local id = enqueue(db, queue, inmap.data)
  if not id then return kt.RVEINTERNAL end
  outmap.id = id
  return kt.RVSUCCESS
end

-- queue_madd: queue, "0".."n" -> num
function queue_madd(inmap, outmap)
  local db, queue = queue_args(inmap)
  if not db then return kt.RVEINVALID end
  local items = numbered(inmap)
  for i, item in ipairs(items) do
    if not enqueue(db, queue, item) then return kt.RVEINTERNAL end
  end
  outmap.num = #items
  return kt.RVSUCCESS
end

local function take(inmap, outmap, reverse, remove)
  local db, queue = queue_args(inmap)
  local n = tonumber(inmap.n or 1)
  if not db or n == nil then return kt.RVEINVALID end
  local got = 0
  while n < 0 or got < n do
    local keys = queue_keys(db, queue, reverse, n < 0 and -1 or n - got)
    if #keys == 0 then break end
    for _, key in ipairs(keys) do
      local value
      if remove then value = db:seize(key) else value = db:get(key) end
      if value ~= nil then
        outmap[tostring(got)] = value
        got = got + 1
      end
    end
    if not remove then break end
  end
  return kt.RVSUCCESS
end

-- queue_pop / queue_rpop: queue, n (default 1, -1 for all) -> "0".."n"
-- queue_peek / queue_rpeek: the same without removing
function queue_pop(inmap, outmap) return take(inmap, outmap, false, true) end
function queue_rpop(inmap, outmap) return take(inmap, outmap, true, true) end
function queue_peek(inmap, outmap) return take(inmap, outmap, false, false) end
function queue_rpeek(inmap, outmap) return take(inmap, outmap, true, false) end

local function remove_items(inmap, outmap, reverse)
  local db, queue = queue_args(inmap)
  local data, n = inmap.data, tonumber(inmap.n or -1)
  if not db or data == nil or n == nil then return kt.RVEINVALID end
  local removed = 0
  for _, key in ipairs(queue_keys(db, queue, reverse, -1)) do
    if n >= 0 and removed >= n then break end
    if db:cas(key, data, nil) then removed = removed + 1 end
  end
  outmap.num = removed
  return kt.RVSUCCESS
end

-- queue_remove / queue_rremove: queue, data, n (default all) -> num
-- removes items equal to data, from the front / from the back
function queue_remove(inmap, outmap) return remove_items(inmap, outmap, false) end
function queue_rremove(inmap, outmap) return remove_items(inmap, outmap, true) end

-- queue_size: queue -> num
function queue_size(inmap, outmap)
  local db, queue = queue_args(inmap)
  if not db then return kt.RVEINVALID end
  outmap.num = #(db:match_prefix(queue .. "\t") or {})
  return kt.RVSUCCESS
end

-- queue_clear: queue -> num (items removed); resets the id counter
function queue_clear(inmap, outmap)
  local db, queue = queue_args(inmap)
  if not db then return kt.RVEINVALID end
  local removed = 0
  for _, key in ipairs(db:match_prefix(queue .. "\t") or {}) do
    if db:remove(key) then removed = removed + 1 end
  end
  db:remove(queue)
  outmap.num = removed
  return kt.RVSUCCESS
end

-- Key helpers.

-- move: src, dest -> moves the record (value and expiry); RVELOGIC when
-- src does not exist
function move(inmap, outmap)
  local db = pick_db(inmap)
  local src, dest = inmap.src, inmap.dest
  if not db or src == nil or dest == nil then return kt.RVEINVALID end
  local value, xt = db:seize(src)
  if value == nil then return kt.RVELOGIC end
  if xt and xt >= kt.time() + 1e9 then xt = nil end
  if not db:set(dest, value, xt and -xt or nil) then return kt.RVEINTERNAL end
  return kt.RVSUCCESS
end

-- list: optional prefix, max -> key=value for every (matching) record
function list(inmap, outmap)
  local db = pick_db(inmap)
  if not db then return kt.RVEINVALID end
  local keys = db:match_prefix(inmap.prefix or "", tonumber(inmap.max or -1))
  local recs = db:get_bulk(keys or {}, false) or {}
  for k, v in pairs(recs) do outmap[k] = v end
  return kt.RVSUCCESS
end

-- get_range: start, stop (both optional, inclusive) -> key=value of the
-- records between them in key order (tree databases)
function get_range(inmap, outmap)
  local db = pick_db(inmap)
  if not db then return kt.RVEINVALID end
  local stop = inmap.stop
  local cur = db:cursor()
  local ok
  if inmap.start then ok = cur:jump(inmap.start) else ok = cur:jump() end
  while ok do
    local key, value = cur:get(true)
    if key == nil or (stop and key > stop) then break end
    outmap[key] = value
  end
  cur:disable()
  return kt.RVSUCCESS
end

-- get_part: key, start, stop -> value[start:stop] (Python slice), absent
-- when the record does not exist
function get_part(inmap, outmap)
  local db = pick_db(inmap)
  local key = inmap.key
  local start, stop = tonumber(inmap.start or 0), tonumber(inmap.stop)
  if not db or key == nil or start == nil then return kt.RVEINVALID end
  local value = db:get(key)
  if value == nil then return kt.RVSUCCESS end
  local len = #value
  local first = start < 0 and math.max(len + start, 0) or math.min(start, len)
  local last = stop or len
  last = last < 0 and math.max(len + last, 0) or math.min(last, len)
  outmap.value = string.sub(value, first + 1, last)
  return kt.RVSUCCESS
end

-- hash: method ("murmur", the default, or "fnv"), name=value... ->
-- name=hash of value (decimal)
function hash(inmap, outmap)
  local method = inmap.method or "murmur"
  inmap.method = nil
  local fn = kt.hash_murmur
  if method == "fnv" then fn = kt.hash_fnv elseif method ~= "murmur" then return kt.RVEINVALID end
  for name, value in pairs(inmap) do outmap[name] = string.format("%.0f", fn(value)) end
  return kt.RVSUCCESS
end
