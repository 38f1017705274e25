"""Shared pytest configuration.

Hypothesis profiles: ``default`` keeps the suite quick; set
``HYPOTHESIS_PROFILE=thorough`` for many more examples.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# --- servers and clients ---------------------------------------------------

from typing import Iterator  # noqa: E402

import pytest  # noqa: E402

from servers import RunningServer, server_kinds  # noqa: E402


@pytest.fixture(scope="module", params=server_kinds("kyoto"))
def kt_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A Kyoto Tycoon server with two databases: 0 = "*" (hash), 1 = "%" (tree)."""
    with RunningServer("kyoto", request.param, databases=["*", "%"]) as server:
        yield server


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A Tokyo Tyrant server with a B+ tree file database (duplicates allowed)."""
    with RunningServer("tyrant", request.param, databases=["casket.tcb"]) as server:
        yield server


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_hash_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A Tokyo Tyrant server with an on-memory hash database."""
    with RunningServer("tyrant", request.param, databases=["*"]) as server:
        yield server


@pytest.fixture(scope="module", params=server_kinds("tyrant"))
def tt_table_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """A Tokyo Tyrant server with a table database."""
    with RunningServer("tyrant", request.param, databases=["casket.tct"]) as server:
        yield server
