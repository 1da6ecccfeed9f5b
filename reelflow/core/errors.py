"""reelflow's exceptions: every one it raises on purpose, drawn once so callers catch broad or
narrow.

    ReelflowError                 exit 1: the work failed
    ├── StepFailed                a step of an asset's transfer failed; carries a StepFailure
    │                             (step, error, attempts) and is retryable as its cause was
    ├── TransientError            retry with backoff; may carry retry_after (seconds)
    │   ├── OriginUnavailable     connect error, timeout, reset, truncated body, HTTP 5xx/408
    │   │   └── OriginUnreachable the host refused or did not take the connection: down for
    │   │                         every asset on it (reelflow.core.outage rides it out)
    │   ├── OriginThrottled       HTTP 429 (retry_after from Retry-After)
    │   ├── StorageUnavailable    S3 throttling, S3 5xx, S3 connection errors
    │   ├── CdnUnavailable        the CDN refused or failed an invalidation (kept, retried)
    │   ├── DatabaseUnavailable   the database connection failed or was lost (no SQL, no
    │   │                         parameters in the message or its traceback)
    │   ├── PrefectUnavailable    the Prefect API does not answer
    │   └── LocalResourceExhausted  the spool disk is full or no file descriptor is left
    │                             (ENOSPC, EDQUOT, EMFILE, ENFILE): frees up as work ends
    └── TerminalError             never retried: the same input fails the same way
        ├── BlockedURL            scheme, host or resolved address not allowed (SSRF guard)
        ├── OriginRejected        HTTP 4xx other than 408/429
        ├── TooLarge              body or image bigger than the configured limit
        ├── UnsupportedMedia      content the asset kind cannot hold
        ├── TranscodeFailed       ffmpeg failed on this input, or ran past its time limit
        ├── StorageRejected       S3 refused the request for good (access denied, no bucket)
        ├── DatabaseRejected      the database refused a statement for good (bad data)
        ├── SweepRefused          the orphan sweep's safety cap refused to delete
        ├── MovieBusy             another run holds the movie's lease: nothing was done
        ├── StackError            the local stack (`reelflow up`) could not start
        ├── InputError            exit 2: bad input; nothing was changed
        │   ├── ManifestError     an import manifest that does not validate
        │   ├── ManifestNotFound  a run names a stored manifest that is not there
        │   ├── InvalidKey        an input that would name an object outside its prefix
        │   └── MovieNotFound     no movie with this id
        └── ConfigurationError    exit 2: fix the settings or the machine, then run again
            ├── MissingCredentials  no S3 credentials were found
            ├── SchemaOutdated    the database is not migrated to the code's revision
            ├── SpecError         prefect.yaml (or a deploy option) does not validate
            └── ToolUnavailable   a program a command needs (node, npm) is missing or failed

`exit_code` on each class is the one mapping to CLI exit codes: 1 for work that failed (a
service down, a refusal, failed assets), 2 for bad input or configuration.

Raise in the core and the adapters; translate at the edges (task retry decisions, asset rows,
flow states, CLI exit codes). `is_retryable` is the one retry condition every task uses.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any, ClassVar

from reelflow.core.redaction import scrub

__all__ = [
    "BlockedURL",
    "CdnUnavailable",
    "ConfigurationError",
    "DatabaseRejected",
    "DatabaseUnavailable",
    "InputError",
    "InvalidKey",
    "ManifestError",
    "ManifestNotFound",
    "LocalResourceExhausted",
    "MissingCredentials",
    "MovieBusy",
    "MovieNotFound",
    "OriginRejected",
    "OriginThrottled",
    "OriginUnavailable",
    "OriginUnreachable",
    "PrefectUnavailable",
    "ReelflowError",
    "SchemaOutdated",
    "SpecError",
    "StackError",
    "StepFailed",
    "StepFailure",
    "StorageRejected",
    "StorageUnavailable",
    "SweepRefused",
    "TerminalError",
    "ToolUnavailable",
    "TooLarge",
    "TranscodeFailed",
    "TransientError",
    "UnsupportedMedia",
    "exit_code",
    "is_retryable",
    "local_resource_error",
]


class ReelflowError(Exception):
    """Base of every error reelflow raises on purpose."""

    exit_code: ClassVar[int] = 1


@dataclass(frozen=True)
class StepFailure:
    """Why an asset's transfer failed: the step, the error (type and message) and how many
    attempts the asset had by then. The flow records it as it is, on the asset row."""

    step: str
    error: str
    attempts: int
    retryable: bool = False

    @classmethod
    def of(cls, step: str, exc: BaseException, attempts: int) -> StepFailure:
        """The failure of `exc`, its message scrubbed of URL tokens (it is stored and logged)."""
        message = scrub(f"{type(exc).__name__}: {exc}")
        return cls(step, message, attempts, is_retryable(exc))

    def describe(self) -> str:
        return f"{self.step}: {self.error}"


class StepFailed(ReelflowError):
    """A step of an asset's transfer failed; `failure` says which, how and after how many
    attempts. Retryable exactly when the error that failed the step was."""

    def __init__(self, failure: StepFailure) -> None:
        super().__init__(failure)  # the only argument, so the error pickles whole
        self.failure = failure

    def __str__(self) -> str:
        return self.failure.describe()


class TransientError(ReelflowError):
    """A failure that may go away: worth retrying with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OriginUnavailable(TransientError):
    """The source could not be fetched this time (network, timeout, 5xx, 408)."""


