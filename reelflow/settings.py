"""The one settings class. Built at entry points (CLI, flow start), never at import time."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["HEARTBEAT_ENV", "Settings", "get_settings", "reset_settings"]

# Prefect's setting for how often a flow run sends a heartbeat (Settings.flow_heartbeat_seconds)
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'reelflow.db'}"


class Settings(BaseSettings):
    """Every knob reelflow has, with safe defaults.

    The seed's variables keep their names (S3_ENDPOINT, USE_REDIS, ...); reelflow's own knobs
    are prefixed REELFLOW_. A `.env` file in the working directory is read too.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- S3 (the seed's names) ---
    s3_endpoint: str | None = Field(default=None, alias="S3_ENDPOINT")
    s3_access_key_id: SecretStr | None = Field(default=None, alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="S3_SECRET_ACCESS_KEY")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    s3_bucket_name: str = Field(default="reelflow-media", alias="S3_BUCKET_NAME")
    cdn_url: str | None = Field(default=None, alias="CDN_URL")

    # --- Redis (the seed's names) ---
    use_redis: bool = Field(default=False, alias="USE_REDIS")
    redis_host: str = Field(default="localhost", alias="REDIS_HOST")
    redis_port: int = Field(default=6379, alias="REDIS_PORT")
    redis_password: SecretStr | None = Field(default=None, alias="REDIS_PASSWORD")
    redis_db: int = Field(default=0, alias="REDIS_DB")
    redis_key_prefix: str = Field(default="reelflow:", alias="REELFLOW_REDIS_KEY_PREFIX")

    # --- Database ---
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(_default_database_url()), alias="DATABASE_URL"
    )

    # --- Import concurrency ---
    import_concurrency: int = Field(default=16, ge=1, le=256, alias="REELFLOW_IMPORT_CONCURRENCY")
    step_tasks_max_assets: int = Field(
        default=200,
        ge=0,
        alias="REELFLOW_STEP_TASKS_MAX_ASSETS",
        description="Runs with up to this many assets get one task run per step (download, "
        "prepare, upload, record); bigger runs get one task run per asset, to keep "
        "orchestration cost low",
    )
    malloc_arenas: int = Field(
        default=2,
        ge=0,
        le=64,
        alias="REELFLOW_MALLOC_ARENAS",
        description="glibc malloc arenas for import workers (0 leaves glibc's default)",
    )
    compress_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        alias="REELFLOW_COMPRESS_CONCURRENCY",
    )

    # --- Retries: attempts after the first, delays base*2**n with jitter ---
    retries: int = Field(default=3, ge=0, le=20, alias="REELFLOW_RETRIES")
    retry_base_delay: float = Field(default=1.0, ge=0, le=600, alias="REELFLOW_RETRY_BASE_DELAY")
    retry_jitter: float = Field(default=0.3, ge=0, le=1, alias="REELFLOW_RETRY_JITTER")
    retry_after_cap: float = Field(default=60.0, ge=0, alias="REELFLOW_RETRY_AFTER_CAP")

    # --- Safe fetching ---
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        alias="REELFLOW_FETCH_ALLOW",
        description="Hosts or networks (CIDR) that may be fetched even though they are "
        "private or loopback. Comma-separated. Empty by default: nothing private is fetched.",
    )
    fetch_connect_timeout: float = Field(default=5.0, gt=0, alias="REELFLOW_FETCH_CONNECT_TIMEOUT")
    fetch_read_timeout: float = Field(default=30.0, gt=0, alias="REELFLOW_FETCH_READ_TIMEOUT")
    fetch_max_redirects: int = Field(default=3, ge=0, le=10, alias="REELFLOW_FETCH_MAX_REDIRECTS")
    max_image_bytes: int = Field(default=25 * 2**20, gt=0, alias="REELFLOW_MAX_IMAGE_BYTES")
    max_video_bytes: int = Field(default=500 * 2**20, gt=0, alias="REELFLOW_MAX_VIDEO_BYTES")

    # --- Images ---
    image_max_width: int = Field(default=1280, gt=0, alias="REELFLOW_IMAGE_MAX_WIDTH")
    image_max_height: int = Field(default=720, gt=0, alias="REELFLOW_IMAGE_MAX_HEIGHT")
    webp_quality: int = Field(default=85, ge=1, le=100, alias="REELFLOW_WEBP_QUALITY")
    max_image_pixels: int = Field(default=40_000_000, gt=0, alias="REELFLOW_MAX_IMAGE_PIXELS")
    max_decode_mb: int = Field(
        default=256,
        ge=16,
        alias="REELFLOW_MAX_DECODE_MB",
        description="Estimated peak memory one image may take to decode and resize; "
        "larger images are refused (reelflow.core.imaging.DECODE_BYTES_PER_PIXEL)",
    )
    max_icc_bytes: int = Field(
        default=32 * 1024,
        ge=0,
        alias="REELFLOW_MAX_ICC_BYTES",
        description="Larger ICC profiles are applied (pixels converted to sRGB) and dropped",
    )

    # --- Uploads ---
    multipart_threshold: int = Field(
        default=16 * 2**20, ge=5 * 2**20, alias="REELFLOW_MULTIPART_THRESHOLD"
    )
    multipart_chunksize: int = Field(
        default=8 * 2**20, ge=5 * 2**20, alias="REELFLOW_MULTIPART_CHUNKSIZE"
    )
    cache_control: str = Field(default="max-age=31536000", alias="REELFLOW_CACHE_CONTROL")
    s3_connect_timeout: float = Field(default=5.0, gt=0, alias="REELFLOW_S3_CONNECT_TIMEOUT")
    s3_read_timeout: float = Field(default=60.0, gt=0, alias="REELFLOW_S3_READ_TIMEOUT")

    # --- Presigned URLs (issue: presign cache) ---
    presign_expiry: int = Field(default=3600, ge=60, le=7 * 86400, alias="REELFLOW_PRESIGN_EXPIRY")
    presign_cache_ttl: int = Field(default=1800, ge=1, alias="REELFLOW_PRESIGN_CACHE_TTL")
    presign_safety_margin: int = Field(
        default=300,
        ge=0,
        alias="REELFLOW_PRESIGN_SAFETY_MARGIN",
        description="Never hand out a cached URL with less validity left than this (seconds)",
    )
    presign_local_size: int = Field(default=10_000, ge=0, alias="REELFLOW_PRESIGN_LOCAL_SIZE")
    redis_timeout: float = Field(default=0.05, gt=0, alias="REELFLOW_REDIS_TIMEOUT")
    redis_breaker_cooldown: float = Field(
        default=5.0, gt=0, alias="REELFLOW_REDIS_BREAKER_COOLDOWN"
    )
    warmup_top_movies: int = Field(default=50, ge=1, alias="REELFLOW_WARMUP_TOP_MOVIES")

    # --- Cleanup (issue: purge, orphan sweep, backfill) ---
    orphan_grace_hours: float = Field(default=24.0, ge=0, alias="REELFLOW_ORPHAN_GRACE_HOURS")
    orphan_max_fraction: float = Field(
        default=0.10,
        gt=0,
        le=1,
        alias="REELFLOW_ORPHAN_MAX_FRACTION",
        description="A sweep refuses to delete more than this share of the objects it listed",
    )
    purge_batch_size: int = Field(default=1000, ge=1, le=1000, alias="REELFLOW_PURGE_BATCH_SIZE")
    backfill_batch_size: int = Field(default=100, ge=1, alias="REELFLOW_BACKFILL_BATCH_SIZE")
    backfill_limit: int = Field(default=10_000, ge=1, alias="REELFLOW_BACKFILL_LIMIT")

    # --- Operations (issue: deployments) ---
    work_pool: str = Field(default="reelflow", alias="REELFLOW_WORK_POOL")
    global_limits: bool = Field(
        default=False,
        alias="REELFLOW_GLOBAL_LIMITS",
        description="Take Prefect global concurrency slots around downloads and S3 requests "
        "(set by deployments; costs an API call per slot, so off for local runs)",
    )
    origin_host_limit: int = Field(default=8, ge=1, alias="REELFLOW_ORIGIN_HOST_LIMIT")
    s3_request_limit: int = Field(default=64, ge=1, alias="REELFLOW_S3_REQUEST_LIMIT")
    flow_heartbeat_seconds: int = Field(
        default=30,
        ge=30,
        alias="REELFLOW_FLOW_HEARTBEAT_SECONDS",
        description="A running flow run reports it is alive this often (Prefect's heartbeat; "
        "30 s is Prefect's minimum)",
    )
    zombie_after_seconds: int = Field(
        default=90,
        ge=60,
        alias="REELFLOW_ZOMBIE_AFTER_SECONDS",
        description="A running flow run with no heartbeat for this long is marked Crashed "
        "(its process died); must exceed REELFLOW_FLOW_HEARTBEAT_SECONDS",
    )

    worker_python: str | None = Field(
        default=None,
        alias="REELFLOW_WORKER_PYTHON",
        description="The Python (with reelflow installed) that workers start each run with, "
        "through deployments.warm_start (forked from a warm server, else one cold process) "
        "instead of Prefect's workspace supervisor (2-3 Python start-ups per run). Read by "
        "`reelflow deploy`; the local stack sets it to its own .venv; unset: Prefect's default",
    )

    # --- Local stack (`reelflow up`) ---
    stack_api_port: int = Field(default=4200, ge=1, le=65535, alias="REELFLOW_STACK_API_PORT")
    stack_origin_port: int = Field(default=8787, ge=1, le=65535, alias="REELFLOW_STACK_ORIGIN_PORT")

    # --- Working files ---
    spool_dir: Path | None = Field(default=None, alias="REELFLOW_SPOOL_DIR")
    spool_min_free_mb: int = Field(
        default=64,
        ge=0,
        alias="REELFLOW_SPOOL_MIN_FREE_MB",
        description="A download starts only with this much free space on the spool; it waits "
        "(up to REELFLOW_SPOOL_WAIT_SECONDS) for other assets to free it",
    )
    spool_wait_seconds: float = Field(default=120.0, ge=0, alias="REELFLOW_SPOOL_WAIT_SECONDS")

    @model_validator(mode="after")
    def _zombie_after_heartbeat(self) -> Settings:
        if self.zombie_after_seconds <= self.flow_heartbeat_seconds:
            raise ValueError(
                "REELFLOW_ZOMBIE_AFTER_SECONDS must exceed REELFLOW_FLOW_HEARTBEAT_SECONDS "
                "(a live run would be marked Crashed between two heartbeats)"
            )
        return self

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def safe_summary(self) -> dict[str, object]:
        """Settings for logs and `reelflow config`: secrets masked, DB password removed."""
        data = self.model_dump()
        for name, value in list(data.items()):
            if isinstance(getattr(self, name), SecretStr) and value is not None:
                data[name] = "**********"
        # Deferred for start-up time only: SQLAlchemy takes ~0.8 s to import, and settings load
        # for every command, `reelflow --help` included.
        from sqlalchemy.engine import make_url

        data["database_url"] = make_url(self.database_url.get_secret_value()).render_as_string(
            hide_password=True
        )
        return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, built on first use (never at import)."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings so the next get_settings() reads the environment again."""
    get_settings.cache_clear()
