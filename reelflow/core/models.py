"""Plain values passed between tasks: references and figures, never clients or big bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reelflow.core.errors import StepFailure
from reelflow.core.keys import AssetKind
from reelflow.core.placeholder import Placeholder

__all__ = [
    "AssetJob",
    "AssetOutcome",
    "Downloaded",
    "Placeholder",
    "Prepared",
    "RenditionFile",
    "Stored",
    "StoredRendition",
]

Status = Literal["stored", "skipped", "failed", "abandoned"]


@dataclass(frozen=True)
class AssetJob:
    """One asset to import: which episode, which kind, from where."""

    episode_id: int
    movie_id: str
    number: int
    kind: AssetKind
    source_url: str
    # Set when the database already records this exact source as stored.
    known_bucket: str | None = None
    known_key: str | None = None
    known_sha256: str | None = None
    known_source_sha256: str | None = None
    # Thumbnails: the renditions (rung, format) to make. None: the whole ladder (a new or
    # replaced source); (): none, every rendition is current; else only these (the ladder
    # changed, or a rung is missing).
    make: tuple[tuple[str, str], ...] | None = None
    # Make them from the stored large object (known_bucket/known_key) instead of source_url,
    # which may have expired (`backfill --renditions`).
    from_stored: bool = False
    # The source is the episode's full-length video_url: a thumbnail becomes its poster
    # frame, a preview a clip cut from it (reelflow.core.video).
    from_video: bool = False

    @property
    def label(self) -> str:
        return f"{self.movie_id}/ep{self.number}/{self.kind}"


@dataclass(frozen=True)
class Downloaded:
    job: AssetJob
    path: str
    bytes: int
    sha256: str
    content_type: str | None
    attempts: int = 1


@dataclass(frozen=True)
class RenditionFile:
    """One rendition of an asset, on local disk, ready to upload: a rung of a thumbnail's
    ladder, or a preview clip (rung "clip") in one format.

    `format` is the spec's format (webp, avif; mp4, webm); `ext` and `content_type` are those
    of the bytes, which are the original's when the original was kept (`note` says why)."""

    rung: str
    format: str
    digest: str  # the rung spec's digest (reelflow.core.ladder.RungSpec.digest)
    path: str
    content_type: str
    ext: str
    width: int
    height: int
    bytes: int
    sha256: str
    note: str = ""


@dataclass(frozen=True)
class Prepared:
    """What will be uploaded: a file on local disk plus its facts."""

    job: AssetJob
    path: str
    content_type: str
    ext: str
    bytes: int
    sha256: str
    source_bytes: int
    source_sha256: str
    width: int | None = None
    height: int | None = None
    compressed: bool = False
    note: str = ""
    attempts: int = 1
    # Thumbnails: every rendition made, largest first (the fields above describe the first).
    renditions: tuple[RenditionFile, ...] = ()
    placeholder: Placeholder | None = None
    # True when the primary rendition (largest rung, WebP) was not made this time: the asset
    # row keeps its object, only the renditions made are recorded.
    partial: bool = False
    # Videos: what the probe found and what was made (assets.media).
    media: dict[str, object] | None = None


@dataclass(frozen=True)
class StoredRendition:
    file: RenditionFile
    bucket: str
    key: str
    uploaded: bool  # False when an identical object was already there


@dataclass(frozen=True)
class Stored:
    prepared: Prepared
    bucket: str
    key: str
    uploaded: bool  # False when an identical object was already there
    renditions: tuple[StoredRendition, ...] = ()


@dataclass(frozen=True)
class AssetOutcome:
    """How one asset ended, for the asset row, the summary and the artifacts."""

    job: AssetJob
    status: Status
    bucket: str | None = None
    key: str | None = None
    source_bytes: int | None = None
    bytes: int | None = None
    error: str | None = None
    attempts: int = 0
    uploaded: bool = False
    # A failure's error could go away (a timeout, a 5xx): the dead-letter rule reads it.
    retryable: bool = False
    # A thumbnail's renditions stored by this run (the report's per-rung bytes).
    renditions: tuple[StoredRendition, ...] = ()

    @classmethod
    def of_stored(cls, stored: Stored) -> AssetOutcome:
        """An asset this run stored (or found stored with the same bytes)."""
        return cls(
            job=stored.prepared.job,
            status="stored",
            bucket=stored.bucket,
            key=stored.key,
            source_bytes=stored.prepared.source_bytes,
            bytes=stored.prepared.bytes,
            attempts=stored.prepared.attempts,
            uploaded=stored.uploaded,
            renditions=stored.renditions,
        )

    @classmethod
    def of_failure(cls, job: AssetJob, failure: StepFailure) -> AssetOutcome:
        """An asset that failed for good in this run: its last step's error, as recorded."""
        return cls(
            job=job,
            status="failed",
            error=failure.describe(),
            attempts=failure.attempts,
            retryable=failure.retryable,
        )
