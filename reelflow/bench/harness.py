"""The local S3 a benchmark runs against: a moto server started here, the settings pointing at
it, and a migrated database (DATABASE_URL's, or a throwaway SQLite file of the bench's own).

    with local_s3(workdir, bucket) as moto:
        moto.endpoint, moto.settings, moto.engine, moto.own_db

Heavy imports (moto, SQLAlchemy, the settings) happen on entry, so `reelflow --help` does not
pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from reelflow.settings import Settings

__all__ = ["LocalS3", "local_s3", "seeding_client"]


@dataclass(frozen=True)
class LocalS3:
    endpoint: str  # the moto server's URL
    settings: Settings  # S3_* point at the server and the bench's bucket
    engine: Engine  # migrated
    own_db: bool  # a throwaway SQLite file in the workdir (False: DATABASE_URL's database)


def seeding_client(settings: Settings, threads: int) -> Any:
    """A raw S3 client for seeding thousands of objects from `threads` threads: a pool that
    big and botocore's own retries (reelflow's calls use the store, with one attempt)."""
    from reelflow.adapters.storage.s3_client import make_s3_client

    return make_s3_client(settings, pool=threads * 2, attempts=5)


@contextmanager
def local_s3(workdir: Path, bucket: str) -> Iterator[LocalS3]:
    """A moto server (its log in `workdir`) for the block, with S3_ENDPOINT, the credentials and
    S3_BUCKET_NAME=`bucket` set in the environment, the settings and the database pool reset
    to match, and the database migrated: DATABASE_URL's when set, else a new SQLite file in
    `workdir`. The bucket is not created here."""
    from reelflow.adapters.db import migrate
    from reelflow.devtools.s3server import MotoServer
    from reelflow.services import resources
    from reelflow.settings import get_settings, reset_settings

    own_db = "DATABASE_URL" not in os.environ
    with MotoServer(log=workdir / "moto.log") as moto:
        os.environ.update(
            {
                "S3_ENDPOINT": moto.endpoint,
                "S3_ACCESS_KEY_ID": "bench",
                "S3_SECRET_ACCESS_KEY": "bench-secret",
                "S3_BUCKET_NAME": bucket,
            }
        )
        if own_db:
            os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.db'}"
        reset_settings()
        resources.dispose()
        settings = get_settings()
        engine = resources.engine()
        migrate.upgrade(engine)
        yield LocalS3(moto.endpoint, settings, engine, own_db)
