"""The disk store's own safety: keys and buckets that would leave the store, signed URLs that
were tampered with, writes cut short, and the URL secret. What every store must do is in
tests/integration/test_object_store.py."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from reelflow.adapters.storage import ObjectInfo, forget_stores
from reelflow.adapters.storage.disk import (
    BadSignature,
    DiskStore,
    NotInStore,
    UrlExpired,
    load_url_secret,
)
from reelflow.api import files, problems
from reelflow.core.errors import InvalidKey, StorageRejected, StorageUnavailable
from reelflow.settings import Settings, reset_settings

BUCKET = "media"
KEY = "episode-thumbnails/m1/ep1_thumb.webp"
SECRET = b"s" * 32


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def store(tmp_path: Path) -> DiskStore:
    disk = DiskStore(tmp_path / "objects", "http://files.test", SECRET)
    disk.ensure_bucket(BUCKET)
    return disk


def put(store: DiskStore, tmp_path: Path, key: str, data: bytes) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    store.put_file(
        BUCKET,
        key,
        str(source),
        content_type="image/webp",
        cache_control="max-age=60",
        sha256=sha(data),
    )


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- keys and buckets that would leave the store -----------------------------------------

ESCAPES = [
    "/etc/passwd",
    "../outside.txt",
    "../../etc/passwd",
    "episode-thumbnails/../../outside.txt",
    "episode-thumbnails/./m1/ep1_thumb.webp",
    "..",
    ".",
    "episode-thumbnails//m1/ep1_thumb.webp",
    "episode-thumbnails/m1/",
    "",
    "episode-thumbnails\\..\\..\\outside.txt",
    "..\\outside.txt",
    "episode-thumbnails/m1/ep1\x00.webp",
    "episode-thumbnails/m1/ep1\n.webp",
    ".url-secret",
    "episode-thumbnails/m1/.ep1_thumb.webp.meta",
    "episode-thumbnails/m1/.ep1_thumb.webp.abc123.tmp",
    "a/" + "x" * 201,
    "x" * 1025,
    "\udcff",
]


@pytest.mark.parametrize("key", ESCAPES)
def test_a_key_that_could_leave_the_bucket_is_refused_by_every_operation(
    store: DiskStore, tmp_path: Path, key: str
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"data")
    with pytest.raises(InvalidKey):
        store.head(BUCKET, key)
    with pytest.raises(InvalidKey):
        store.get_to(BUCKET, key, io.BytesIO(), max_bytes=10)
    with pytest.raises(InvalidKey):
        store.put_file(
            BUCKET, key, str(source), content_type="text/plain", cache_control="", sha256=""
        )
    with pytest.raises(InvalidKey):
        store.signed_urls(BUCKET, [key], expires=60, now=time.time())
    assert not (tmp_path / "outside.txt").exists()
    assert [p.name for p in (tmp_path / "objects" / BUCKET).iterdir()] == []


@pytest.mark.parametrize(
    "bucket",
    [
        "..",
        ".",
        "ab",
        "a" * 64,
        "Media",
        "me..dia",
        "-media",
        "media-",
        "me/dia",
        "me_dia",
        ".url-secret",
        "me\\dia",
        "/tmp",
    ],
)
def test_a_bucket_that_is_not_an_s3_bucket_name_is_refused(store: DiskStore, bucket: str) -> None:
    with pytest.raises(InvalidKey):
        store.ensure_bucket(bucket)
    with pytest.raises(InvalidKey):
        store.head(bucket, KEY)
    with pytest.raises(InvalidKey):
        store.signed_urls(bucket, [KEY], expires=60, now=time.time())


def test_a_symlink_out_of_the_bucket_is_refused(store: DiskStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ep1_thumb.webp").write_bytes(b"not the store's")
    (tmp_path / "objects" / BUCKET / "episode-thumbnails").mkdir()
    (tmp_path / "objects" / BUCKET / "episode-thumbnails" / "m1").symlink_to(outside)
    with pytest.raises(InvalidKey):
        store.head(BUCKET, KEY)
    with pytest.raises(InvalidKey):
        store.get_to(BUCKET, KEY, io.BytesIO(), max_bytes=100)
    # and a listing does not follow it either
    assert store.list_page(BUCKET, "episode-thumbnails/").keys == []
    with pytest.raises(InvalidKey):
        store.list_page(BUCKET, "episode-thumbnails/m1/")
    loop = tmp_path / "objects" / BUCKET / "episode-thumbnails" / "loop"
    loop.symlink_to(loop)
    with pytest.raises(InvalidKey):
        store.head(BUCKET, "episode-thumbnails/loop/ep1_thumb.webp")


def test_a_listing_prefix_that_could_leave_the_bucket_is_refused(store: DiskStore) -> None:
    for prefix in ("../", "episode-thumbnails/../../", "/etc/", "a//b/"):
        with pytest.raises(InvalidKey):
            store.list_page(BUCKET, prefix)


def test_a_managed_key_is_accepted_and_lands_where_its_name_says(
    store: DiskStore, tmp_path: Path
) -> None:
    put(store, tmp_path, KEY, b"thumb")
    assert (tmp_path / "objects" / BUCKET / KEY).read_bytes() == b"thumb"
    assert oct((tmp_path / "objects" / BUCKET / KEY).stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "objects" / BUCKET).stat().st_mode & 0o777) == "0o700"


# --- signed URLs -------------------------------------------------------------------------


Signed = tuple[str, str, str, str]  # bucket, key, expires, signature: verify_signed's args


def signed(store: DiskStore, now: float, expires: int = 600) -> Signed:
    [url], _ = store.signed_urls(BUCKET, [KEY], expires=expires, now=now)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    bucket, key = parts.path.removeprefix("/files/").split("/", 1)
    return bucket, key, query["expires"], query["signature"]


def flip(hex_text: str) -> str:
    return ("1" if hex_text[0] == "0" else "0") + hex_text[1:]


def test_a_good_signed_url_opens_the_object_with_its_stored_headers(
    store: DiskStore, tmp_path: Path
) -> None:
    put(store, tmp_path, KEY, b"thumb")
    now = 1_700_000_000.75
    bucket, key, expires, signature = signed(store, now)
    assert expires == str(1_700_000_000 + 600)
    opened = store.verify_signed(bucket, key, expires, signature, now + 599)
    assert opened.path.read_bytes() == b"thumb"
    assert (opened.size, opened.sha256) == (5, sha(b"thumb"))
    assert (opened.content_type, opened.cache_control) == ("image/webp", "max-age=60")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda b, k, e, s: ("other-bucket", k, e, s),
        lambda b, k, e, s: (b, "episode-thumbnails/m1/ep2_thumb.webp", e, s),
        lambda b, k, e, s: (b, k, str(int(e) + 1), s),
        lambda b, k, e, s: (b, k, str(int(e) - 1), s),
        lambda b, k, e, s: (b, k, e, flip(s)),
        lambda b, k, e, s: (b, k, e, s.upper()),
        lambda b, k, e, s: (b, k, e, s[:-1]),
        lambda b, k, e, s: (b, k, e, ""),
        lambda b, k, e, s: (b, k, "", s),
        lambda b, k, e, s: (b, k, "+" + e, s),
        lambda b, k, e, s: (b, k, "\u0661" * len(e), s),  # Arabic-Indic digits: not ours
        lambda b, k, e, s: (b, k, e, s + "00"),
    ],
    ids=[
        "bucket",
        "key",
        "expiry+1",
        "expiry-1",
        "flipped",
        "upper",
        "short",
        "no-signature",
        "no-expiry",
        "plus-sign",
        "unicode-digits",
        "long",
    ],
)
def test_a_tampered_signed_url_is_refused(
    store: DiskStore, tmp_path: Path, tamper: Callable[[str, str, str, str], Signed]
) -> None:
    put(store, tmp_path, KEY, b"thumb")
    put(store, tmp_path, "episode-thumbnails/m1/ep2_thumb.webp", b"other")
    store.ensure_bucket("other-bucket")
    now = time.time()
    with pytest.raises(BadSignature):
        store.verify_signed(*tamper(*signed(store, now)), now=now)


def test_a_url_signed_with_another_secret_is_refused(store: DiskStore, tmp_path: Path) -> None:
    put(store, tmp_path, KEY, b"thumb")
    other = DiskStore(tmp_path / "objects", "http://files.test", b"t" * 32)
    now = time.time()
    with pytest.raises(BadSignature):
        store.verify_signed(*signed(other, now), now)


def test_a_signed_url_expires_after_its_second(store: DiskStore, tmp_path: Path) -> None:
    put(store, tmp_path, KEY, b"thumb")
    now = 1_700_000_000.0
    args = signed(store, now, expires=60)
    assert store.verify_signed(*args, now + 60).size == 5  # through its expiry second
    with pytest.raises(UrlExpired):
        store.verify_signed(*args, now + 60.5)


def test_a_good_signature_over_an_escaping_key_still_reaches_nothing(
    store: DiskStore, tmp_path: Path
) -> None:
    (tmp_path / "objects" / "secret.txt").write_bytes(b"outside the bucket")
    expires = int(time.time()) + 60
    key = "../secret.txt"
    signature = store._signature(BUCKET, key, expires)  # as if the secret had leaked
    with pytest.raises(InvalidKey):
        store.verify_signed(BUCKET, key, str(expires), signature, time.time())


def test_a_signed_url_for_a_deleted_object_is_not_in_store(
    store: DiskStore, tmp_path: Path
) -> None:
    put(store, tmp_path, KEY, b"thumb")
    now = time.time()
    args = signed(store, now)
    store.delete(BUCKET, [KEY])
    with pytest.raises(NotInStore):
        store.verify_signed(*args, now)


# --- writes cut short ----------------------------------------------------------------------


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past `limit` bytes fail with EFBIG (the kernel's RLIMIT_FSIZE), as a quota
    would: a real write cut short in the middle of a copy."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_copy_cut_short_leaves_the_old_object_and_no_temporary_file(
    store: DiskStore, tmp_path: Path
) -> None:
    put(store, tmp_path, KEY, b"old thumb")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    folder = tmp_path / "objects" / BUCKET / "episode-thumbnails" / "m1"
    with file_size_limit(1 << 20), pytest.raises(StorageRejected, match="EFBIG"):
        store.put_file(
            BUCKET,
            KEY,
            str(big),
            content_type="image/webp",
            cache_control="",
            sha256=sha(big.read_bytes()),
        )
    info = store.head(BUCKET, KEY)
    assert info is not None and (info.size, info.sha256) == (9, sha(b"old thumb"))
    out = io.BytesIO()
    assert store.get_to(BUCKET, KEY, out, max_bytes=100) == (9, sha(b"old thumb"))
    assert out.getvalue() == b"old thumb"
    assert hidden_files(folder) == [".ep1_thumb.webp.meta"]  # the sidecar, no .tmp
    assert store.list_page(BUCKET, "").keys == [KEY]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (errno.EIO, StorageUnavailable),
        (errno.ENOSPC, StorageUnavailable),
        (errno.EACCES, StorageRejected),
    ],
    ids=["EIO-transient", "ENOSPC-transient", "EACCES-terminal"],
)
def test_a_failed_fsync_removes_the_temporary_file_and_names_the_kind_of_failure(
    store: DiskStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, error: type
) -> None:
    put(store, tmp_path, KEY, b"old thumb")
    folder = tmp_path / "objects" / BUCKET / "episode-thumbnails" / "m1"

    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(error) as caught:
        put(store, tmp_path, KEY, b"new thumb")
    monkeypatch.undo()
    assert not isinstance(caught.value, OSError)
    assert hidden_files(folder) == [".ep1_thumb.webp.meta"]
    info = store.head(BUCKET, KEY)
    assert info is not None and info.sha256 == sha(b"old thumb")
    assert (folder / "ep1_thumb.webp").read_bytes() == b"old thumb"


def test_a_crash_before_the_sidecar_never_pairs_new_bytes_with_the_old_sha256(
    store: DiskStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The object is renamed in, then the sidecar's rename fails (as a crash there would
    stop it): head must not claim the old object's sha256 for the new bytes."""
    put(store, tmp_path, KEY, b"old thumb")
    real_replace = os.replace
    calls: list[str] = []

    def replace_then_fail(src: str, dst: str) -> None:
        calls.append(str(dst))
        if str(dst).endswith(".meta"):
            raise OSError(errno.EIO, "I/O error")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_fail)
    with pytest.raises(StorageUnavailable):
        put(store, tmp_path, KEY, b"new thumb, longer")
    monkeypatch.undo()
    assert [Path(c).name for c in calls] == ["ep1_thumb.webp", ".ep1_thumb.webp.meta"]
    info = store.head(BUCKET, KEY)
    assert info is not None
    assert (info.size, info.sha256) == (len(b"new thumb, longer"), None)
    folder = tmp_path / "objects" / BUCKET / "episode-thumbnails" / "m1"
    assert hidden_files(folder) == []  # the old sidecar went first; no temporary file stays


