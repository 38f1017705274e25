"""The seed's Tokyo Tyrant script examples: ``script`` and the ``lua`` helper
against a server started with an extension (Python for the built-in server,
the equivalent Lua for a real ttserver)."""

from __future__ import annotations

from typing import Iterator

import pytest

from kt import KT_JSON, TokyoTyrant, TokyoTyrantError
from servers import RunningServer, scripted_server, server_kinds

PYTHON_EXT = '''
def incr(key, value):
    current = db.get(key)
    total = int(value) + (int(current) if current is not None else 0)
    db.put(key, str(total).encode())
    return str(total)

def echo(key, value):
    return key + b":" + value

def fail(key, value):
    return None
'''

LUA_EXT = '''
function incr(key, value)
  local total = tonumber(value) + (tonumber(_get(key)) or 0)
  _put(key, total)
  return total
end
function echo(key, value)
  return key .. ":" .. value
end
function fail(key, value)
  return nil
end
'''


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def scripted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningServer]:
    workdir = str(tmp_path_factory.mktemp("ext"))
    with scripted_server("tyrant", request.param, PYTHON_EXT, LUA_EXT,
                         workdir=workdir) as server:
        yield server


def test_seed_script_examples(scripted: RunningServer) -> None:
    client = TokyoTyrant(port=scripted.port)
    client.remove("counter")
    assert client.script("incr", key="counter", value="1") == b"1"
    assert client.script("incr", "counter", "4") == b"5"
    lua = client.lua
    assert lua.incr(key="counter", value="2") == b"7"
    assert lua.incr("counter", "1") == b"8"
    assert client.get("counter") == "8"


def test_script_options(scripted: RunningServer) -> None:
    client = TokyoTyrant(port=scripted.port)
    assert client.script("echo", "k", "v", lock_records=True) == b"k:v"
    assert client.script("echo", "k", "v", lock_all=True) == b"k:v"
    assert client.script("echo", "k", "v", decode_result=True) == "k:v"
    assert client.script("echo", b"\xff", b"\x00", encode_value=False) == b"\xff:\x00"
    with pytest.raises(TokyoTyrantError) as info:
        client.script("fail", "k", "v")
    assert info.value.code == 9999
    with pytest.raises(TokyoTyrantError):
        client.script("no_such_function", "k", "v")
    json_client = TokyoTyrant(port=scripted.port, serializer=KT_JSON)
    assert json_client.script("echo", "k", [1], decode_result=False) == b"k:[1]"
