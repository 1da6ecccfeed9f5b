"""Is this process able to work: what `/readyz` reports, per dependency.

    database  ok | down       a `SELECT 1` on the engine
    s3        ok | down       the object store answers for the bucket (ObjectStore.probe),
                              whichever store REELFLOW_STORAGE names (S3, or a folder)
    redis     ok | degraded   the URL cache's Redis answers a PING; `off` without Redis.
              | off           Degraded, not down: URLs are still signed, only not shared
                              between processes.

Ready means the database and the store answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from reelflow.adapters.redis_cache import make_client
from reelflow.services import resources
from reelflow.settings import get_settings

__all__ = ["Readiness", "readiness"]


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return self.checks["database"] == "ok" and self.checks["s3"] == "ok"


def _database() -> str:
    try:
        with resources.engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return "down"
    return "ok"


def _store(bucket: str) -> str:
    try:
        resources.store().probe(bucket)
    except Exception:  # StorageUnavailable, or a store that cannot even be built
        return "down"
    return "ok"


def _redis() -> str:
    settings = get_settings()
    if not settings.use_redis:
        return "off"
    try:
        client = make_client(settings)
        try:
            client.ping()
        finally:
            client.close()
    except Exception:
        return "degraded"
    return "ok"


def readiness() -> Readiness:
    """ok / down per dependency; Redis `degraded` (or `off`) rather than down."""
    checks = {
        "database": _database(),
        "s3": _store(get_settings().s3_bucket_name),
        "redis": _redis(),
    }
    return Readiness(checks)
