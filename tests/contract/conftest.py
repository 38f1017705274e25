"""Fixtures shared by the contract modules (raw wire, both servers).

* ``servers``: one cache of running servers per test module.  A module asks
  it for ``(kind, impl, databases)`` and gets the server started for that
  triple the first time, the same one afterwards; all are stopped when the
  module ends.
* ``kt_contract_server`` / ``kt_wire``: a Kyoto Tycoon server per
  implementation, serving the databases the module lists in ``DATABASES``,
  and a KTWire to it with every database cleared.

The wire clients (kt_wire.py, tt_wire.py, wire.py) live beside these tests,
the only ones that use them; servers.py (one directory up) is importable
because pytest puts tests/ on sys.path for tests/conftest.py.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from kt_wire import KTWire
from servers import RunningServer, ServerCache, server_kinds


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerCache]:
    cache = ServerCache()
    yield cache
    cache.stop_all()


@pytest.fixture(params=server_kinds("kyoto"))
def kt_contract_server(request: pytest.FixtureRequest, servers: ServerCache) -> RunningServer:
    """The module's Kyoto Tycoon server (its ``DATABASES``), per implementation."""
    return servers.get("kyoto", request.param, request.module.DATABASES)


@pytest.fixture
def kt_wire(kt_contract_server: RunningServer) -> Iterator[KTWire]:
    """A KTWire to ``kt_contract_server`` with every database cleared."""
    server = kt_contract_server
    with KTWire(server.host, server.port) as w:
        for db in range(len(server.databases)):
            assert w.rpc("clear", DB=str(db)).status == 200
        yield w
