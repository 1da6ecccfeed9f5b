"""Prefect global concurrency limits shared by every worker: S3 requests and downloads per host.

Names:
    reelflow-s3                 every S3 request of an upload (HEAD, PUT, multipart); limit
                                settings.s3_request_limit, set by `reelflow deploy`
    reelflow-origin-<host>      downloads from one origin host (lowercase, IDNA, no port);
                                limit settings.origin_host_limit unless an operator set another

`reelflow deploy` creates reelflow-s3 and the hosts it is told about (`--origin-host`). A host
first seen at run time gets its limit created by the first task that needs it (with the
default limit; concurrent creators race harmlessly, the loser reads the winner's), so every
download is bounded even for a CDN nobody announced. Slots are then taken with strict=True: a
limit that cannot be taken fails the task loudly instead of being silently skipped.

With settings.global_limits false (local runs, tests) the slots are no-ops: no API call at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from reelflow.core.errors import BlockedURL
from reelflow.core.urlguard import check_url
from reelflow.settings import Settings

__all__ = [
    "ORIGIN_PREFIX",
    "S3_LIMIT",
    "origin_host",
    "origin_limit_name",
    "origin_slot",
    "s3_slot",
]

S3_LIMIT = "reelflow-s3"
ORIGIN_PREFIX = "reelflow-origin-"

_known: set[str] = set()  # limits this process has seen exist
_known_lock = threading.Lock()


def origin_host(url: str) -> str | None:
    """The host a download goes to first, normalised; None if the URL is not fetchable."""
    try:
        return check_url(url).host
    except BlockedURL:
        return None


def origin_limit_name(host: str) -> str:
    return f"{ORIGIN_PREFIX}{host.strip().lower().rstrip('.')}"


def ensure_limit(name: str, limit: int) -> None:
    """Create the global concurrency limit `name` unless it exists (cached per process)."""
    if name in _known:
        return

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            # Another worker may create it between the read and the write: that is fine.
            with contextlib.suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=limit)
                )
    with _known_lock:
        _known.add(name)


@contextlib.contextmanager
def _slot(name: str, limit: int, occupy: int = 1) -> Iterator[None]:
    ensure_limit(name, limit)
    with concurrency(name, occupy=min(occupy, limit), strict=True):
        yield


def origin_slot(url: str, settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Hold one download slot of the URL's host while the block runs (if limits are on)."""
    if not settings.global_limits:
        return contextlib.nullcontext()
    host = origin_host(url)
    if host is None:  # the fetch refuses it before any request: nothing to bound
        return contextlib.nullcontext()
    return _slot(origin_limit_name(host), settings.origin_host_limit)


def s3_slot(settings: Settings, occupy: int = 1) -> contextlib.AbstractContextManager[None]:
    """Hold `occupy` S3 request slots while the block runs (if limits are on)."""
    if not settings.global_limits:
        return contextlib.nullcontext()
    return _slot(S3_LIMIT, settings.s3_request_limit, occupy)
