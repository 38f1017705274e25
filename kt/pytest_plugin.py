"""pytest plugin: throw-away Kyoto Tycoon / Tokyo Tyrant servers and clients
for the tests of projects that use kt.

Who calls it: pytest, through the ``pytest11`` entry point that installing
kt registers; nothing else imports it.

Fixtures:

* ``kt_server``, ``tt_server``, ``tt_table_server`` (session): embedded
  servers (kt.embedded), kt's built-in ones by default, the real
  ktserver / ttserver when configured;
* ``kt_client``, ``tt_client``, ``tt_table_client`` (function): clients
  whose databases are cleared before each test;
* ``kt_async_client``, ``tt_async_client`` (function): the asyncio clients,
  databases cleared likewise; usable from any asyncio test runner
  (pytest-asyncio, anyio, or ``asyncio.run`` inside a plain test).

Settings (command line, or the same name with underscores in the ini file):

* ``--kt-server`` / ``--tt-server``: ``builtin`` (default), ``auto`` (the
  real server when it is on PATH, else the built-in one), or the path or
  name of the executable;
* ``--kt-databases``: space-separated database specs of the Kyoto Tycoon
  server (default ``* %``: db 0 an on-memory hash, db 1 an on-memory tree);
* ``--tt-database`` (default ``*``), ``--tt-table-database`` (default
  ``tables.tct``): the Tokyo Tyrant databases.

Database files named by a relative path are created in a temporary
directory of the session.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterator, List, Optional

import pytest

from kt.embedded import EmbeddedServer, EmbeddedTokyoTyrantServer
from kt.kyoto import KyotoTycoon
from kt.serializers import TT_TABLE
from kt.tyrant import TokyoTyrant

if TYPE_CHECKING:
    from kt.aio import AsyncKyotoTycoon, AsyncTokyoTyrant

_SETTINGS = [
    ("kt_server", "builtin", "Kyoto Tycoon server for kt_server: builtin, auto or an executable"),
    ("tt_server", "builtin", "Tokyo Tyrant server for tt_server: builtin, auto or an executable"),
    ("kt_databases", "* %", "database specs of kt_server, space-separated"),
    ("tt_database", "*", "database spec of tt_server"),
    ("tt_table_database", "tables.tct", "table database spec of tt_table_server"),
]
_TIMEOUT = 30.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kt", "kt: Kyoto Tycoon / Tokyo Tyrant test servers")
    for name, default, help_text in _SETTINGS:
        group.addoption("--" + name.replace("_", "-"), dest=name, default=None,
                        help=("%s (default: %s)" % (help_text, default)).replace("%", "%%"))
        parser.addini(name, help_text, default=default)


def _setting(config: pytest.Config, name: str) -> str:
    value: Optional[str] = config.getoption(name)
    if value is None:
        value = str(config.getini(name))
    return value


def _executable(choice: str) -> Optional[str]:
    """EmbeddedServer's ``server`` argument for a setting."""
    return None if choice == "auto" else choice


def _database(spec: str, directory: str) -> str:
    # On-memory specs ("*", "%", ":", "+", "-") and absolute paths stay.
    if spec[:1] in ("*", "%", ":", "+", "-") or os.path.isabs(spec):
        return spec
    return os.path.join(directory, spec)


@pytest.fixture(scope="session")
def kt_server(pytestconfig: pytest.Config,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A Kyoto Tycoon server for the whole session (see the kt settings)."""
    directory = str(tmp_path_factory.mktemp("kt-server"))
    specs = [_database(s, directory) for s in _setting(pytestconfig, "kt_databases").split()]
    server = EmbeddedServer(server=_executable(_setting(pytestconfig, "kt_server")),
                            database=specs)
    with server:  # runs it
        yield server


def _tt_server(config: pytest.Config, factory: pytest.TempPathFactory,
               setting: str) -> EmbeddedTokyoTyrantServer:
    directory = str(factory.mktemp("tt-server"))
    spec = _database(_setting(config, setting), directory)
    server = EmbeddedTokyoTyrantServer(server=_executable(_setting(config, "tt_server")),
                                       database=spec)
    return server


@pytest.fixture(scope="session")
def tt_server(pytestconfig: pytest.Config,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedTokyoTyrantServer]:
    """A Tokyo Tyrant server for the whole session (see the kt settings)."""
    with _tt_server(pytestconfig, tmp_path_factory, "tt_database") as server:
        yield server


@pytest.fixture(scope="session")
def tt_table_server(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[EmbeddedTokyoTyrantServer]:
    """A Tokyo Tyrant server with a table database, for the whole session."""
    with _tt_server(pytestconfig, tmp_path_factory, "tt_table_database") as server:
        yield server


def _kt_dbs(server: Any) -> List[int]:
    return list(range(max(1, len(getattr(server, "databases", ())))))


@pytest.fixture
def kt_client(kt_server: Any) -> Iterator[KyotoTycoon]:
    """A KyotoTycoon client of ``kt_server``; every database is cleared
    before the test."""
    client = KyotoTycoon(kt_server.host, kt_server.port, timeout=_TIMEOUT)
    for db in _kt_dbs(kt_server):
        client.clear(db=db)
    yield client
    client.close()


@pytest.fixture
def tt_client(tt_server: Any) -> Iterator[TokyoTyrant]:
    """A TokyoTyrant client of ``tt_server``, its database cleared before
    the test."""
    client = TokyoTyrant(tt_server.host, tt_server.port, timeout=_TIMEOUT)
    client.clear()
    yield client
    client.close()


@pytest.fixture
def tt_table_client(tt_table_server: Any) -> Iterator[TokyoTyrant]:
    """A TokyoTyrant client (TT_TABLE serializer) of ``tt_table_server``,
    its table database cleared before the test."""
    client = TokyoTyrant(tt_table_server.host, tt_table_server.port, serializer=TT_TABLE,
                         timeout=_TIMEOUT)
    client.clear()
    yield client
    client.close()


@pytest.fixture
def kt_async_client(kt_server: Any) -> Iterator["AsyncKyotoTycoon"]:
    """An AsyncKyotoTycoon of ``kt_server``; every database is cleared
    before the test.  Not bound to an event loop until first used."""
    from kt.aio import AsyncKyotoTycoon

    with KyotoTycoon(kt_server.host, kt_server.port, timeout=_TIMEOUT) as sync:
        for db in _kt_dbs(kt_server):
            sync.clear(db=db)
    client = AsyncKyotoTycoon(kt_server.host, kt_server.port, timeout=_TIMEOUT)
    yield client
    client.pool.close_all()


@pytest.fixture
def tt_async_client(tt_server: Any) -> Iterator["AsyncTokyoTyrant"]:
    """An AsyncTokyoTyrant of ``tt_server``, its database cleared before
    the test.  Not bound to an event loop until first used."""
    from kt.aio import AsyncTokyoTyrant

    with TokyoTyrant(tt_server.host, tt_server.port, timeout=_TIMEOUT) as sync:
        sync.clear()
    client = AsyncTokyoTyrant(tt_server.host, tt_server.port, timeout=_TIMEOUT)
    yield client
    client.pool.close_all()
