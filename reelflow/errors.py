"""reelflow's exceptions, drawn once so callers can catch broad or narrow.

    ReelflowError
    ├── TransientError            retry with backoff; may carry retry_after (seconds)
    │   ├── OriginUnavailable     connect error, timeout, reset, truncated body, HTTP 5xx/408
    │   ├── OriginThrottled       HTTP 429 (retry_after from Retry-After)
    │   ├── StorageUnavailable    S3 throttling, S3 5xx, S3 connection errors
    │   └── DatabaseUnavailable   the database connection failed or was lost
    └── TerminalError             never retried: the same input fails the same way
        ├── BlockedURL            scheme, host or resolved address not allowed (SSRF guard)
        ├── OriginRejected        HTTP 4xx other than 408/429
        ├── TooLarge              body or image bigger than the configured limit
        ├── UnsupportedMedia      content the asset kind cannot hold
        ├── InvalidKey            an input that would name an object outside its prefix
        ├── StorageRejected       S3 refused the request for good (access denied, no bucket)
        └── ManifestError         an import manifest that does not validate

Raise in the core; translate at the edges (task retry decisions, asset rows, CLI exit codes).
"""

from __future__ import annotations

__all__ = [
    "BlockedURL",
    "DatabaseUnavailable",
    "InvalidKey",
    "ManifestError",
    "OriginRejected",
    "OriginThrottled",
    "OriginUnavailable",
    "ReelflowError",
    "StorageRejected",
    "StorageUnavailable",
    "TerminalError",
    "TooLarge",
    "TransientError",
    "UnsupportedMedia",
    "is_retryable",
]


class ReelflowError(Exception):
    """Base of every error reelflow raises on purpose."""


class TransientError(ReelflowError):
    """A failure that may go away: worth retrying with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OriginUnavailable(TransientError):
    """The source could not be fetched this time (network, timeout, 5xx, 408)."""


class OriginThrottled(TransientError):
    """The source answered 429; `retry_after` holds its Retry-After, if it sent one."""


class StorageUnavailable(TransientError):
    """S3 throttled us, failed with a 5xx, or could not be reached."""


class DatabaseUnavailable(TransientError):
    """The database could not be reached or dropped the connection."""


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


class InvalidKey(TerminalError):
    """An input would produce an object key outside the managed prefixes."""


class StorageRejected(TerminalError):
    """S3 refused the request for good (access denied, missing bucket, bad request)."""


class ManifestError(TerminalError):
    """An import manifest does not validate; the message names the field."""


def is_retryable(exc: BaseException) -> bool:
    """True for errors worth another attempt; False for terminal and unknown ones.

    Unknown exceptions are treated as terminal: retrying a bug three times only hides it.
    """
    return isinstance(exc, TransientError)
