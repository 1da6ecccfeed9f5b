"""Migrations apply on SQLite and on PostgreSQL, are idempotent, and match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from reelflow.adapters.db import migrate
from reelflow.adapters.db.engine import make_engine
from reelflow.adapters.db.schema import Base
from tests.support.services import fresh_database


def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # a second run changes nothing and does not fail
        assert migrate.current_revision(engine) == migrate.head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"movies", "episodes", "assets", "purge_queue"} <= tables
        uniques = {u["name"] for u in inspect(engine).get_unique_constraints("assets")}
        assert {"uq_assets_episode_kind", "uq_assets_bucket_key"} <= uniques
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_migrations_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'm.db'}")


def test_migrations_on_postgresql(pg_admin):
    with fresh_database(pg_admin) as url:
        _check(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_downgrade_then_upgrade(backend, tmp_path, pg_admin):
    from alembic import command

    def run(url: str) -> None:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            cfg = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "base")
            assert "assets" not in inspect(engine).get_table_names()
            migrate.upgrade(engine)
            assert "assets" in inspect(engine).get_table_names()
        finally:
            engine.dispose()

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'd.db'}")
    else:
        with fresh_database(pg_admin) as url:
            run(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0005_adds_backfill_failures_to_existing_rows_and_removes_it(backend, tmp_path, pg_admin):
    """Rows written before 0005 get a count of 0; downgrading to 0003 drops the column only."""
    from alembic import command
    from sqlalchemy import text

    def run(url: str) -> None:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine, "0003")
            with engine.begin() as conn:
                now = "CURRENT_TIMESTAMP"
                conn.execute(
                    text(
                        f"INSERT INTO movies (id, title, created_at, updated_at) "
                        f"VALUES ('m', '', {now}, {now})"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO episodes (movie_id, number, title, created_at, updated_at) "
                        f"VALUES ('m', 1, '', {now}, {now})"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO assets (episode_id, kind, status, attempts, created_at, "
                        f"updated_at) SELECT id, 'thumbnail', 'failed', 7, {now}, {now} "
                        "FROM episodes"
                    )
                )
            migrate.upgrade(engine, "0005")
            with engine.connect() as conn:
                row = conn.execute(
                    text("SELECT status, attempts, backfill_failures FROM assets")
                ).one()
            assert tuple(row) == ("failed", 7, 0)
            cfg = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0003")
            columns = {c["name"] for c in inspect(engine).get_columns("assets")}
            assert "backfill_failures" not in columns and "claimed_at" in columns
        finally:
            engine.dispose()

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'b.db'}")
    else:
        with fresh_database(pg_admin) as url:
            run(url)


def _explain(conn, stmt) -> str:
    sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    return "\n".join(str(row[-1]) for row in conn.exec_driver_sql(prefix + str(sql)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0004_indexes_the_sweeps_url_lookups_with_data_in_place(backend, tmp_path, pg_admin):
    """Revision 0004 on a database holding episodes (stored URLs, and temporary URLs longer
    than a B-tree row allows): the data is unchanged, the sweep's two queries answer the same
    and their plans use the new indexes."""
    from sqlalchemy import text

    from reelflow.adapters.db import sweep
    from reelflow.adapters.db.schema import Episode, Movie

    def run(url: str) -> None:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine, "0003")
            long_url = "https://temp-cdn.example/x.jpg?token=" + "t" * 4000  # > a B-tree row
            rows = [
                {
                    "movie_id": "mv",
                    "number": n,
                    "thumbnail_url": f"s3://media/episode-thumbnails/mv/ep{n}_thumb.webp",
                    "video_preview_url": long_url if n % 2 else None,
                }
                for n in range(1, 401)
            ]
            with engine.begin() as conn:  # the tables as 0003 left them
                conn.execute(Movie.__table__.insert().values(id="mv", title="mv"))
                conn.execute(Episode.__table__.insert(), rows)
            migrate.upgrade(engine, "0004")
            assert migrate.current_revision(engine) == "0004"
            indexes = {i["name"] for i in inspect(engine).get_indexes("episodes")}
            assert {
                "ix_episodes_thumbnail_url_stored",
                "ix_episodes_video_preview_url_stored",
            } <= indexes
            with engine.connect() as conn:
                kept = conn.execute(
                    text("SELECT number, thumbnail_url, video_preview_url FROM episodes")
                ).all()
            assert sorted(kept) == sorted(
                (r["number"], r["thumbnail_url"], r["video_preview_url"]) for r in rows
            )
            with engine.begin() as conn:  # a long temporary URL still fits after 0004
                conn.execute(
                    Episode.__table__.insert().values(
                        movie_id="mv", number=999, thumbnail_url=long_url
                    )
                )
            migrate.upgrade(engine)  # today's sweep queries read today's tables
            page = [f"episode-thumbnails/mv/ep{n}_thumb.webp" for n in (10, 11, 12)]
            referenced, _ = sweep.page_references(engine, "media", page)
            assert referenced == set(page)
            assert sweep.bucket_reference_count(engine, "media") == 400
            assert sweep.bucket_reference_count(engine, "other") == 0

            with engine.connect() as conn:
                if backend == "postgresql":
                    conn.exec_driver_sql("ANALYZE episodes")
                    # tiny tables favour a sequential scan: forbid it, to learn whether the
                    # queries *can* use the indexes (else the plan scans anyway)
                    conn.exec_driver_sql("SET enable_seqscan = off")
                plans = [
                    _explain(conn, sweep.page_references_query(conn.dialect.name, "media", page)),
                    _explain(conn, sweep.bucket_references_query(conn.dialect.name, "media")),
                ]
            for plan in plans:
                for column in ("thumbnail_url", "video_preview_url"):
                    assert f"ix_episodes_{column}_stored" in plan, plan
                assert "Seq Scan on episodes" not in plan, plan
            print("\n\n".join(plans))  # the plans, for the record (pytest -s)
        finally:
            engine.dispose()

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'i.db'}")
    else:
        with fresh_database(pg_admin) as url:
            run(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0007_turns_every_stored_thumbnail_into_its_large_rendition(backend, tmp_path, pg_admin):
    """Existing data: two stored thumbnails (a WebP, an original kept as JPEG), a failed one
    and a stored preview. Each stored thumbnail becomes exactly one current `large` rendition
    under its own key; nothing else gets one; URLs are unchanged; down and up again works."""
    from alembic import command
    from sqlalchemy import text

    from reelflow.core.ladder import LEGACY_LARGE, spec_digest
    from reelflow.settings import Settings

    now = "CURRENT_TIMESTAMP"
    thumbs = {
        1: ("stored", "episode-thumbnails/m/ep1_thumb.webp", "image/webp", 1280, 720, 90_000),
        2: ("stored", "episode-thumbnails/m/ep2_thumb.jpg", "image/jpeg", 640, 360, 30_000),
        3: ("failed", None, None, None, None, None),
    }

    def run(url: str) -> None:
        engine = make_engine(url)
        try:
            migrate.upgrade(engine, "0006")
            with engine.begin() as conn:
                conn.execute(
                    text(
                        f"INSERT INTO movies (id, title, created_at, updated_at) "
                        f"VALUES ('m', '', {now}, {now})"
                    )
                )
                for n, (status, key, ctype, width, height, size) in thumbs.items():
                    url_value = f"s3://bk/{key}" if key else f"https://cdn.example/{n}.jpg"
                    conn.execute(
                        text(
                            "INSERT INTO episodes (movie_id, number, title, thumbnail_url, "
                            "video_preview_url, created_at, updated_at) VALUES ('m', :n, '', "
                            f":url, :preview, {now}, {now})"
                        ),
                        {
                            "n": n,
                            "url": url_value,
                            "preview": f"s3://bk/episode-previews/m/ep{n}_preview.webm",
                        },
                    )
                    conn.execute(
                        text(
                            "INSERT INTO assets (episode_id, kind, status, bucket, key, "
                            "content_type, bytes, width, height, sha256, source_sha256, "
                            f"attempts, created_at, updated_at, stored_at) SELECT id, "
                            "'thumbnail', :status, :bucket, :key, :ctype, :size, :w, :h, :sha, "
                            f":src, 1, {now}, {now}, {now} FROM episodes WHERE number = :n"
                        ),
                        {
                            "status": status,
                            "bucket": "bk" if key else None,
                            "key": key,
                            "ctype": ctype,
                            "size": size,
                            "w": width,
                            "h": height,
                            "sha": f"{n}" * 64 if key else None,
                            "src": f"{n + 5}" * 64,
                            "n": n,
                        },
                    )
                    conn.execute(
                        text(
                            "INSERT INTO assets (episode_id, kind, status, bucket, key, "
                            f"attempts, created_at, updated_at) SELECT id, 'preview', 'stored', "
                            f"'bk', :key, 1, {now}, {now} FROM episodes WHERE number = :n"
                        ),
                        {"key": f"episode-previews/m/ep{n}_preview.webm", "n": n},
                    )
            before = _urls(engine)

            migrate.upgrade(engine)
            rows = _renditions(engine)
            digest = spec_digest(*LEGACY_LARGE)
            assert digest == Settings().image_ladder().digests()[("large", "webp")], (
                "the default large rung is the former fixed size: not made again"
            )
            assert rows == [
                (
                    n,
                    "large",
                    "webp",
                    "bk",
                    key,
                    ctype,
                    width,
                    height,
                    size,
                    f"{n}" * 64,
                    digest,
                    f"{n + 5}" * 64,
                )
                for n, (status, key, ctype, width, height, size) in thumbs.items()
                if status == "stored"
            ]
            assert _urls(engine) == before, "every URL an app holds stays valid"

            cfg = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0006")
            assert "renditions" not in inspect(engine).get_table_names()
            assert "thumbhash" not in {c["name"] for c in inspect(engine).get_columns("assets")}
            migrate.upgrade(engine)
            assert _renditions(engine) == rows, "upgrading again gives the same rows"
        finally:
            engine.dispose()

    if backend == "sqlite":
        run(f"sqlite:///{tmp_path / 'r.db'}")
    else:
        with fresh_database(pg_admin) as url:
            run(url)


def _urls(engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(
            text("SELECT number, thumbnail_url, video_preview_url FROM episodes ORDER BY number")
        ).all()


def _renditions(engine):
    from sqlalchemy import text

    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT e.number, r.rung, r.format, r.bucket, r.key, r.content_type, "
                    "r.width, r.height, r.bytes, r.sha256, r.spec_digest, r.source_sha256 "
                    "FROM renditions r JOIN assets a ON a.id = r.asset_id "
                    "JOIN episodes e ON e.id = a.episode_id ORDER BY e.number"
                )
            )
        ]
