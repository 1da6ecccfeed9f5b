"""The one settings class. Built at entry points (CLI, flow start), never at import time."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from reelflow.core.auth import ApiToken, parse_tokens
from reelflow.core.costs import Prices
from reelflow.core.ladder import DEFAULT_LADDER, Ladder, parse_ladder
from reelflow.core.video import PreviewSpec, SourceLimits

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

    # Inputs are never echoed in validation errors: a token or a password would be.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    # --- S3 (the seed's names) ---
    s3_endpoint: str | None = Field(
        default=None, alias="S3_ENDPOINT", description="S3-compatible endpoint URL (unset: AWS)"
    )
    s3_access_key_id: SecretStr | None = Field(
        default=None,
        alias="S3_ACCESS_KEY_ID",
        description="S3 access key (unset: AWS's credential chain); secret, never logged",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        alias="S3_SECRET_ACCESS_KEY",
        description="S3 secret key (unset: AWS's credential chain); secret, never logged",
    )
    s3_region: str = Field(default="us-east-1", alias="S3_REGION", description="S3 region")
    s3_bucket_name: str = Field(
        default="reelflow-media",
        alias="S3_BUCKET_NAME",
        description="The bucket media is stored in; objects are private, nothing is made public",
    )
    # --- Where objects live (reelflow.adapters.storage) ---
    storage: Literal["s3", "disk"] = Field(
        default="s3",
        alias="REELFLOW_STORAGE",
        description="Object store: s3 (the default) or disk, a folder on one machine whose "
        "signed URLs `reelflow serve` answers under /files/",
    )
    disk_root: Path = Field(
        default=Path(".reelflow/objects"),
        alias="REELFLOW_DISK_ROOT",
        description="The disk store's folder (REELFLOW_STORAGE=disk); one subfolder per bucket",
    )
    disk_url_base: str | None = Field(
        default=None,
        alias="REELFLOW_DISK_URL_BASE",
        description="Where apps reach `reelflow serve` for the disk store's signed URLs "
        "(unset: http://REELFLOW_API_HOST:REELFLOW_API_PORT)",
    )
    disk_url_secret: SecretStr | None = Field(
        default=None,
        alias="REELFLOW_DISK_URL_SECRET",
        description="Key that signs the disk store's URLs (unset: one generated once into "
        "REELFLOW_DISK_ROOT/.url-secret, owner-only); secret, never logged",
    )
    cdn_url: str | None = Field(
        default=None, alias="CDN_URL", description="Serve `CDN_URL/key` instead of presigned URLs"
    )
    cloudfront_distribution_id: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9]{1,64}$",
        alias="CLOUDFRONT_DISTRIBUTION_ID",
        description="Invalidate deleted objects and replaced ready-made previews in this "
        "CloudFront distribution (README: CDN)",
    )
    cloudfront_endpoint: str | None = Field(
        default=None,
        alias="REELFLOW_CLOUDFRONT_ENDPOINT",
        description="CloudFront API endpoint (tests: moto); AWS's own when unset",
    )

    # --- Redis (the seed's names) ---
    use_redis: bool = Field(
        default=False,
        alias="USE_REDIS",
        description="Cache presigned URLs in Redis (shared by every process and machine); off: "
        "an in-process cache only. Workers on other machines need the same Redis "
        "variables, so imports invalidate the URLs apps cached",
    )
    redis_host: str = Field(
        default="localhost", alias="REDIS_HOST", description="Redis host of the presigned-URL cache"
    )
    redis_port: int = Field(default=6379, alias="REDIS_PORT", description="Redis port")
    redis_password: SecretStr | None = Field(
        default=None, alias="REDIS_PASSWORD", description="Redis password (secret, never logged)"
    )
    redis_db: int = Field(default=0, alias="REDIS_DB", description="Redis database number")
    redis_key_prefix: str = Field(
        default="reelflow:",
        alias="REELFLOW_REDIS_KEY_PREFIX",
        description="Prefix of every Redis key reelflow writes (several deployments can share "
        "one Redis)",
    )

    # --- Database ---
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(_default_database_url()),
        alias="DATABASE_URL",
        description="reelflow's database: SQLite by default, or "
        "`postgresql+psycopg://user:pass@host/db`; the password is never logged",
        json_schema_extra={"doc_default": "`sqlite:///./reelflow.db`"},
    )

    # --- Import concurrency ---
    import_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        alias="REELFLOW_IMPORT_CONCURRENCY",
        description="Assets in flight per import (threads)",
    )
    task_runner: Literal["thread", "dask"] = Field(
        default="thread",
        alias="REELFLOW_TASK_RUNNER",
        description="Where import and backfill run their assets: `thread` (threads in the "
        "flow run's process) or `dask` (a Dask cluster; each asset's whole chain runs as one "
        "task on one Dask worker, docs/operations.md)",
    )
    dask_address: str | None = Field(
        default=None,
        alias="REELFLOW_DASK_ADDRESS",
        description="The Dask scheduler to use with REELFLOW_TASK_RUNNER=dask "
        "(`tcp://host:8786`); unset: a LocalCluster of REELFLOW_DASK_WORKERS processes per run",
    )
    dask_workers: int = Field(
        default=2,
        ge=1,
        le=256,
        alias="REELFLOW_DASK_WORKERS",
        description="Worker processes of the LocalCluster a run starts when no "
        "REELFLOW_DASK_ADDRESS is set",
    )
    dask_threads_per_worker: int = Field(
        default=4,
        ge=1,
        le=64,
        alias="REELFLOW_DASK_THREADS_PER_WORKER",
        description="Assets each LocalCluster worker process runs at once (downloads and "
        "uploads wait on the network; image and video work release the GIL)",
    )
    chunk_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        alias="REELFLOW_CHUNK_SECONDS",
        description="Work per task run: import and backfill move assets in chunks sized to "
        "take about this long (one task run each; the Prefect UI shows one per chunk)",
    )
    chunk_max_assets: int = Field(
        default=500,
        ge=1,
        le=10_000,
        alias="REELFLOW_CHUNK_MAX_ASSETS",
        description="Most assets in one chunk (one task run), however cheap they are",
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
        description="Images compressed at once",
        json_schema_extra={"doc_default": "CPU count"},
    )

    # --- Retries: attempts after the first, delays base*2**n with jitter ---
    retries: int = Field(
        default=3,
        ge=0,
        le=20,
        alias="REELFLOW_RETRIES",
        description="Retries after the first attempt, for transient errors only",
    )
    retry_base_delay: float = Field(
        default=1.0,
        ge=0,
        le=600,
        alias="REELFLOW_RETRY_BASE_DELAY",
        description="First retry delay in seconds; each next one doubles",
    )
    retry_jitter: float = Field(
        default=0.3,
        ge=0,
        le=1,
        alias="REELFLOW_RETRY_JITTER",
        description="Each delay lands anywhere up to this share above its nominal value",
    )
    retry_after_cap: float = Field(
        default=60.0,
        ge=0,
        alias="REELFLOW_RETRY_AFTER_CAP",
        description="Longest Retry-After (seconds) of an HTTP 429 that is honoured",
    )

    # --- Outages: S3, the database or an origin host down for everyone (reelflow.core.outage) ---
    outage_threshold: int = Field(
        default=3,
        ge=1,
        le=100,
        alias="REELFLOW_OUTAGE_THRESHOLD",
        description="Transient failures in a row (S3, the database, or connections to one "
        "origin host) that mean the dependency is down: assets then wait for it instead of "
        "spending their retries",
    )
    outage_probe_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        alias="REELFLOW_OUTAGE_PROBE_SECONDS",
        description="While a dependency is down, one request probes it this often",
    )
    outage_max_wait: float = Field(
        default=120.0,
        ge=0,
        alias="REELFLOW_OUTAGE_MAX_WAIT",
        description="How long assets wait for a dependency that is down before they fail, "
        "with a message naming it (seconds; 0 turns waiting off)",
    )

    # --- One run per movie at a time (reelflow.adapters.db.leases) ---
    movie_lease_seconds: float = Field(
        default=120.0,
        ge=10,
        alias="REELFLOW_MOVIE_LEASE_SECONDS",
        description="An import or backfill holds its movie's lease this long, renewing it "
        "every third of it while it works; a crashed run's lease lapses after this",
    )
    movie_lease_wait: float = Field(
        default=0.0,
        ge=0,
        alias="REELFLOW_MOVIE_LEASE_WAIT",
        description="How long an import waits for a movie another run is working on before it "
        "exits saying which run has it (0: exit at once)",
    )

    # --- Safe fetching ---
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        alias="REELFLOW_FETCH_ALLOW",
        description="Hosts or networks (CIDR) that may be fetched even though they are "
        "private or loopback. Comma-separated. Empty by default: nothing private is fetched.",
    )
    fetch_connect_timeout: float = Field(
        default=5.0,
        gt=0,
        alias="REELFLOW_FETCH_CONNECT_TIMEOUT",
        description="Seconds to connect to an origin",
    )
    fetch_read_timeout: float = Field(
        default=30.0,
        gt=0,
        alias="REELFLOW_FETCH_READ_TIMEOUT",
        description="Seconds to wait for an origin's next bytes",
    )
    fetch_max_redirects: int = Field(
        default=3,
        ge=0,
        le=10,
        alias="REELFLOW_FETCH_MAX_REDIRECTS",
        description="Redirects followed per download (each hop is checked by the SSRF guard)",
    )
    max_image_bytes: int = Field(
        default=25 * 2**20,
        gt=0,
        alias="REELFLOW_MAX_IMAGE_BYTES",
        description="Largest thumbnail download; bigger bodies are refused while streaming",
    )
    max_video_bytes: int = Field(
        default=500 * 2**20,
        gt=0,
        alias="REELFLOW_MAX_VIDEO_BYTES",
        description="Largest video_preview_url download; bigger bodies are refused while streaming",
    )

    # --- Images ---
    ladder: str = Field(
        default=DEFAULT_LADDER,
        alias="REELFLOW_LADDER",
        description="Thumbnail renditions, largest first, as name:WIDTHxHEIGHT@WEBP_QUALITY; "
        "each fits its box, keeps its aspect ratio and is never upscaled",
    )
    avif: bool = Field(
        default=False,
        alias="REELFLOW_AVIF",
        description="Also store every rung as AVIF (README: its cost in CPU and bytes)",
    )
    avif_quality: int = Field(
        default=50,
        ge=1,
        le=100,
        alias="REELFLOW_AVIF_QUALITY",
        description="AVIF quality of every rung, when REELFLOW_AVIF is on",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        gt=0,
        alias="REELFLOW_MAX_IMAGE_PIXELS",
        description="Images with more pixels are refused before decoding (decompression bombs)",
    )
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

    # --- Video: preview clips and posters (reelflow.core.video) ---
    max_source_video_bytes: int = Field(
        default=8 * 2**30,
        gt=0,
        alias="REELFLOW_MAX_SOURCE_VIDEO_BYTES",
        description="Largest full-length video (an episode's video_url) downloaded to make its "
        "clip and poster",
    )
    max_video_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        alias="REELFLOW_MAX_VIDEO_SECONDS",
        description="Videos that last longer are refused before any transcode",
    )
    max_video_pixels: int = Field(
        default=7680 * 4320,
        gt=0,
        alias="REELFLOW_MAX_VIDEO_PIXELS",
        description="Videos with larger frames (8K by default) are refused before any transcode",
    )
    preview_seconds: float = Field(
        default=6.0,
        ge=0.5,
        le=60,
        alias="REELFLOW_PREVIEW_SECONDS",
        description="Length of the muted preview clip cut from a full-length video",
    )
    preview_height: int = Field(
        default=480,
        ge=2,
        le=4320,
        alias="REELFLOW_PREVIEW_HEIGHT",
        description="The clip's short side in pixels (480p); smaller sources are not upscaled",
    )
    preview_crf: int = Field(
        default=23,
        ge=0,
        le=51,
        alias="REELFLOW_PREVIEW_CRF",
        description="H.264 constant quality of the clip (lower is better and bigger)",
    )
    preview_preset: str = Field(
        default="veryfast",
        pattern=r"^(ultrafast|superfast|veryfast|faster|fast|medium|slow|slower|veryslow)$",
        alias="REELFLOW_PREVIEW_PRESET",
        description="x264 preset of the clip (speed against bytes)",
    )
    preview_max_fps: int = Field(
        default=30,
        ge=1,
        le=120,
        alias="REELFLOW_PREVIEW_MAX_FPS",
        description="Frame-rate cap of the clip",
    )
    preview_webm: bool = Field(
        default=False,
        alias="REELFLOW_PREVIEW_WEBM",
        description="Also store the clip as VP9 WebM (README: its cost)",
    )
    preview_webm_crf: int = Field(
        default=35,
        ge=0,
        le=63,
        alias="REELFLOW_PREVIEW_WEBM_CRF",
        description="VP9 constant quality of the WebM clip",
    )
    preview_max_ready_seconds: float = Field(
        default=15.0,
        gt=0,
        alias="REELFLOW_PREVIEW_MAX_READY_SECONDS",
        description="A ready-made video_preview_url longer than this (or in a codec browsers "
        "don't play) is transcoded into a clip; shorter web-playable ones are stored as they are",
    )
    poster_window_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        alias="REELFLOW_POSTER_WINDOW_SECONDS",
        description="How much of the video, after its first 10%, is scanned for the poster",
    )
    ffmpeg_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        alias="REELFLOW_FFMPEG_THREADS",
        description="Threads of each ffmpeg process (decoder, filters and encoder each)",
    )
    ffmpeg_timeout: float = Field(
        default=600.0,
        gt=0,
        alias="REELFLOW_FFMPEG_TIMEOUT",
        description="Seconds an ffmpeg run may take before it is killed (the asset fails)",
    )
    transcode_concurrency: int = Field(
        default=1,
        ge=1,
        le=64,
        alias="REELFLOW_TRANSCODE_CONCURRENCY",
        description="Videos transcoded at once per process (each uses REELFLOW_FFMPEG_THREADS)",
    )

    # --- HTTP API (reelflow serve) ---
    api_tokens: SecretStr | None = Field(
        default=None,
        alias="REELFLOW_API_TOKENS",
        description="Bearer tokens of the HTTP API, comma-separated scopes:token (scopes read, "
        "write or read+write; 16+ characters each); several at once for rotation",
    )
    api_host: str = Field(
        default="127.0.0.1", alias="REELFLOW_API_HOST", description="Address `reelflow serve` binds"
    )
    api_port: int = Field(
        default=8700, ge=1, le=65535, alias="REELFLOW_API_PORT", description="Its port"
    )
    api_max_body_mb: float = Field(
        default=16.0,
        gt=0,
        alias="REELFLOW_API_MAX_BODY_MB",
        description="Largest request body (a manifest) the API reads; larger ones get 413",
    )
    api_max_page_size: int = Field(
        default=100,
        ge=1,
        le=10_000,
        alias="REELFLOW_API_MAX_PAGE_SIZE",
        description="Most items a list endpoint returns per page (episodes, assets, jobs)",
    )
    api_page_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        alias="REELFLOW_API_PAGE_THREADS",
        description="Media pages built at once per API process; more wait (their work is "
        "Python CPU once URLs are cached: many threads only pass the GIL around)",
    )

    # --- Costs (reelflow status --costs, the import report) ---
    storage_price_gb_month: float = Field(
        default=0.023,
        ge=0,
        alias="REELFLOW_STORAGE_PRICE_GB_MONTH",
        description="USD per GB-month stored (S3 Standard, us-east-1, first 50 TB)",
    )
    egress_price_gb: float = Field(
        default=0.09,
        ge=0,
        alias="REELFLOW_EGRESS_PRICE_GB",
        description="USD per GB served to the internet (S3 to internet, first 10 TB a month)",
    )
    views_per_episode_month: int = Field(
        default=1000,
        ge=0,
        alias="REELFLOW_VIEWS_PER_EPISODE_MONTH",
        description="Thumbnail loads per episode per month, for the egress estimate",
    )
    view_rung: str = Field(
        default="medium",
        alias="REELFLOW_VIEW_RUNG",
        description="The rung a typical view loads (a catalogue card), for the egress estimate",
    )

    # --- Uploads ---
    multipart_threshold: int = Field(
        default=16 * 2**20,
        ge=5 * 2**20,
        alias="REELFLOW_MULTIPART_THRESHOLD",
        description="Uploads above this size are multipart (memory stays bounded)",
    )
    multipart_chunksize: int = Field(
        default=8 * 2**20,
        ge=5 * 2**20,
        alias="REELFLOW_MULTIPART_CHUNKSIZE",
        description="Part size of multipart uploads",
    )
    cache_control: str = Field(
        default="max-age=31536000",
        alias="REELFLOW_CACHE_CONTROL",
        description="Cache-Control stored on every object (a thumbnail's keys carry a content "
        "version, so a new source gets new keys; a preview's key is stable per episode: purge "
        "a CDN after replacing one)",
    )
    s3_connect_timeout: float = Field(
        default=5.0,
        gt=0,
        alias="REELFLOW_S3_CONNECT_TIMEOUT",
        description="Seconds to connect to S3",
    )
    s3_read_timeout: float = Field(
        default=60.0,
        gt=0,
        alias="REELFLOW_S3_READ_TIMEOUT",
        description="Seconds to wait for S3's answer",
    )

    # --- Presigned URLs ---
    presign_expiry: int = Field(
        default=3600,
        ge=60,
        le=7 * 86400,
        alias="REELFLOW_PRESIGN_EXPIRY",
        description="Validity of presigned URLs (seconds)",
    )
    presign_cache_ttl: int = Field(
        default=1800,
        ge=1,
        alias="REELFLOW_PRESIGN_CACHE_TTL",
        description="How long a presigned URL stays cached (seconds; always clamped below the "
        "expiry)",
    )
    presign_safety_margin: int = Field(
        default=300,
        ge=0,
        alias="REELFLOW_PRESIGN_SAFETY_MARGIN",
        description="Never hand out a cached URL with less validity left than this (seconds)",
    )
    presign_local_size: int = Field(
        default=10_000,
        ge=0,
        alias="REELFLOW_PRESIGN_LOCAL_SIZE",
        description="Presigned URLs kept in each process's in-memory tier",
    )
    redis_timeout: float = Field(
        default=0.05,
        gt=0,
        alias="REELFLOW_REDIS_TIMEOUT",
        description="Seconds a Redis call may take before the page is signed directly",
    )
    redis_breaker_cooldown: float = Field(
        default=5.0,
        gt=0,
        alias="REELFLOW_REDIS_BREAKER_COOLDOWN",
        description="Seconds after a Redis failure before one probe checks whether it is back",
    )
    warmup_top_movies: int = Field(
        default=50,
        ge=1,
        alias="REELFLOW_WARMUP_TOP_MOVIES",
        description="Movies presign-warmup signs, most recently updated first",
    )

    # --- Cleanup: purge, orphan sweep, backfill ---
    orphan_grace_hours: float = Field(
        default=24.0,
        ge=0,
        alias="REELFLOW_ORPHAN_GRACE_HOURS",
        description="The orphan sweep keeps unreferenced objects modified more recently than this",
    )
    orphan_max_fraction: float = Field(
        default=0.10,
        gt=0,
        le=1,
        alias="REELFLOW_ORPHAN_MAX_FRACTION",
        description="A sweep refuses to delete more than this share of the objects it listed",
    )
    purge_batch_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        alias="REELFLOW_PURGE_BATCH_SIZE",
        description="Keys per DeleteObjects request",
    )
    backfill_batch_size: int = Field(
        default=100,
        ge=1,
        alias="REELFLOW_BACKFILL_BATCH_SIZE",
        description="Assets a backfill claims at once",
    )
    backfill_limit: int = Field(
        default=10_000,
        ge=1,
        alias="REELFLOW_BACKFILL_LIMIT",
        description="Most assets one backfill run imports",
    )
    backfill_max_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        alias="REELFLOW_BACKFILL_MAX_FAILURES",
        description="A backfill gives up on an asset (status abandoned, never claimed again "
        "until `reelflow retry`) after this many failed backfill runs in a row, or at once on "
        "an error that cannot go away (a 404, unsupported media, a blocked URL)",
    )

    # --- Operations: deployments ---
    work_pool: str = Field(
        default="reelflow",
        alias="REELFLOW_WORK_POOL",
        description="Prefect work pool `reelflow deploy` creates and deploys to",
    )
    global_limits: bool = Field(
        default=False,
        alias="REELFLOW_GLOBAL_LIMITS",
        description="Take Prefect global concurrency slots around downloads and S3 requests "
        "(set by deployments; costs an API call per slot, so off for local runs)",
    )
    origin_host_limit: int = Field(
        default=8,
        ge=1,
        alias="REELFLOW_ORIGIN_HOST_LIMIT",
        description="Downloads at once per origin host, across all workers (Prefect global "
        "limit `reelflow-origin-<host>`)",
    )
    s3_request_limit: int = Field(
        default=64,
        ge=1,
        alias="REELFLOW_S3_REQUEST_LIMIT",
        description="S3 requests at once across all workers (Prefect global limit `reelflow-s3`)",
    )
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
    stack_api_port: int = Field(
        default=4200,
        ge=1,
        le=65535,
        alias="REELFLOW_STACK_API_PORT",
        description="Port of the local stack's Prefect server and UI (`reelflow up`)",
    )
    stack_origin_port: int = Field(
        default=8787,
        ge=1,
        le=65535,
        alias="REELFLOW_STACK_ORIGIN_PORT",
        description="Port of the local stack's sample origin, which serves the demo media",
    )

    # --- Working files ---
    spool_dir: Path | None = Field(
        default=None,
        alias="REELFLOW_SPOOL_DIR",
        description="Where downloads wait for their upload (unset: the system temp dir)",
    )
    spool_min_free_mb: int = Field(
        default=64,
        ge=0,
        alias="REELFLOW_SPOOL_MIN_FREE_MB",
        description="A download starts only with this much free space on the spool; it waits "
        "(up to REELFLOW_SPOOL_WAIT_SECONDS) for other assets to free it",
    )
    spool_wait_seconds: float = Field(
        default=120.0,
        ge=0,
        alias="REELFLOW_SPOOL_WAIT_SECONDS",
        description="How long a download waits for free spool space before it fails (retried)",
    )

    @model_validator(mode="after")
    def _zombie_after_heartbeat(self) -> Settings:
        if self.zombie_after_seconds <= self.flow_heartbeat_seconds:
            raise ValueError(
                "REELFLOW_ZOMBIE_AFTER_SECONDS must exceed REELFLOW_FLOW_HEARTBEAT_SECONDS "
                "(a live run would be marked Crashed between two heartbeats)"
            )
        return self

    @field_validator("ladder")
    @classmethod
    def _check_ladder(cls, value: str) -> str:
        Ladder(parse_ladder(value))  # raises ValueError naming the wrong part
        return value

    def prices(self) -> Prices:
        """The cost estimate's prices and traffic (REELFLOW_*_PRICE_*, REELFLOW_VIEW*)."""
        return Prices(
            storage_gb_month=self.storage_price_gb_month,
            egress_gb=self.egress_price_gb,
            views_per_episode_month=self.views_per_episode_month,
            view_rung=self.view_rung,
        )

    def preview_spec(self) -> PreviewSpec:
        """The preview clip every video gets (REELFLOW_PREVIEW_*)."""
        return PreviewSpec(
            seconds=self.preview_seconds,
            height=self.preview_height,
            crf=self.preview_crf,
            preset=self.preview_preset,
            max_fps=self.preview_max_fps,
            webm=self.preview_webm,
            webm_crf=self.preview_webm_crf,
            max_ready_seconds=self.preview_max_ready_seconds,
        )

    def s3_credentials(self) -> tuple[str | None, str | None]:
        """(access key id, secret key) as given, or None each: AWS's credential chain."""
        key_id, secret = self.s3_access_key_id, self.s3_secret_access_key
        return (
            key_id.get_secret_value() if key_id else None,
            secret.get_secret_value() if secret else None,
        )

    def api_token_list(self) -> tuple[ApiToken, ...]:
        """The API's tokens (REELFLOW_API_TOKENS), digested; () when none are set."""
        if self.api_tokens is None:
            return ()
        return parse_tokens(self.api_tokens.get_secret_value())

    @field_validator("api_tokens")
    @classmethod
    def _check_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_tokens(value.get_secret_value())  # ValueError names the entry, not the token
        return value

    def video_limits(self) -> SourceLimits:
        return SourceLimits(max_seconds=self.max_video_seconds, max_pixels=self.max_video_pixels)

    def image_ladder(self) -> Ladder:
        """The ladder every thumbnail is rendered in (REELFLOW_LADDER, REELFLOW_AVIF)."""
        return Ladder(parse_ladder(self.ladder), avif=self.avif, avif_quality=self.avif_quality)

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
