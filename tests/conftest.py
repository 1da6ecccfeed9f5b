"""Shared fixtures: real PostgreSQL, moto's S3 server over HTTP, a Prefect test server.

A service that cannot be reached fails the session with a message naming what is missing.
Process state (settings, engines, clients, URL caches) is reset between tests by the one switch
`reelflow.services.reset()`; helpers shared by tests live in the tests.support package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import (
    RedisProcess,
    migrated_database,
    postgres_server,
    redis_env_values,
    redis_process,
    redis_server,
)

# Keep Prefect quiet and local in every test process.
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[str]:
    with postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def pg_url(pg_admin: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head."""
    with migrated_database(pg_admin) as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    from reelflow.devtools.s3server import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture()
def env(
    monkeypatch: pytest.MonkeyPatch, pg_url: str, s3_server: object, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """Settings for one test: PostgreSQL, a bucket of its own, loopback origins allowed,
    fast retries. Tables are emptied first so each test starts clean."""
    from sqlalchemy import text

    from reelflow.services import reset, resources

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    values = {
        "DATABASE_URL": pg_url,
        "S3_ENDPOINT": s3_server.endpoint,  # type: ignore[attr-defined]
        "S3_ACCESS_KEY_ID": "test-access",
        "S3_SECRET_ACCESS_KEY": "test-secret-do-not-log",
        "S3_BUCKET_NAME": bucket,
        "REELFLOW_FETCH_ALLOW": "127.0.0.1",
        "REELFLOW_RETRY_BASE_DELAY": "0.05",
        "REELFLOW_RETRIES": "3",
        "REELFLOW_SPOOL_DIR": str(tmp_path),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset()
    with resources.engine().begin() as conn:
        conn.execute(
            text(
                "TRUNCATE movies, episodes, assets, renditions, purge_queue, manifests, leases "
                "RESTART IDENTITY CASCADE"
            )
        )
    resources.store().ensure_bucket(bucket)
    yield values
    reset()


# --- Redis -----------------------------------------------------------------------------------


def delete_prefix(url: str, prefix: str) -> int:
    """Delete this test's keys only (SCAN MATCH prefix*); shared servers are never flushed."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)
        return len(names)
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis for the session: REELFLOW_TEST_REDIS_URL, localhost:6379, or a throwaway one."""
    with redis_server() as url:
        yield url


@pytest.fixture()
def redis_env(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Iterator[dict[str, str]]:
    """USE_REDIS on, pointed at the session's Redis under a key prefix of this test's own."""
    from reelflow.services import reset

    prefix = f"reelflow-test:{uuid.uuid4().hex[:12]}:"
    values = redis_env_values(redis_url, prefix)
    for key in ("REDIS_PASSWORD", "CDN_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    reset()
    yield {**values, "url": redis_url}
    reset()
    delete_prefix(redis_url, prefix)


@pytest.fixture()
def redis_proc() -> Iterator[RedisProcess]:
    """A throwaway redis-server of this test's own (to count commands, kill, restart)."""
    with redis_process() as server:
        yield server


@pytest.fixture(params=["thread", "dask"])
def task_runner(
    request: pytest.FixtureRequest, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The same test on both task runners: threads in the flow run's process, and a Dask
    LocalCluster of 2 worker processes (REELFLOW_TASK_RUNNER=dask): one set of assertions."""
    from reelflow.services import reset

    monkeypatch.setenv("REELFLOW_TASK_RUNNER", request.param)
    monkeypatch.setenv("REELFLOW_DASK_WORKERS", "2")
    reset()
    return str(request.param)