def test_a_sidecar_written_for_other_bytes_is_never_believed(
    store: DiskStore, tmp_path: Path
) -> None:
    """Two puts racing on one key: A's bytes are renamed in, then B's, then A's sidecar lands
    last. B's bytes are the same size as A's, so only the sidecar's record of which file it
    was written for tells them apart."""
    folder = tmp_path / "objects" / BUCKET / "episode-thumbnails" / "m1"
    put(store, tmp_path, KEY, b"AAAA")
    sidecar_of_a = (folder / ".ep1_thumb.webp.meta").read_bytes()
    put(store, tmp_path, KEY, b"BBBB")
    (folder / ".ep1_thumb.webp.meta").write_bytes(sidecar_of_a)
    info = store.head(BUCKET, KEY)
    assert info is not None and (info.size, info.sha256) == (4, None)
    now = time.time()
    opened = store.verify_signed(*signed(store, now), now)
    assert (opened.sha256, opened.content_type) == (None, "application/octet-stream")
    put(store, tmp_path, KEY, b"BBBB")  # a put again records what is there
    assert store.head(BUCKET, KEY) == ObjectInfo(size=4, sha256=sha(b"BBBB"))


# --- the file system's refusals are reelflow's errors ---------------------------------------


def test_a_put_into_a_missing_bucket_or_through_a_file_is_rejected(
    store: DiskStore, tmp_path: Path
) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(b"x")
    args = {"content_type": "text/plain", "cache_control": "", "sha256": ""}
    with pytest.raises(StorageRejected, match="does not exist"):
        store.put_file("no-such-bucket", KEY, str(source), **args)
    put(store, tmp_path, "notes", b"a file where a folder would go")
    with pytest.raises(StorageRejected) as caught:
        store.put_file(BUCKET, "notes/readme.txt", str(source), **args)
    assert not isinstance(caught.value, OSError)


