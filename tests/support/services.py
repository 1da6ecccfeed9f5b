"""Real services for the tests: PostgreSQL and Redis as the machine has them, else started from
installed binaries. A missing service fails the run with a message saying what is missing; it
never skips."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

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
    server = PostgresProcess()
    try:
        yield server.start().admin_dsn
    finally:
        server.destroy()


class PostgresProcess:
    """A PostgreSQL of the tests' own, from the installed binaries (initdb, pg_ctl), on a free
    port: one a test may stop and start again on the same port, as an outage would."""

    def __init__(self) -> None:
        from reelflow.devtools.s3server import free_port

        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError(
                "PostgreSQL is needed: none answered at "
                f"{_pg_dsn_candidates()} and initdb/pg_ctl are not installed "
                "(install Debian's postgresql package or set REELFLOW_TEST_PG_DSN)"
            )
        self.pg_ctl = pg_ctl
        self.datadir = tempfile.mkdtemp(prefix="reelflow-pg-")
        self.port = free_port()
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.datadir, "postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self.run_as, initdb, "-D", self.datadir, "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresProcess:
        subprocess.run(
            [
                *self.run_as,
                self.pg_ctl,
                "-D",
                self.datadir,
                "-o",
                f"-p {self.port} -k {self.datadir} -h 127.0.0.1",
                "-l",
                f"{self.datadir}/log",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop it (fast: connections are cut, as when a database goes down)."""
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", self.datadir, "-m", mode, "-w", "stop"],
            capture_output=True,
        )

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.datadir, ignore_errors=True)


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


# --- Redis ----------------------------------------------------------------------------------

REDIS_SERVER_BIN = "/usr/bin/redis-server"


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


class RedisProcess:
    """A throwaway redis-server on 127.0.0.1 (no persistence), which a test may kill and
    start again on the same port."""

    def __init__(self, port: int | None = None, password: str | None = None) -> None:
        from reelflow.devtools.s3server import free_port

        self.binary = shutil.which("redis-server") or REDIS_SERVER_BIN
        if not os.path.exists(self.binary):
            raise RuntimeError(
                "Redis is needed: none answered and redis-server is not installed "
                "(apt-get install redis-server, or set REELFLOW_TEST_REDIS_URL)"
            )
        self.port = port or free_port()
        self.password = password
        self._dir = tempfile.mkdtemp(prefix="reelflow-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> RedisProcess:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self._dir,
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {self._proc.returncode}")
            if _redis_answers(self.url):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def pause(self) -> None:
        """Freeze it (SIGSTOP): connections stay open but nothing answers, like a stuck server."""
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL), as a crash would."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)

    def close(self) -> None:
        self.resume()
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextmanager
def redis_process(password: str | None = None) -> Iterator[RedisProcess]:
    """A throwaway redis-server started from its binary, stopped and removed afterwards."""
    server = RedisProcess(password=password)
    try:
        yield server.start()
    finally:
        server.close()


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield a redis:// URL: REELFLOW_TEST_REDIS_URL, else localhost:6379, else a throwaway
    redis-server on a free port. Shared servers are never flushed: tests use their own prefix."""
    if url := os.environ.get("REELFLOW_TEST_REDIS_URL"):
        if not _redis_answers(url):
            raise RuntimeError("REELFLOW_TEST_REDIS_URL is set but no Redis answers there")
        yield url
        return
    if _redis_answers("redis://127.0.0.1:6379/0"):
        yield "redis://127.0.0.1:6379/0"
        return
    with redis_process() as server:
        yield server.url


def redis_env_values(url: str, prefix: str) -> dict[str, str]:
    """The seed's REDIS_* variables for a redis:// URL, with reelflow's key prefix."""
    parts = urlsplit(url)
    values = {
        "USE_REDIS": "true",
        "REDIS_HOST": parts.hostname or "127.0.0.1",
        "REDIS_PORT": str(parts.port or 6379),
        "REDIS_DB": (parts.path.strip("/") or "0"),
        "REELFLOW_REDIS_KEY_PREFIX": prefix,
    }
    if parts.password:
        values["REDIS_PASSWORD"] = parts.password
    return values


@contextmanager
def migrated_database(admin_dsn: str) -> Iterator[str]:
    """A fresh database (see fresh_database) with reelflow's schema at head."""
    from reelflow.adapters.db import migrate
    from reelflow.adapters.db.engine import make_engine

    with fresh_database(admin_dsn) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
