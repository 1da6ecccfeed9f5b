"""Real services for the tests: PostgreSQL and Redis as the machine has them, else started from
installed binaries. A missing service fails the run with a message saying what is missing; it
never skips."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql


def _pg_dsn_candidates() -> list[str]:
    if url := os.environ.get("REELFLOW_TEST_PG_DSN"):
        return [url]
    host = os.environ.get("PGHOST", "127.0.0.1")
    port = os.environ.get("PGPORT", "5432")
    user = os.environ.get("PGUSER", "postgres")
    password = os.environ.get("PGPASSWORD", "")
    auth = f"{user}:{password}@" if password else f"{user}@"
    return [f"postgresql://{auth}{host}:{port}/postgres"]


def _try_connect(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except psycopg.OperationalError:
        return False


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    matches = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return matches[-1] if matches else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin DSN (database 'postgres') for a running PostgreSQL."""
    for dsn in _pg_dsn_candidates():
        if _try_connect(dsn):
            yield dsn
            return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError(
            "PostgreSQL is needed: none answered at "
            f"{_pg_dsn_candidates()} and initdb/pg_ctl are not installed "
            "(install Debian's postgresql package or set REELFLOW_TEST_PG_DSN)"
        )
    from reelflow.sandbox.s3server import free_port

    datadir = tempfile.mkdtemp(prefix="reelflow-pg-")
    port = free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(datadir, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, initdb, "-D", datadir, "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            datadir,
            "-o",
            f"-p {port} -k {datadir} -h 127.0.0.1",
            "-l",
            f"{datadir}/log",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        yield dsn
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", datadir, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(datadir, ignore_errors=True)


@contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    """Create a uniquely named database; yield its SQLAlchemy URL; drop it afterwards."""
    name = f"reelflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_dsn.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        for _ in range(3):
            try:
                with psycopg.connect(admin_dsn, autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )
                break
            except psycopg.OperationalError:
                time.sleep(1)
