"""GET /files/{bucket}/{key}: the disk store's signed URLs, answered by `reelflow serve`.

    GET /files/{bucket}/{key}?expires=<epoch>&signature=<hex>
        200 / 206   the object (Range honoured), Content-Type as stored
        403         forbidden: no or a bad signature, or one for another bucket, key or expiry
        403         expired: the signature is good but its expiry second has passed
        404         no such object, a key that cannot be in the bucket, or the configured store
                    is not the disk store

No bearer token: the signature is the authentication, exactly as an S3 presigned URL is, so
an app hands the URL to a browser as it would S3's. The signature covers the method, bucket,
key and expiry (reelflow.adapters.storage.disk.DiskStore.verify_signed); a key is resolved
only inside its bucket's folder, so `..`, `%2e%2e` or an encoded slash reach nothing else, and
a folder is never listed. Responses are private to the browser that asked and never sniffed
into something runnable (nosniff, a sandboxing Content-Security-Policy).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from reelflow.adapters.storage.disk import (
    BadSignature,
    DiskStore,
    NotInStore,
    OpenedObject,
    UrlExpired,
)
from reelflow.api.problems import Problem
from reelflow.core.errors import InvalidKey
from reelflow.services import resources

__all__ = ["router"]

router = APIRouter()

_NOT_FOUND = "no such file"
# Served from the API's own origin: whatever an object holds, it runs nothing there.
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
_SHARED_ONLY = ("public", "private", "s-maxage", "proxy-revalidate")


def _cache_control(stored: str) -> str:
    """The stored Cache-Control made private: a signed URL is one reader's, never a shared
    cache's (a CDN fronting the API must not hand it to others)."""
    kept = [
        part.strip()
        for part in stored.split(",")
        if part.strip() and part.strip().split("=")[0].lower() not in _SHARED_ONLY
    ]
    return ", ".join(["private", *kept])


def _open(bucket: str, key: str, expires: str, signature: str) -> OpenedObject:
    store = resources.store()
    if not isinstance(store, DiskStore):  # S3 serves its own URLs; nothing is here
        raise Problem(404, "not-found", _NOT_FOUND)
    try:
        return store.verify_signed(bucket, key, expires, signature, time.time())
    except BadSignature as exc:
        raise Problem(403, "forbidden", str(exc)) from None
    except UrlExpired as exc:
        raise Problem(403, "expired", str(exc)) from None
    except (InvalidKey, NotInStore):
        raise Problem(404, "not-found", _NOT_FOUND) from None


@router.get(
    "/files/{bucket}/{key:path}",
    response_class=FileResponse,
    include_in_schema=False,
    responses={403: {"description": "Bad or expired signature"}, 404: {"description": "None"}},
)
def get_file(
    bucket: str,
    key: str,
    expires: Annotated[str, Query()] = "",
    signature: Annotated[str, Query()] = "",
) -> FileResponse:
    """One object of the disk store, for whoever holds a good signed URL for it."""
    opened = _open(bucket, key, expires, signature)
    headers = {**_HEADERS, "Cache-Control": _cache_control(opened.cache_control)}
    return FileResponse(opened.path, media_type=opened.content_type, headers=headers)
