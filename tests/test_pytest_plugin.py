"""The pytest plugin (kt.pytest_plugin), run by pytester in a fresh
project directory: the fixtures, their scopes, clearing between tests, and
the settings that pick servers and databases."""

from __future__ import annotations

import pytest

from servers import real_server_path

pytest_plugins = ["pytester"]

USER_TESTS = '''
import asyncio

PORTS = set()


def test_kt_client(kt_server, kt_client):
    PORTS.add(kt_server.port)
    assert kt_client.count() == 0 and kt_client.count(db=1) == 0
    kt_client.set("k", "v")
    kt_client.set("t", "v", db=1)
    assert kt_client.get("k") == "v"


def test_kt_client_cleared(kt_server, kt_client):
    PORTS.add(kt_server.port)
    assert kt_client.get("k") is None and kt_client.count(db=1) == 0
    assert len(PORTS) == 1  # one server for the session


def test_tt_clients(tt_client, tt_table_client):
    assert tt_client.count() == 0
    tt_client["a"] = "1"
    tt_table_client.set("row", {"name": "x"})
    assert tt_table_client.get("row") == {"name": "x"}


def test_tt_cleared(tt_client, tt_table_client):
    assert tt_client.count() == 0 and tt_table_client.count() == 0


def test_async_clients(kt_async_client, tt_async_client):
    async def main():
        assert await kt_async_client.count() == 0
        await kt_async_client.set("k", "v")
        await tt_async_client.set("k", "w")
        return [k async for k in kt_async_client.keys()], await tt_async_client.get("k")

    assert asyncio.run(main()) == (["k"], "w")


def test_async_cleared(kt_async_client, tt_async_client):
    async def main():
        return await kt_async_client.count(), await tt_async_client.count()

    assert asyncio.run(main()) == (0, 0)
'''


def test_fixtures_with_builtin_servers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=6)


def test_settings_from_ini_and_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        kt_databases = % casket.kct
        tt_database = data.tch
    """)
    pytester.makepyfile(test_settings='''
        import os

        def test_databases(kt_server, tt_server, kt_client, tt_client):
            assert kt_server.builtin and tt_server.builtin
            assert kt_server.databases[0] == "%"
            assert os.path.isabs(kt_server.databases[1])
            assert kt_server.databases[1].endswith("casket.kct")
            assert tt_server.databases[0].endswith("data.tch")
            kt_client.set_bulk({"b": "2", "a": "1"})
            assert list(kt_client.keys()) == ["a", "b"]  # a tree database
            assert kt_client.status(db=1)["path"].endswith("casket.kct")
            tt_client.set("k", "v")
            assert os.path.exists(tt_server.databases[0])
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--tt-database=cli.tch",
                                           "-k", "databases")
    result.assert_outcomes(failed=1)  # the command line wins over the ini file
    result.stdout.fnmatch_lines(["*cli.tch*"])
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_real_servers_when_configured(pytester: pytest.Pytester) -> None:
    kt_path, tt_path = real_server_path("kyoto"), real_server_path("tyrant")
    if kt_path is None or tt_path is None:
        pytest.skip("ktserver / ttserver are not installed")
    pytester.makepyfile(test_real='''
        def test_real(kt_server, tt_server, kt_client, tt_client):
            assert not kt_server.builtin and not tt_server.builtin
            kt_client.set("k", "v")
            tt_client.set("k", "v")
            assert kt_client.get("k") == tt_client.get("k") == "v"
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--kt-server=" + kt_path,
                                           "--tt-server=" + tt_path)
    result.assert_outcomes(passed=1)


def test_missing_executable_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_missing='''
        def test_uses_server(kt_client):
            pass
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "--kt-server=/nonexistent/ktserver")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*not found*"])


def test_help_lists_the_settings(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--kt-server*", "*--tt-table-database*", "*kt_databases*"])
