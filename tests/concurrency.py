"""Concurrency checks shared by the KyotoTycoon and TokyoTyrant suites: the
two clients share one connection pool, so they must pass the same checks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from typing import Any, Callable, List, Tuple

import pytest


def run_threads(worker: Callable[[int], None], threads: int) -> None:
    """Run ``worker(n)`` for n in range(threads), each in its own thread,
    and fail with the first exception any of them raised."""
    errors: List[BaseException] = []

    def guarded(n: int) -> None:
        try:
            worker(n)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=guarded, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []


def threads_share_one_client(client: Any, threads: int = 16, ops: int = 100) -> None:
    """Every thread writes and reads its own keys through the same client;
    any cross-talk between requests shows up as a wrong value."""
    def worker(n: int) -> None:
        for i in range(ops):
            key = "t%d-%d" % (n, i)
            value = "value of %s" % key
            client.set(key, value)
            assert client.get(key) == value
            assert client.get_bulk([key, "t%d-x" % n]) == {key: value}
            assert client.exists(key)

    run_threads(worker, threads)
    assert client.count() == threads * ops


def greenlets_share_one_client(client_class: str, port: int, greenlets: int = 200) -> None:
    """The same under gevent's monkey-patching, in a subprocess."""
    code = textwrap.dedent("""
        from gevent import monkey; monkey.patch_all()
        import gevent
        from kt import %s
        client = %s(port=%d, timeout=20)
        def work(n):
            for i in range(20):
                key = 'g%%d-%%d' %% (n, i)
                client.set(key, key * 3)
                assert client.get(key) == key * 3, key
                assert client.get_bulk([key]) == {key: key * 3}
            return n
        jobs = [gevent.spawn(work, n) for n in range(%d)]
        gevent.joinall(jobs, raise_error=True)
        assert sorted(j.value for j in jobs) == list(range(%d))
        print('ok')
    """) % (client_class, client_class, port, greenlets, greenlets)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def fork_child_uses_its_own_connections(client: Any, ops: int = 50) -> None:
    """Parent and forked child use the same client object at the same time;
    the child must open its own connections."""
    client.set("before", "fork")
    assert client.pool.idle_count >= 1
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            for i in range(ops):
                client.set("child%d" % i, "c")
                if client.get("child%d" % i) != "c":
                    code = 3
        except BaseException:
            code = 4
        os._exit(code)
    for i in range(ops):
        client.set("parent%d" % i, "p")
        assert client.get("parent%d" % i) == "p"
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert client.get("child%d" % (ops - 1)) == "c"
    assert client.get("before") == "fork"


def concurrency_tests(client_class: str, client_fixture: str,
                      server_fixture: str) -> Tuple[Callable[..., None], ...]:
    """The three concurrency tests of a client suite (threads, gevent
    greenlets in a subprocess, fork), over the suite's client fixture and
    server fixture, named so that pytest collects them when the suite
    assigns them to test_* names."""

    # usefixtures puts the (parametrised) fixtures in each test's closure, so
    # that pytest parametrises the tests and getfixturevalue finds them.
    @pytest.mark.usefixtures(client_fixture)
    def threads(request: pytest.FixtureRequest) -> None:
        threads_share_one_client(request.getfixturevalue(client_fixture))

    @pytest.mark.usefixtures(server_fixture)
    def greenlets(request: pytest.FixtureRequest) -> None:
        pytest.importorskip("gevent")
        greenlets_share_one_client(client_class, request.getfixturevalue(server_fixture).port)

    @pytest.mark.usefixtures(client_fixture)
    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
    def fork(request: pytest.FixtureRequest) -> None:
        from mirror import is_async

        client = request.getfixturevalue(client_fixture)
        if is_async(client):
            pytest.skip("an event loop does not survive fork; the asyncio pool is per loop")
        fork_child_uses_its_own_connections(client)

    return threads, greenlets, fork
