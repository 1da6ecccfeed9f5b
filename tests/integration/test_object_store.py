"""The object-store contract: every store reelflow ships passes these same tests.

    s3    S3Store on moto's server over HTTP (the session's `s3_server`)
    disk  DiskStore in a temporary folder, its signed URLs answered by reelflow.api.files
          under a real uvicorn

Both stores are built by reelflow.adapters.storage.make_store from Settings, as the flows build
them. The few lines that differ say why (moto does not check a URL's expiry; only S3 has
multipart ETags). A third store (GCS, Azure) is one more parameter here.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reelflow.adapters.storage import (
    MAX_DELETE_BATCH,
    ObjectInfo,
    ObjectStore,
    forget_stores,
    list_range,
    make_store,
)
from reelflow.core.errors import InvalidKey, StorageRejected, TooLarge
from reelflow.core.keys import asset_key
from reelflow.devtools.s3server import free_port
from reelflow.settings import Settings, reset_settings

MiB = 1 << 20


@dataclass
class Subject:
    """A store under test, a fresh bucket of its own, and how its signed URLs are fetched."""

    store: ObjectStore
    bucket: str
    get: Callable[..., httpx.Response]
    tmp: Path

    def put(self, key: str, data: bytes, content_type: str = "image/webp") -> str:
        """Store `data` under `key` through a real file, as the upload task does; its sha256."""
        path = self.tmp / f"upload-{uuid.uuid4().hex}"
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        self.store.put_file(
            self.bucket,
            key,
            str(path),
            content_type=content_type,
            cache_control="max-age=31536000",
            sha256=digest,
        )
        path.unlink()
        return digest

    def read(self, key: str, max_bytes: int = 64 * MiB) -> tuple[bytes, int, str]:
        dest = io.BytesIO()
        size, digest = self.store.get_to(self.bucket, key, dest, max_bytes=max_bytes)
        return dest.getvalue(), size, digest


@contextlib.contextmanager
def files_server(port: int) -> Iterator[None]:
    """reelflow.api.files on a bare app under a real uvicorn on `port`, for the disk store's
    signed URLs (the app's factory is not needed: the router is self-contained)."""
    import uvicorn
    from fastapi import FastAPI

    from reelflow.api import files, problems

    app = FastAPI()
    problems.install(app)
    app.include_router(files.router)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, name="files", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the files server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(params=["s3", "disk"])
def subject(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Subject]:
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    with contextlib.ExitStack() as stack:
        if request.param == "s3":
            server = request.getfixturevalue("s3_server")
            values: dict[str, object] = {
                "_env_file": None,  # this test's values only, not a developer's .env
                "S3_ENDPOINT": server.endpoint,
                "S3_ACCESS_KEY_ID": "test-access",
                "S3_SECRET_ACCESS_KEY": "test-secret-do-not-log",
                "REELFLOW_MULTIPART_THRESHOLD": 5 * MiB,
                "REELFLOW_MULTIPART_CHUNKSIZE": 5 * MiB,
            }
            settings = Settings(**values)  # type: ignore[arg-type]
            get: Callable[..., httpx.Response] = httpx.get
        else:
            # The files router finds its store through the environment (resources.store()),
            # so the store under test is built from the same environment.
            port = free_port()
            monkeypatch.setenv("REELFLOW_STORAGE", "disk")
            monkeypatch.setenv("REELFLOW_DISK_ROOT", str(tmp_path / "objects"))
            monkeypatch.setenv("REELFLOW_DISK_URL_BASE", f"http://127.0.0.1:{port}")
            monkeypatch.delenv("REELFLOW_DISK_URL_SECRET", raising=False)
            reset_settings()
            settings = Settings()
            stack.enter_context(files_server(port))
            get = httpx.get
        store = make_store(settings)
        assert store.name == request.param
        assert store.ensure_bucket(bucket) is True
        yield Subject(store=store, bucket=bucket, get=get, tmp=tmp_path)
    forget_stores()
    reset_settings()


def thumb(movie: str, episode: int) -> str:
    return asset_key("thumbnail", movie, episode, "webp")


def test_ensure_bucket_is_idempotent_and_probe_answers(subject: Subject) -> None:
    assert subject.store.ensure_bucket(subject.bucket) is False  # the fixture created it
    assert subject.store.ensure_bucket(subject.bucket) is False
    subject.store.probe(subject.bucket)  # answers: no error


def test_put_then_head_and_get_round_trip(subject: Subject) -> None:
    key = thumb("m1", 1)
    data = os.urandom(70_001)
    digest = subject.put(key, data)
    assert subject.store.head(subject.bucket, key) == ObjectInfo(size=70_001, sha256=digest)
    assert subject.read(key) == (data, 70_001, digest)


def test_a_missing_object_heads_as_none_and_gets_as_rejected(subject: Subject) -> None:
    key = thumb("m1", 404)
    assert subject.store.head(subject.bucket, key) is None
    with pytest.raises(StorageRejected, match="not in"):
        subject.read(key)


def test_a_put_replaces_the_object_whole_while_it_is_read(subject: Subject) -> None:
    key = thumb("m1", 2)
    old, new = b"a" * (MiB + 3), b"b" * (MiB // 2)
    versions = {
        (len(old), hashlib.sha256(old).hexdigest()),
        (len(new), hashlib.sha256(new).hexdigest()),
    }
    subject.put(key, old)
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            _, size, digest = subject.read(key)
            seen.append((size, digest))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for data in (new, old, new, old, new):
            subject.put(key, data)
    finally:
        done.set()
        thread.join(30)
    assert seen and set(seen) <= versions  # never a mix, never a part
    info = subject.store.head(subject.bucket, key)
    assert info == ObjectInfo(size=len(new), sha256=hashlib.sha256(new).hexdigest())
    assert subject.store.list_page(subject.bucket, "episode-thumbnails/m1/").keys == [key]


def test_get_to_streams_the_bytes_and_refuses_past_max_bytes(subject: Subject) -> None:
    key = thumb("m1", 3)
    data = os.urandom(3000)
    digest = subject.put(key, data)
    assert subject.read(key, max_bytes=3000) == (data, 3000, digest)
    with pytest.raises(TooLarge):
        subject.read(key, max_bytes=2999)


# Movie ids whose keys sort differently bytewise than folder by folder: '-' (0x2d) and '.'
# sort before '/' (0x2f), '_' (0x5f) after it, capitals before lowercase; and episode 10's
# "ep10_" sorts before episode 1's "ep1_" ('0' < '_').
MOVIES = ("m1", "m1-x", "m1_x", "M1", "m10")
EPISODES = (1, 2, 10, 11, 100)


@pytest.fixture()
def listed(subject: Subject) -> list[str]:
    """25 thumbnails (sizes 1..25), 2 previews and one foreign key; the thumbnails' keys in
    bytewise order."""
    keys = [thumb(movie, episode) for movie in MOVIES for episode in EPISODES]
    for size, key in enumerate(keys, start=1):
        subject.put(key, b"x" * size)
    subject.put(asset_key("preview", "m1", 1, "mp4"), b"clip", "video/mp4")
    subject.put(asset_key("preview", "m2", 1, "mp4"), b"clip", "video/mp4")
    subject.put("notes/readme.txt", b"not ours", "text/plain")
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def test_list_pages_come_in_bytewise_order_with_sizes_and_utc_times(
    subject: Subject, listed: list[str]
) -> None:
    pages, token = [], None
    while True:
        page = subject.store.list_page(subject.bucket, "episode-thumbnails/", token, 10)
        pages.append(page)
        token = page.next_token
        if token is None:
            break
    assert [len(page.objects) for page in pages] == [10, 10, 5]
    assert [key for page in pages for key in page.keys] == listed
    objects = [obj for page in pages for obj in page.objects]
    sizes = {thumb(movie, episode): 0 for movie in MOVIES for episode in EPISODES}
    for size, key in enumerate(sizes, start=1):
        sizes[key] = size
    assert {obj.key: obj.size for obj in objects} == sizes
    now = dt.datetime.now(dt.UTC)
    for obj in objects:
        assert obj.last_modified.utcoffset() == dt.timedelta(0)
        assert now - dt.timedelta(minutes=5) < obj.last_modified <= now + dt.timedelta(seconds=5)
    assert all(page.prefix == "episode-thumbnails/" for page in pages)


def test_a_prefix_lists_exactly_the_keys_that_start_with_it(
    subject: Subject, listed: list[str]
) -> None:
    previews = [asset_key("preview", "m1", 1, "mp4"), asset_key("preview", "m2", 1, "mp4")]
    cases = {
        "episode-thumbnails/m1/": [k for k in listed if "/m1/" in k],
        "episode-thumbnails/m1": [k for k in listed if "/M1/" not in k],  # m1, m1-x, m1_x, m10
        "episode-thumbnails/m1-": [k for k in listed if "/m1-x/" in k],
        "episode-thumbnails/m1/ep1": [k for k in listed if "/m1/ep1" in k],
        "episode-thumbnails/m1/ep10_": [thumb("m1", 10)],
        "episode-previews/": previews,
        "episode-": [*previews, *listed],
        "notes/": ["notes/readme.txt"],
        "episode-thumbnails/zz": [],
        "nothing/here/": [],
    }
    for prefix, expected in cases.items():
        page = subject.store.list_page(subject.bucket, prefix)
        assert (page.keys, page.next_token) == (expected, None), prefix


def test_start_after_begins_the_listing_past_a_key_or_a_partial_key(
    subject: Subject, listed: list[str]
) -> None:
    store, bucket = subject.store, subject.bucket
    page = store.list_page(bucket, "episode-thumbnails/", max_keys=10, start_after=listed[7])
    assert page.keys == listed[8:18]
    assert page.next_token is not None
    rest = store.list_page(bucket, "episode-thumbnails/", page.next_token, 10)
    assert rest.keys == listed[18:]  # the token, not start_after, says where to go on
    partial = "episode-thumbnails/m1/ep1"  # not a key: lists from the first key past it
    page = store.list_page(bucket, "episode-thumbnails/", start_after=partial)
    assert page.keys == [key for key in listed if key > partial]
    assert store.list_page(bucket, "episode-thumbnails/", start_after=listed[-1]).keys == []


def test_list_range_returns_the_keys_between_two_keys_inclusive(
    subject: Subject, listed: list[str]
) -> None:
    sizes, requests = list_range(subject.store, subject.bucket, listed[3], listed[12])
    assert list(sizes) == listed[3:13]
    assert all(size >= 1 for size in sizes.values())
    assert requests == 1


def test_delete_removes_a_batch_and_counts_a_missing_key_as_deleted(subject: Subject) -> None:
    keys = [thumb("m7", episode) for episode in (1, 2, 3)]
    for key in keys:
        subject.put(key, b"gone soon")
    missing = thumb("m7", 9)
    outcome = subject.store.delete(subject.bucket, [keys[0], keys[1], missing])
    assert outcome.bucket == subject.bucket
    assert sorted(outcome.deleted) == sorted([keys[0], keys[1], missing])
    assert outcome.failures == ()
    assert subject.store.head(subject.bucket, keys[0]) is None
    assert subject.store.head(subject.bucket, keys[1]) is None
    assert subject.store.head(subject.bucket, keys[2]) is not None
    assert subject.store.list_page(subject.bucket, "episode-thumbnails/m7/").keys == [keys[2]]
    assert subject.store.delete(subject.bucket, []).deleted == ()


def test_delete_refuses_an_unmanaged_key_before_deleting_anything(subject: Subject) -> None:
    managed = thumb("m8", 1)
    subject.put(managed, b"keep me")
    subject.put("notes/readme.txt", b"not ours", "text/plain")
    with pytest.raises(InvalidKey):
        subject.store.delete(subject.bucket, [managed, "notes/readme.txt"])
    assert subject.store.head(subject.bucket, managed) is not None
    assert subject.store.head(subject.bucket, "notes/readme.txt") is not None
    too_many = [thumb("m8", n) for n in range(MAX_DELETE_BATCH + 1)]
    with pytest.raises(ValueError):
        subject.store.delete(subject.bucket, too_many)
    assert subject.store.head(subject.bucket, managed) is not None


def test_a_file_above_the_multipart_threshold_round_trips(subject: Subject) -> None:
    key = asset_key("preview", "m9", 1, "mp4")
    data = os.urandom(6 * MiB)  # above REELFLOW_MULTIPART_THRESHOLD=5 MiB
    digest = subject.put(key, data, "video/mp4")
    assert subject.store.head(subject.bucket, key) == ObjectInfo(size=6 * MiB, sha256=digest)
    body, size, got = subject.read(key)
    assert (size, got) == (6 * MiB, digest) and body == data
    [url], _ = subject.store.signed_urls(subject.bucket, [key], expires=60, now=time.time())
    response = subject.get(url)
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "video/mp4"
    slots = subject.store.put_slots(6 * MiB)
    if subject.store.name == "s3":
        # It really went in parts: S3's ETag of a multipart object ends in -<parts>.
        assert response.headers["etag"].strip('"').endswith("-2")
        assert slots > 1
    else:
        assert slots == 1  # a file copy is one stream


def test_signed_urls_fetch_the_bytes_and_expire_at_now_plus_expires(subject: Subject) -> None:
    keys = [thumb("m5", 1), thumb("m5", 2)]
    contents = [b"0123456789", b"second thumbnail"]
    for key, data in zip(keys, contents, strict=True):
        subject.put(key, data)
    now = time.time()
    urls, signed_at = subject.store.signed_urls(subject.bucket, keys, expires=900, now=now)
    assert signed_at == int(now) and len(urls) == 2
    for url, data in zip(urls, contents, strict=True):
        response = subject.get(url)
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == "image/webp"
    ranged = subject.get(urls[0], headers={"Range": "bytes=2-5"})
    assert ranged.status_code == 206 and ranged.content == b"2345"

    query = {name: values[0] for name, values in parse_qs(urlsplit(urls[0]).query).items()}
    if subject.store.name == "s3":
        # moto does not enforce expiry: the signed parameters say when it ends.
        stamp = calendar.timegm(time.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        assert stamp + int(query["X-Amz-Expires"]) == int(now) + 900
    else:
        assert int(query["expires"]) == int(now) + 900
        # The files router enforces what moto cannot show: expiry and the signature.
        [old], _ = subject.store.signed_urls(subject.bucket, keys[:1], expires=5, now=now - 60)
        assert subject.get(old).status_code == 403
        tampered = urls[0].replace(keys[0], keys[1])
        assert tampered != urls[0]
        assert subject.get(tampered).status_code == 403
