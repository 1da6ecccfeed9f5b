import logging

import pytest

from reelflow.core.backoff import backoff_delays
from reelflow.settings import Settings

_OURS = ("REELFLOW_", "S3_", "REDIS_", "USE_REDIS", "CDN_URL", "DATABASE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Settings tests see only what they set: no ambient variables, no .env file."""
    import os

    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    monkeypatch.setattr(Settings, "model_config", {**Settings.model_config, "env_file": None})


@pytest.mark.parametrize(
    ("retries", "base", "expected"),
    [(3, 1.0, [1.0, 2.0, 4.0]), (0, 1.0, []), (4, 0.5, [0.5, 1.0, 2.0, 4.0])],
)
def test_backoff_doubles(retries, base, expected):
    assert backoff_delays(retries, base) == expected


def test_seed_variables_are_read(monkeypatch):
    monkeypatch.setenv("S3_ENDPOINT", "http://s3.local:9000")
    monkeypatch.setenv("S3_BUCKET_NAME", "blue-video-storage")
    monkeypatch.setenv("USE_REDIS", "true")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("CDN_URL", "https://cdn.example")
    monkeypatch.setenv("REELFLOW_FETCH_ALLOW", "cdn.internal, 10.1.0.0/16")
    s = Settings()
    assert s.s3_endpoint == "http://s3.local:9000"
    assert s.s3_bucket_name == "blue-video-storage"
    assert s.use_redis is True and s.redis_port == 6380
    assert s.cdn_url == "https://cdn.example"
    assert s.fetch_allow == ["cdn.internal", "10.1.0.0/16"]
    assert s.import_concurrency == 16 and s.retries == 3 and s.retry_base_delay == 1.0


def test_default_database_is_sqlite_in_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert Settings().database_url.get_secret_value() == f"sqlite:///{tmp_path}/reelflow.db"


def test_secrets_never_render(monkeypatch, caplog):
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "sekrit-s3")
    monkeypatch.setenv("REDIS_PASSWORD", "sekrit-redis")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app:sekrit-db@db:5432/reelflow")
    s = Settings()
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("settings: %s %r %s", s, s, s.safe_summary())
    text = caplog.text + repr(s) + str(s.safe_summary())
    for secret in ("sekrit-s3", "sekrit-redis", "sekrit-db"):
        assert secret not in text
    assert "db:5432/reelflow" in s.safe_summary()["database_url"]


@pytest.mark.parametrize(
    ("var", "value"),
    [("REELFLOW_IMPORT_CONCURRENCY", "0"), ("REELFLOW_AVIF_QUALITY", "101"), ("REDIS_PORT", "x")],
)
def test_bad_values_are_refused(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):  # the message names the variable to fix
        Settings()