def test_probe_answers_for_a_writable_bucket_and_refuses_a_root_that_is_not_a_folder(
    store: DiskStore, tmp_path: Path
) -> None:
    store.probe(BUCKET)  # answers: no error
    with pytest.raises(StorageRejected):
        store.probe("no-such-bucket")
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_bytes(b"")
    with pytest.raises(StorageUnavailable):
        DiskStore(not_a_folder, "http://x", SECRET).probe(BUCKET)
    with pytest.raises(StorageUnavailable):
        DiskStore(tmp_path / "never-made", "http://x", SECRET).probe(BUCKET)


def test_probe_says_down_when_a_put_would_not_fit(store: DiskStore) -> None:
    """A disk with room for an empty file but not for an object is down for the outage gate:
    a probe that only made an empty file would let held puts go into ENOSPC again."""
    with file_size_limit(16 * 1024), pytest.raises(StorageUnavailable, match="not writable"):
        store.probe(BUCKET)
    store.probe(BUCKET)  # room again: up
    folder = store.root / BUCKET
    assert not [p for p in folder.iterdir() if p.name.startswith(".probe.")], "no probe left"


# --- the URL secret --------------------------------------------------------------------------


def test_the_generated_secret_is_made_once_owner_only_and_shared(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    found: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: found.append(load_url_secret(root))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8 and len(set(found)) == 1 and len(found[0]) == 32
    secret_file = root / ".url-secret"
    assert secret_file.read_bytes() == found[0]
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in root.iterdir()) == [".url-secret"]  # no temporary left
    values: dict[str, object] = {
        "_env_file": None,
        "REELFLOW_STORAGE": "disk",
        "REELFLOW_DISK_ROOT": root,
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    one, two = DiskStore.from_settings(settings), DiskStore.from_settings(settings)
    assert one.signed_urls(BUCKET, [KEY], expires=5, now=1.0) == two.signed_urls(
        BUCKET, [KEY], expires=5, now=1.0
    )
    assert found[0].hex() not in repr(one) and str(found[0]) not in repr(one)


def test_a_configured_secret_signs_instead_of_a_generated_one(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    values: dict[str, object] = {
        "_env_file": None,
        "REELFLOW_STORAGE": "disk",
        "REELFLOW_DISK_ROOT": root,
        "REELFLOW_DISK_URL_SECRET": "configured-secret-0123456789",
        "REELFLOW_DISK_URL_BASE": "https://media.example/",
    }
    settings = Settings(**values)  # type: ignore[arg-type]
    store = DiskStore.from_settings(settings)
    direct = DiskStore(root, "https://media.example", b"configured-secret-0123456789")
    assert not (root / ".url-secret").exists()
    urls, _ = store.signed_urls(BUCKET, [KEY], expires=5, now=1.0)
    assert urls == direct.signed_urls(BUCKET, [KEY], expires=5, now=1.0)[0]
    assert urls[0].startswith(f"https://media.example/files/{BUCKET}/{KEY}?expires=6&signature=")


# --- the same refusals over HTTP ---------------------------------------------------------------


@pytest.fixture()
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[DiskStore, TestClient]]:
    """The files router on a bare app, serving the disk store the environment names."""
    from reelflow.services import resources

    monkeypatch.setenv("REELFLOW_STORAGE", "disk")
    monkeypatch.setenv("REELFLOW_DISK_ROOT", str(tmp_path / "objects"))
    monkeypatch.setenv("REELFLOW_DISK_URL_BASE", "http://testserver")
    monkeypatch.delenv("REELFLOW_DISK_URL_SECRET", raising=False)
    reset_settings()
    forget_stores()
    store = resources.store()
    assert isinstance(store, DiskStore)
    store.ensure_bucket(BUCKET)
    app = FastAPI()
    problems.install(app)
    app.include_router(files.router)
    with TestClient(app) as client:
        yield store, client
    reset_settings()
    forget_stores()


def test_http_serves_a_good_url_with_private_nosniff_headers_and_ranges(
    served: tuple[DiskStore, TestClient], tmp_path: Path
) -> None:
    store, client = served
    put(store, tmp_path, KEY, b"0123456789")
    [url], _ = store.signed_urls(BUCKET, [KEY], expires=60, now=time.time())
    response = client.get(url)
    assert response.status_code == 200 and response.content == b"0123456789"
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["x-content-type-options"] == "nosniff"
    ranged = client.get(url, headers={"Range": "bytes=2-5"})
    assert ranged.status_code == 206 and ranged.content == b"2345"
    assert ranged.headers["content-range"] == "bytes 2-5/10"


@pytest.mark.parametrize(
    "path",
    [
        "/files/media/..%2f..%2f.url-secret",
        "/files/media/%2e%2e/%2e%2e/.url-secret",
        "/files/..%2F/.url-secret",
        "/files/%2e%2e/.url-secret",
        "/files/media/episode-thumbnails%2f..%2f..%2f.url-secret",
        "/files/media/.url-secret",
        "/files/media/episode-thumbnails/",
        "/files/media/episode-thumbnails",
        "/files/media/",
    ],
)
def test_http_reaches_nothing_outside_an_object_whatever_the_encoding(
    served: tuple[DiskStore, TestClient], tmp_path: Path, path: str
) -> None:
    store, client = served
    put(store, tmp_path, KEY, b"thumb")
    [url], _ = store.signed_urls(BUCKET, [KEY], expires=60, now=time.time())
    query = urlsplit(url).query  # a good signature, for another key
    for candidate in (path, f"{path}?{query}"):
        response = client.get(candidate)
        # The handler saw it (decoded: `..`, `/`) and refused it; nothing was read.
        assert response.status_code == 403, candidate
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "forbidden"


def test_http_answers_a_validly_signed_escape_or_folder_with_404(
    served: tuple[DiskStore, TestClient],
) -> None:
    store, client = served
    (store.root / BUCKET / "episode-thumbnails").mkdir()
    expires = int(time.time()) + 60
    for key, path in [
        ("../.url-secret", "/files/media/%2e%2e/.url-secret"),
        ("episode-thumbnails", "/files/media/episode-thumbnails"),
    ]:
        signature = store._signature(BUCKET, key, expires)  # as if the secret had leaked
        response = client.get(f"{path}?expires={expires}&signature={signature}")
        assert response.status_code == 404, key
        assert response.json()["code"] == "not-found"


def test_http_refuses_tampered_expired_and_missing(
    served: tuple[DiskStore, TestClient], tmp_path: Path
) -> None:
    store, client = served
    put(store, tmp_path, KEY, b"thumb")
    [url], _ = store.signed_urls(BUCKET, [KEY], expires=60, now=time.time())
    tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert client.get(tampered).json()["code"] == "forbidden"
    assert client.get(url.split("?")[0]).status_code == 403
    [old], _ = store.signed_urls(BUCKET, [KEY], expires=10, now=time.time() - 100)
    expired = client.get(old)
    assert (expired.status_code, expired.json()["code"]) == (403, "expired")
    [gone], _ = store.signed_urls(
        BUCKET, ["episode-thumbnails/m1/ep9_thumb.webp"], expires=60, now=time.time()
    )
    assert client.get(gone).status_code == 404


def test_http_answers_404_when_the_configured_store_is_s3(
    served: tuple[DiskStore, TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, client = served
    put(store, tmp_path, KEY, b"thumb")
    [url], _ = store.signed_urls(BUCKET, [KEY], expires=60, now=time.time())
    monkeypatch.setenv("REELFLOW_STORAGE", "s3")
    reset_settings()
    response = client.get(url)
    assert (response.status_code, response.json()["code"]) == (404, "not-found")
