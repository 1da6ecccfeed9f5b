"""The database engine: SQLite (the zero-config default) or PostgreSQL, and the translation of
connection failures into DatabaseUnavailable (retryable)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from reelflow.core.errors import DatabaseUnavailable

__all__ = ["db_errors", "insert_for", "make_engine"]

F = TypeVar("F", bound=Callable[..., Any])


def db_errors(fn: F) -> F:
    """Re-raise lost or refused database connections as DatabaseUnavailable (retryable)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            # exc.orig is the driver's own message (no SQL, no parameters, no password)
            cause = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
            raise DatabaseUnavailable(
                f"cannot use the database ({fn.__name__}): {type(exc.orig).__name__}: {cause}"
            ) from exc

    return wrapper  # type: ignore[return-value]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for url; SQLite gets foreign keys, WAL and a busy timeout for threads."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def insert_for(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {conn.dialect.name!r} is not supported")
