"""The database schema against this code: the check every command and import makes before it
touches the database, and the upgrade (`reelflow db upgrade`)."""

from __future__ import annotations

from reelflow.adapters.db import migrate
from reelflow.core.errors import SchemaOutdated
from reelflow.services import resources

__all__ = ["require_current", "upgrade"]


def require_current() -> None:
    """SchemaOutdated unless the database is migrated to this code's revision."""
    if migrate.current_revision(resources.engine()) != migrate.head_revision():
        raise SchemaOutdated(
            "the database schema is not up to date: run `reelflow db upgrade` first"
        )


def upgrade() -> str:
    """Create or migrate the tables (idempotent); the revision the database is now at."""
    migrate.upgrade(resources.engine())
    return migrate.head_revision()
