"""The seed's Kyoto Tycoon script examples: ``script`` and the ``lua`` helper
against a server with procedures: the built-in server with Python and with
Lua procedures, a real ktserver with the Lua ones."""

from __future__ import annotations

import pytest

from kt import KT_JSON, KyotoTycoon, ServerError
from lua_servers import script_variants
from servers import RunningServer, scripted_fixture

PYTHON_SCRIPT = '''
from kt.server.kyoto.scripting import RV_ELOGIC, ScriptError

def myfunction(ctx, inmap):
    return {"data": "returned", "by": "user-script"}

def another_function(ctx, inmap):
    return {}

def echo(ctx, inmap):
    return dict(inmap)

def store(ctx, inmap):
    ctx.db.set(inmap[b"key"], inmap[b"value"])
    return {"stored": inmap[b"key"]}

def fail(ctx, inmap):
    raise ScriptError(RV_ELOGIC, "refused")
'''

LUA_SCRIPT = '''kt = __kyototycoon__
db = kt.db
function myfunction(inmap, outmap)
  outmap.data = "returned"
  outmap.by = "user-script"
  return kt.RVSUCCESS
end
function another_function(inmap, outmap) return kt.RVSUCCESS end
function echo(inmap, outmap)
  for k, v in pairs(inmap) do outmap[k] = v end
  return kt.RVSUCCESS
end
function store(inmap, outmap)
  db:set(inmap.key, inmap.value)
  outmap.stored = inmap.key
  return kt.RVSUCCESS
end
function fail(inmap, outmap)
  return kt.RVELOGIC
end
'''


scripted = scripted_fixture("kyoto", PYTHON_SCRIPT, LUA_SCRIPT, script_variants("kyoto"))


def test_seed_script_examples(scripted: RunningServer) -> None:
    client = KyotoTycoon(port=scripted.port)
    assert client.script("myfunction", {"key": "some-key", "data": "etc"}) == \
        {"data": "returned", "by": "user-script"}
    lua = client.lua
    assert lua.myfunction(key="some-key", data="etc") == {"data": "returned", "by": "user-script"}
    assert lua.another_function(key="another-key") == {}


def test_script_values_and_failures(scripted: RunningServer) -> None:
    client = KyotoTycoon(port=scripted.port)
    assert client.script("echo", {"a": "1", "b": "\u00e9"}) == {"a": "1", "b": "\u00e9"}
    assert client.script("echo", {"raw": b"\xff\x00"}, encode_values=False) == {"raw": b"\xff\x00"}
    assert client.script("store", key="k", value="v") == {"stored": "k"}
    assert client.get("k") == "v"
    jc = KyotoTycoon(port=scripted.port, serializer=KT_JSON)
    assert jc.script("echo", {"doc": {"x": [1]}}) == {"doc": {"x": [1]}}
    with pytest.raises(ServerError):
        client.script("fail", {})
    with pytest.raises(ServerError):
        client.script("no_such_procedure", {})
    assert client.script("store", key="k2", value="v2", no_reply=True) is None
    assert client.get("k2") == "v2"