class OriginUnreachable(OriginUnavailable):
    """The origin host refused the connection or did not take it in time: it is down for
    every asset on it, not just for this one."""


class OriginThrottled(TransientError):
    """The source answered 429; `retry_after` holds its Retry-After, if it sent one."""


class StorageUnavailable(TransientError):
    """S3 throttled us, failed with a 5xx, or could not be reached."""


class CdnUnavailable(TransientError):
    """The CDN did not take an invalidation (too many in progress, throttled, down, refused):
    its paths stay queued and the next purge-objects run sends them again."""


class DatabaseUnavailable(TransientError):
    """The database could not be reached or dropped the connection."""


class PrefectUnavailable(TransientError):
    """The Prefect API does not answer (PREFECT_API_URL, or the local stack's server)."""


class LocalResourceExhausted(TransientError):
    """This worker is short of spool disk space or file descriptors; other assets finishing
    frees them, so it is worth waiting (`local_resource_error` builds it from an OSError)."""


class TerminalError(ReelflowError):
    """A failure that retrying cannot fix."""


class BlockedURL(TerminalError):
    """The URL's scheme, host or resolved address is not allowed."""


class OriginRejected(TerminalError):
    """The source answered with a 4xx that will not change (404, 403, 410, ...)."""


class TooLarge(TerminalError):
    """The body or image exceeds a configured limit."""


class UnsupportedMedia(TerminalError):
    """The content is not something this asset kind can hold."""


class TranscodeFailed(TerminalError):
    """ffmpeg could not make a clip or a poster from this file, or ran past
    REELFLOW_FFMPEG_TIMEOUT (it was killed; its partial output removed)."""


class StorageRejected(TerminalError):
    """S3 refused the request for good (access denied, missing bucket, bad request)."""


class DatabaseRejected(TerminalError):
    """The database refused a statement for good (bad data, a constraint). Like
    DatabaseUnavailable, it never carries the statement's parameters: they can hold tokens."""


class SweepRefused(TerminalError):
    """The safety cap refused a sweep: nothing was deleted. `report` is the sweep's census
    (a reelflow.core.reports.SweepReport), for the caller to show."""

    def __init__(self, reason: str, report: Any = None) -> None:
        super().__init__(reason)
        self.report = report


class MovieBusy(TerminalError):
    """Another import or backfill holds the movie's lease; this run did nothing."""


class StackError(TerminalError):
    """A process of the local stack did not start or is in the way."""


class InputError(TerminalError):
    """Bad input from the caller; nothing was changed."""

    exit_code: ClassVar[int] = 2


class ManifestError(InputError):
    """An import manifest does not validate; the message names the field."""


class ManifestNotFound(InputError):
    """A flow run names a stored manifest (a ManifestRef) that is not in the database."""


class InvalidKey(InputError):
    """An input would produce an object key outside the managed prefixes."""


class MovieNotFound(InputError):
    """There is no movie with this id (nothing was changed)."""


class ConfigurationError(TerminalError):
    """The settings or the machine are not fit for the command; the message says what to fix."""

    exit_code: ClassVar[int] = 2


class MissingCredentials(ConfigurationError):
    """No S3 credentials were found (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY, or AWS's chain)."""


class SchemaOutdated(ConfigurationError):
    """The database schema is behind the code: run `reelflow db upgrade`."""


class SpecError(ConfigurationError):
    """prefect.yaml, or an option of `reelflow deploy`, does not validate."""


class ToolUnavailable(ConfigurationError):
    """A program a command needs (node and npm for the sharp baseline) is missing or failed."""


def is_retryable(exc: BaseException) -> bool:
    """True for errors worth another attempt; False for terminal and unknown ones.

    Unknown exceptions are treated as terminal: retrying a bug three times only hides it.
    """
    if isinstance(exc, StepFailed):
        return exc.failure.retryable
    return isinstance(exc, TransientError)


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
_NO_FILES = frozenset({errno.EMFILE, errno.ENFILE})


def local_resource_error(exc: OSError, spool: object) -> LocalResourceExhausted | None:
    """The transient error an OSError stands for when it is a full disk or no file descriptor
    left, naming the path and the setting to change; None for any other OSError."""
    if exc.errno in _NO_SPACE:
        return LocalResourceExhausted(
            f"no space left on the spool {spool} (REELFLOW_SPOOL_DIR): {exc.strerror}; "
            "retried as other assets finish and free it"
        )
    if exc.errno in _NO_FILES:
        return LocalResourceExhausted(
            f"no file descriptor left ({exc.strerror}) while using the spool {spool}: raise "
            "the limit (ulimit -n) or lower REELFLOW_IMPORT_CONCURRENCY"
        )
    return None


def exit_code(exc: BaseException) -> int:
    """The CLI exit code for an error: 1 work failed, 2 bad input or configuration."""
    return exc.exit_code if isinstance(exc, ReelflowError) else 1
