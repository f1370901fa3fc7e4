"""Shared fixtures: fixed seeds, and a store on every back end.

PostgreSQL: ``INTERPHASE_TEST_PG_URL`` names a server to use; otherwise a throwaway
cluster is started from the newest local PostgreSQL. Without PostgreSQL binaries the
PostgreSQL variants are skipped, except when ``INTERPHASE_REQUIRE_PG=1`` or ``CI=true``,
where they fail: CI must never pass by skipping the storage tests it exists for.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # ``support`` must import under any --import-mode
    sys.path.insert(0, str(TESTS_DIR))

from support.pg_cluster import (  # noqa: E402
    PostgresCluster,
    PostgresUnavailableError,
    start_cluster,
    temporary_database,
)

if TYPE_CHECKING:
    from interphase.store import Store

TEST_SEED = 20261125
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgres))


def postgres_required() -> bool:
    """Whether a missing PostgreSQL must fail the run rather than skip its tests."""
    ci = os.environ.get("CI", "").lower() == "true"
    return os.environ.get("INTERPHASE_REQUIRE_PG") == "1" or ci


@pytest.fixture(autouse=True)
def fixed_seeds() -> int:
    """Seed ``random`` and NumPy's global generator (and torch's, if loaded) for every test."""
    random.seed(TEST_SEED)
    np.random.seed(TEST_SEED)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(TEST_SEED)
    return TEST_SEED


@pytest.fixture
def rng(fixed_seeds: int) -> np.random.Generator:
    """A NumPy generator seeded with the test seed."""
    return np.random.default_rng(fixed_seeds)


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server the tests may create databases on."""
    # Imported here so that merely collecting tests loads no database code.
    from interphase.store.engine import resolve_url

    given = os.environ.get("INTERPHASE_TEST_PG_URL")
    if given:
        yield resolve_url(given)
        return
    cluster: PostgresCluster | None = None
    try:
        import psycopg  # noqa: F401 - the driver the store uses for PostgreSQL

        cluster = start_cluster(durable=False)
    except (ImportError, PostgresUnavailableError) as exc:
        reason = f"PostgreSQL unavailable: {exc}"
        if postgres_required():
            pytest.fail(f"{reason} (INTERPHASE_REQUIRE_PG=1 or CI=true forbids skipping)",
                        pytrace=False)
        pytest.skip(reason)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database of its own: a SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'interphase.db'}"
        return
    server_url = request.getfixturevalue("pg_server_url")
    with temporary_database(server_url) as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """An initialised store on a fresh database; closed after the test."""
    from interphase.store import Store

    opened = Store(database_url)
    try:
        opened.init()
        yield opened
    finally:
        opened.close()
