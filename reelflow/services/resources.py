"""Process-wide clients, built lazily from settings on first use (never at import)."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.engine import Engine

from reelflow.adapters.db.engine import make_engine
from reelflow.adapters.http.transport import make_client
from reelflow.adapters.s3 import make_s3_client
from reelflow.settings import Settings, get_settings

__all__ = ["dispose", "engine", "http_client", "s3_client"]

_engines: dict[str, Engine] = {}
_http: dict[Any, Any] = {}
_lock = threading.Lock()


def engine(settings: Settings | None = None) -> Engine:
    url = (settings or get_settings()).database_url.get_secret_value()
    with _lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def s3_client(settings: Settings | None = None) -> Any:
    return make_s3_client(settings or get_settings())


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
