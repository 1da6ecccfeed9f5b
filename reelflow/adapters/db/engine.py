"""The database engine: SQLite (the zero-config default) or PostgreSQL, and the translation of
connection failures into DatabaseUnavailable (retryable)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from reelflow.core.errors import DatabaseRejected, DatabaseUnavailable

__all__ = ["db_errors", "insert_for", "make_engine", "ping"]

F = TypeVar("F", bound=Callable[..., Any])


def db_errors(fn: F) -> F:
    """Re-raise lost or refused database connections as DatabaseUnavailable (retryable)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        # `from None`: SQLAlchemy's own message lists the statement's parameters (temporary URLs
        # with their tokens), so it must not ride along as the cause in a traceback.
        except (OperationalError, InterfaceError) as exc:
            raise DatabaseUnavailable(
                f"cannot use the database ({fn.__name__}): {_cause(exc, args)}"
            ) from None
        except DBAPIError as exc:
            raise DatabaseRejected(
                f"the database refused {fn.__name__}: {_cause(exc, args)}"
            ) from None

    return wrapper  # type: ignore[return-value]


def _cause(exc: DBAPIError, args: tuple[Any, ...]) -> str:
    """The driver's own first line ("connection refused", "password authentication failed"):
    never the SQL or its parameters, and never the password, even where a malformed URL made
    the driver echo part of it as a host name."""
    lines = str(exc.orig).strip().splitlines()
    text = f"{type(exc.orig).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    engine = next((a for a in args if isinstance(a, Engine)), None)
    secret = engine.url.password if engine is not None else None
    if secret:
        text = text.replace(str(secret), "***")
    return text


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


@db_errors
def ping(engine: Engine) -> None:
    """One `SELECT 1`: what the outage gate asks while the database is down."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")


def insert_for(conn: Connection, table: Any) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"database dialect {conn.dialect.name!r} is not supported")
