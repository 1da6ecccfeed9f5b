"""Process-wide clients, built lazily from settings on first use (never at import)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import make_engine, ping
from reelflow.adapters.http.transport import make_client
from reelflow.adapters.storage import ObjectStore, make_store
from reelflow.settings import Settings, get_settings

if TYPE_CHECKING:
    from reelflow.adapters.cdn import CdnPurger

__all__ = ["dispose", "engine", "http_client", "ping_database", "purger", "store"]

_engines: dict[str, Engine] = {}
_http: dict[Any, Any] = {}
_lock = threading.Lock()


def engine(settings: Settings | None = None) -> Engine:
    url = (settings or get_settings()).database_url.get_secret_value()
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def ping_database(settings: Settings | None = None) -> None:
    """One `SELECT 1`: returns when the database answers (DatabaseUnavailable when not)."""
    ping(engine(settings))


def purger(settings: Settings | None = None) -> CdnPurger | None:
    """The CDN purger, or None without a CDN: whether there is one, and which, is decided by
    reelflow.adapters.cdn.make_purger alone."""
    from reelflow.adapters.cdn import make_purger  # botocore: only once a CDN is asked about

    return make_purger(settings or get_settings())


def store(settings: Settings | None = None) -> ObjectStore:
    """The object store the settings name (REELFLOW_STORAGE): S3, or a folder on disk."""
    return make_store(settings or get_settings())


def dispose() -> None:
    """Close pooled DB connections (tests and CLI exit)."""
    with _lock:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
        for client in _http.values():
            client.close()
        _http.clear()


def http_client(policy: Any) -> Any:
    """One guarded httpx client per fetch policy, shared by threads (keep-alive to origins)."""
    with _lock:
        if policy not in _http:
            _http[policy] = make_client(policy)
        return _http[policy]
