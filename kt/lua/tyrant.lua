-- kt helper library for Tokyo Tyrant: locks, seize, table columns, queues
-- and key matching.
--
-- Load it with `ttserver -ext tyrant.lua` (or `python -m kt.server tyrant
-- -ext tyrant.lua`); kt.lua_script_path("tyrant") gives its path.  Every
-- function follows the ttserver convention `name(key, value)` and returns a
-- string, or nil for failure (the client sees an error).  Client side:
-- TokyoTyrant.script() / .lua, and client.Queue(name) for the queue.
--
-- Several results are returned as netstrings, "<length>:<bytes>" one after
-- the other, so that any byte may occur in them (kt.containers parses them).

local function netstrings(items)
  local parts = {}
  for i = 1, #items do parts[i] = #items[i] .. ":" .. items[i] end
  return table.concat(parts)
end

local function count(value, default)
  local n = tonumber(value)
  if n == nil then return default end
  return n
end

-- lock / unlock: key -> "true" or "false".  _lock waits while another
-- script holds the key, as ttserver's _lock does.
function lock(key, value)
  return _lock(key) and "true" or "false"
end

function unlock(key, value)
  return _unlock(key) and "true" or "false"
end

-- seize: key -> the value, removed; "" when there is no record
function seize(key, value)
  _lock(key)
  local current = _get(key)
  if current ~= nil then _out(key) end
  _unlock(key)
  return current or ""
end

-- Table databases: a record is "name\0value\0name\0value...".

local function columns(record)
  local map = {}
  if record == nil then return map end
  local parts = _split(record)
  for i = 1, #parts - 1, 2 do map[parts[i]] = parts[i + 1] end
  return map
end

local function record_of(map)
  local parts = {}
  for name, value in pairs(map) do
    parts[#parts + 1] = name
    parts[#parts + 1] = value
  end
  return table.concat(parts, "\0")
end

-- table_get: key, column -> the column's value, "" when absent
function table_get(key, value)
  return columns(_get(key))[value] or ""
end

-- table_update: key, "name\0value\0..." -> "true"; merges the columns into
-- the record (creating it); "false" when value is not name/value pairs
function table_update(key, value)
  local updates = _split(value)
  if #updates < 2 then return "false" end
  _lock(key)
  local map = columns(_get(key))
  for i = 1, #updates - 1, 2 do map[updates[i]] = updates[i + 1] end
  local ok = _put(key, record_of(map))
  _unlock(key)
  return ok and "true" or "false"
end

-- table_pop: key, column -> the column's value, removed from the record;
-- "" when absent
function table_pop(key, value)
  _lock(key)
  local map = columns(_get(key))
  local found = map[value]
  if found ~= nil then
    map[value] = nil
    if next(map) == nil then _out(key) else _put(key, record_of(map)) end
  end
  _unlock(key)
  return found or ""
end

-- Queues: items are records "<queue>\t<12-digit id>", the id counter is
-- the record "<queue>" (_addint).  One script lock per queue makes pops
-- atomic among script callers.

local function queue_items(queue)
  local keys = _fwmkeys(queue .. "\t")
  table.sort(keys)
  return keys
end

local function queue_lock(queue) return "\0kt.queue\0" .. queue end

-- queue_add: queue, item -> the item's id
function queue_add(key, value)
  local id = _addint(key, 1)
  if id == nil then return nil end
  if not _putkeep(string.format("%s\t%012d", key, id), value) then return nil end
  return tostring(id)
end

local function take(queue, n, remove)
  local lockname = queue_lock(queue)
  _lock(lockname)
  local keys = queue_items(queue)
  local items = {}
  for i = 1, #keys do
    if n >= 0 and #items >= n then break end
    local item = _get(keys[i])
    if item ~= nil then
      items[#items + 1] = item
      if remove then _out(keys[i]) end
    end
  end
  _unlock(lockname)
  return netstrings(items)
end

-- queue_pop: queue, n (default 1, -1 for all) -> items as netstrings
-- queue_peek: the same without removing them
function queue_pop(key, value) return take(key, count(value, 1), true) end
function queue_peek(key, value) return take(key, count(value, 1), false) end

-- queue_size: queue -> number of items
function queue_size(key, value)
  return tostring(#_fwmkeys(key .. "\t"))
end

-- queue_clear: queue -> number of items removed; resets the id counter
function queue_clear(key, value)
  local lockname = queue_lock(key)
  _lock(lockname)
  local keys = _fwmkeys(key .. "\t")
  local removed = 0
  for i = 1, #keys do
    if _out(keys[i]) then removed = removed + 1 end
  end
  _out(key)
  _unlock(lockname)
  return tostring(removed)
end

-- Matching: each returns key, value, key, value... as netstrings, in key
-- order, at most `value` records (all when omitted or negative).

local function matching(limit, accept)
  local found = {}
  _foreach(function(k, v)
    if accept(k, v) then found[#found + 1] = {k, v} end
    return true
  end)
  table.sort(found, function(a, b) return a[1] < b[1] end)
  local items = {}
  for i = 1, #found do
    if limit >= 0 and i > limit then break end
    items[#items + 1] = found[i][1]
    items[#items + 1] = found[i][2]
  end
  return netstrings(items)
end

-- match_pattern: a Lua pattern (string.find) on the keys, max
function match_pattern(key, value)
  return matching(count(value, -1), function(k) return string.find(k, key) ~= nil end)
end

-- match_regex: a POSIX extended regular expression on the keys, max
function match_regex(key, value)
  return matching(count(value, -1), function(k) return _regex(k, key) end)
end

-- match_similar: keys within edit distance `value` (default 0) of key
function match_similar(key, value)
  local distance = count(value, 0)
  return matching(-1, function(k) return _dist(k, key) <= distance end)
end

-- match_similar_value: records whose value is within edit distance
-- `value` (default 0) of key
function match_similar_value(key, value)
  local distance = count(value, 0)
  return matching(-1, function(k, v) return _dist(v, key) <= distance end)
end
