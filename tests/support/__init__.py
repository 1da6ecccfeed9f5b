"""What the tests share. Test modules import from here (`from tests.support.movies import ...`),
never from one another, and nothing in tests edits sys.path.

    services   real PostgreSQL and Redis for the session (found running, else started from the
               installed binaries): postgres_server, migrated_database, fresh_database,
               redis_server, redis_process, redis_env_values
    movies     serve_movie (a movie's media on a local Origin -> its manifest; the one for every
               suite), the media it serves (jpeg, webm, media), run_import (the import flow in
               this process), db_state and objects (what an import left in PostgreSQL and S3)
    s3_faults  misbehaving S3 in front of moto: FaultyS3 (DeleteObjects refuses chosen keys),
               FlakyS3 (the first object PUTs answer 503 SlowDown)
    cleanup    movies seeded straight into PostgreSQL + S3 (seed_movie), the bucket's listing,
               the purge queue: for the purge, orphan-sweep and backfill tests
    e2e        real processes for tests/e2e: Proc, the reelflow CLI, waiting on Prefect runs, the
               e2e stack's settings (E2E_MEDIA: how e2e movies are served)

Process state: one switch. `reelflow.services.reset()` forgets the settings and closes every
database engine, HTTP client, S3 client and presigned-URL resolver (with its memory cache and
Redis connection) the process holds; the next use builds them from the environment as it is
then. The `env` and `redis_env` fixtures (tests/conftest.py) call it before and after each test,
and a test that changes the environment mid-test calls it after `monkeypatch.setenv(...)`.
A lone `urls.reset()` is kept only where a test means "a fresh app process" (an empty memory
tier while Redis keeps its entries), not as a way to pick up new settings.
"""
