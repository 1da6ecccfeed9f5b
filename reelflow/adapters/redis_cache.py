"""The Redis tier of the presigned-URL cache: one pooled sync client behind a circuit breaker.

Every call is a single round trip (MGET, or a pipeline without MULTI) with a short socket
timeout and no client-side retry. Any Redis failure (down, slow, refused auth) opens the
breaker and the call answers "unavailable" instead of raising: the caller signs instead.
Nothing here connects until the first call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from reelflow.core.breaker import Breaker, State
from reelflow.settings import Settings

__all__ = ["RedisTier", "make_client"]

log = logging.getLogger(__name__)


def make_client(settings: Settings, *, timeout: float | None = None) -> redis.Redis[bytes]:
    """A client on its own pool: short connect/read timeouts (REELFLOW_REDIS_TIMEOUT, or
    `timeout` for calls that block on purpose), no retries, no connection yet."""
    pool = redis.ConnectionPool(
        host=settings.redis_host,
        port=settings.redis_port,
        db=settings.redis_db,
        password=settings.redis_password.get_secret_value() if settings.redis_password else None,
        socket_timeout=timeout or settings.redis_timeout,
        socket_connect_timeout=timeout or settings.redis_timeout,
        socket_keepalive=True,
        retry=Retry(NoBackoff(), 0),
        max_connections=64,
    )
    return redis.Redis(connection_pool=pool)


def _log_change(where: str) -> Callable[[State, State, str], None]:
    def on_change(old: State, new: State, reason: str) -> None:
        if new == "open" and old == "closed":
            log.warning("Redis at %s unavailable (%s): signing without the cache", where, reason)
        elif new == "closed":
            log.info("Redis at %s is back (%s): cache in use again", where, reason)
        else:
            log.debug("Redis at %s breaker %s -> %s: %s", where, old, new, reason)

    return on_change


class RedisTier:
    """Batch get/set/delete of cache entries under `prefix`; None/False when Redis is unusable."""

    def __init__(
        self,
        client: redis.Redis[bytes],
        prefix: str,
        *,
        cooldown: float,
        clock: Callable[[], float],
        where: str = "",
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.breaker = Breaker(cooldown, clock=clock, on_change=_log_change(where or "?"))

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float]) -> RedisTier:
        return cls(
            make_client(settings),
            f"{settings.redis_key_prefix}presign:v1:",
            cooldown=settings.redis_breaker_cooldown,
            clock=clock,
            where=f"{settings.redis_host}:{settings.redis_port}/{settings.redis_db}",
        )

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        if not self.breaker.allow():
            return None
        try:
            result = fn()
        except (redis.RedisError, OSError) as exc:
            # redis-py's messages name host and port, never the password.
            self.breaker.failure(f"{what}: {type(exc).__name__}: {exc}")
            return None
        self.breaker.success()
        return result

    def get_many(self, idents: Sequence[str]) -> list[bytes | None] | None:
        """One MGET for the page; None when Redis is unavailable."""
        if not idents:
            return []
        prefix = self.prefix
        names = [prefix + ident for ident in idents]
        found: list[bytes | None] | None = self._call("MGET", lambda: self.client.mget(names))
        return found

    def set_many(self, items: Sequence[tuple[str, bytes]], ttl: int) -> bool:
        """SET name value EX ttl for every item, in one pipelined round trip."""
        if not items or ttl <= 0:
            return True

        def write() -> bool:
            pipe = self.client.pipeline(transaction=False)
            prefix = self.prefix
            for ident, value in items:
                pipe.set(prefix + ident, value, ex=ttl)
            pipe.execute()
            return True

        return bool(self._call("SET", write))

    def delete_many(self, idents: Sequence[str]) -> bool:
        """DEL the idents (pipelined); False when Redis was unavailable (best effort)."""
        if not idents:
            return True

        def delete() -> bool:
            pipe = self.client.pipeline(transaction=False)
            for ident in idents:
                pipe.delete(self.prefix + ident)
            pipe.execute()
            return True

        return bool(self._call("DEL", delete))

    def close(self) -> None:
        self.client.connection_pool.disconnect()
