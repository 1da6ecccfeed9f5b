"""DiskStore: the object-store port (reelflow.adapters.storage.base) over a folder on one
machine, for a single host without S3 (Rails Active Storage's Disk service, same idea).

    <root>/.url-secret                        32 random bytes signing URLs (owner-only)
    <root>/<bucket>/<key>                     the object's bytes, exactly
    <root>/<bucket>/<dir>/.<name>.meta        its sidecar: sha256, content type, cache
    <root>/<bucket>/<dir>/.<name>.<rand>.tmp  a write in progress (never listed)

Every key segment starting with "." is refused (InvalidKey): that is what keeps sidecars,
temporary files and the secret out of reach of any key, and `.`/`..` out of every path. A key
is also refused when it is absolute, has an empty segment, a backslash, NUL or another control
character, or resolves (symlinks followed) outside <root>/<bucket>. Managed keys
(reelflow.core.keys) always pass; a foreign key S3 would take ("a/.b") may not.

Writes are atomic (temporary file in the same folder, fsync, rename, fsync of the folder): a
reader sees the old object or the new one, never a part. Objects and folders are private
(0o600, 0o700); a signed URL, answered by reelflow.api.files under /files/, is the only way to
read one over HTTP. File-system errors become reelflow's: StorageUnavailable when waiting may
help (full disk, I/O error), StorageRejected when it cannot (permission, a folder in the way).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from reelflow.adapters.storage.base import (
    MAX_DELETE_BATCH,
    MAX_LIST_PAGE,
    DeleteOutcome,
    KeyFailure,
    ObjectInfo,
    ObjectPage,
)
from reelflow.core.errors import (
    ConfigurationError,
    InvalidKey,
    StorageRejected,
    StorageUnavailable,
    TerminalError,
    TooLarge,
)
from reelflow.core.keys import check_managed_key
from reelflow.core.sweep import ListedObject
from reelflow.settings import Settings

__all__ = [
    "SECRET_FILE",
    "BadSignature",
    "DiskStore",
    "NotInStore",
    "OpenedObject",
    "UrlExpired",
    "UrlRefused",
    "load_url_secret",
]

_PROBE_BYTES = 64 * 1024  # what the probe writes: a disk too full for it is down

SECRET_FILE = ".url-secret"  # noqa: S105 - the file's name, not a secret
SECRET_BYTES = 32
CHUNK = 1 << 20  # copy and hash a megabyte at a time: memory stays flat whatever the size
MAX_KEY_BYTES = 1024  # S3's limit
MAX_SEGMENT_BYTES = 200  # below NAME_MAX (255) with room for ".<name>.<random>.tmp"
_BUCKET = re.compile(r"[a-z0-9](?:[a-z0-9-]|\.(?!\.)){1,61}[a-z0-9]")  # S3's naming rule
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNED_PREFIX = "reelflow-disk-url-v1"
_DEFAULT_TYPE = "application/octet-stream"

# Worth another attempt: space or descriptors free up, a flaky disk or NFS server comes back.
# Anything else (EACCES, EPERM, EROFS, ENOTDIR, EISDIR, EFBIG, ...) will fail the same way.
_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ENOBUFS,
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ESTALE,
    }
)


class UrlRefused(TerminalError):
    """A signed URL the disk store will not answer (reelflow.api.files: 403)."""


class BadSignature(UrlRefused):
    """The URL's signature is missing, malformed, or does not cover this bucket, key and
    expiry: it was not made by this store's secret, or was changed since."""


class UrlExpired(UrlRefused):
    """The URL's signature is good but its expiry second has passed."""


class NotInStore(StorageRejected):
    """The object is not (or no longer) in the store: terminal, retrying will not bring it."""


@dataclass(frozen=True)
class OpenedObject:
    """An object a signed URL may read: where it is and how to serve it."""

    path: Path
    size: int
    content_type: str
    cache_control: str
    sha256: str | None


@dataclass(frozen=True)
class _Meta:
    """What a sidecar records, and which file it was written for: the inode, size and
    modification time the object's bytes had when they were renamed into place (a rename
    keeps all three). A sidecar that names other bytes is ignored, so two puts racing on one
    key can never leave one's sha256 on the other's bytes."""

    sha256: str | None
    content_type: str
    cache_control: str
    inode: int
    size: int
    mtime_ns: int

    def describes(self, stat: os.stat_result) -> bool:
        return (self.inode, self.size, self.mtime_ns) == (
            stat.st_ino,
            stat.st_size,
            stat.st_mtime_ns,
        )


def _translate(exc: OSError, what: str) -> StorageUnavailable | StorageRejected:
    code = errno.errorcode.get(exc.errno or 0, "unknown")
    message = f"{what}: {exc.strerror or type(exc).__name__} ({code})"  # no path: just the key
    if exc.errno in _TRANSIENT_ERRNOS:
        return StorageUnavailable(message)
    return StorageRejected(message)


@contextlib.contextmanager
def _fs_errors(what: str) -> Iterator[None]:
    """`with _fs_errors("put b/k"):` re-raises an OSError as reelflow's storage error."""
    try:
        yield
    except OSError as exc:
        raise _translate(exc, what) from exc


def _fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, an unlink, a new file) survive a power cut."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path | str) -> bool:
    """Remove a file if it is there; True if it was."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.meta")


def _check_bucket(bucket: str) -> str:
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
        raise InvalidKey(
            f"bucket {bucket!r} is not a bucket name: 3-63 lowercase letters, digits, dots "
            "and hyphens, starting and ending with a letter or digit"
        )
    return bucket


def _check_key(key: str) -> list[str]:
    """The key's segments if it can name a file in a bucket folder; InvalidKey otherwise."""

    def refuse(reason: str) -> InvalidKey:
        return InvalidKey(f"key {key!r} cannot name an object in the disk store: {reason}")

    if not isinstance(key, str) or not key:
        raise refuse("it is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise refuse("it is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise refuse(f"it is over {MAX_KEY_BYTES} bytes")
    if "\\" in key:
        raise refuse("it holds a backslash")
    if _CONTROL.search(key):
        raise refuse("it holds NUL or another control character")
    if key.startswith("/"):
        raise refuse("it is absolute")
    segments = key.split("/")
    for segment in segments:
        if not segment:
            raise refuse("it has an empty segment")
        if segment.startswith("."):
            raise refuse("a segment starts with '.' (., .. and the store's own files)")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise refuse(f"a segment is over {MAX_SEGMENT_BYTES} bytes")
    return segments


def _strictly_inside(path: Path, base: Path) -> bool:
    """True if `path`, symlinks followed, is below `base` (not `base` itself); False for a
    symlink loop too."""
    try:
        resolved, inside = path.resolve(), base.resolve()
    except (OSError, RuntimeError):  # RuntimeError: pathlib's "Symlink loop"
        return False
    return resolved != inside and resolved.is_relative_to(inside)


def _check_header(name: str, value: str) -> None:
    if not isinstance(value, str) or _CONTROL.search(value):
        raise StorageRejected(f"{name} {value!r} is not a header value")


def _read_meta(path: Path, stat: os.stat_result) -> _Meta | None:
    """The sidecar of the object at `path` if it describes these bytes (`stat`), else None:
    missing, unreadable, not ours, or written for bytes that were replaced since."""
    try:
        with open(_sidecar(path), "rb") as handle:
            raw = json.loads(handle.read(64 * 1024))
        meta = _Meta(
            sha256=raw["sha256"] or None,
            content_type=raw["content_type"],
            cache_control=raw["cache_control"],
            inode=raw["inode"],
            size=raw["size"],
            mtime_ns=raw["mtime_ns"],
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not all(isinstance(v, str) for v in (meta.content_type, meta.cache_control)) or not all(
        isinstance(v, int) for v in (meta.inode, meta.size, meta.mtime_ns)
    ):
        return None
    if meta.sha256 is not None and not isinstance(meta.sha256, str):
        return None
    return meta if meta.describes(stat) else None


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a small file whole or not at all (temporary file, fsync, rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def load_url_secret(root: Path) -> bytes:
    """The key signing URLs when REELFLOW_DISK_URL_SECRET is unset: 32 random bytes made once
    into <root>/.url-secret (mode 0o600) and read from then on.

    The bytes go into a temporary file first and are linked into place with os.link, which,
    like O_EXCL, fails if the name exists: two processes starting together agree on the first
    one's secret, and neither can read a half-written file (O_EXCL alone would let the loser
    read it before the winner's write)."""
    path = root / SECRET_FILE
    with _fs_errors(f"URL secret in {root}"):
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=root, prefix=f"{SECRET_FILE}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:  # mkstemp creates it 0o600, O_EXCL
                    out.write(secrets.token_bytes(SECRET_BYTES))
                    out.flush()
                    os.fsync(out.fileno())
                with contextlib.suppress(FileExistsError):  # another process was first
                    os.link(tmp, path)
            finally:
                _unlink(tmp)
            _fsync_dir(root)
        with open(path, "rb") as handle:
            secret = handle.read(SECRET_BYTES + 1)
    if len(secret) != SECRET_BYTES:
        raise ConfigurationError(
            f"{path} does not hold a {SECRET_BYTES}-byte URL secret: remove it (signed URLs "
            "out now stop working) or set REELFLOW_DISK_URL_SECRET"
        )
    return secret


def _url_base(settings: Settings) -> str:
    if settings.disk_url_base:
        return settings.disk_url_base
    host = settings.api_host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"http://{host}:{settings.api_port}"


class DiskStore:
    """The ObjectStore port over <root>/<bucket>/<key>. Thread-safe and process-safe: it keeps
    no state but its paths and its secret, and every write is a rename."""

    name = "disk"

    def __init__(self, root: Path, url_base: str, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the URL secret must be at least 16 bytes")
        self.root = Path(root).expanduser().resolve()
        self.url_base = url_base.rstrip("/")
        self._secret = secret

    def __repr__(self) -> str:  # never the secret
        return f"DiskStore(root={str(self.root)!r}, url_base={self.url_base!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> DiskStore:
        """The store REELFLOW_DISK_ROOT names, signing with REELFLOW_DISK_URL_SECRET or, unset,
        with the secret generated once into the root."""
        root = settings.disk_root.expanduser().resolve()
        if settings.disk_url_secret is not None:
            secret = settings.disk_url_secret.get_secret_value().encode("utf-8")
            if len(secret) < 16:
                raise ConfigurationError(
                    "REELFLOW_DISK_URL_SECRET is too short: use 16 characters or more "
                    "(or unset it to have one generated)"
                )
        else:
            secret = load_url_secret(root)
        return cls(root, _url_base(settings), secret)

    # -- paths -------------------------------------------------------------------------------
    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / _check_bucket(bucket)

    def _path(self, bucket: str, key: str) -> Path:
        """Where `key` lives; InvalidKey unless that is inside the bucket's folder, symlinks
        followed (what resolves outside is refused, whatever the key looked like)."""
        base = self._bucket_dir(bucket)
        path = base.joinpath(*_check_key(key))
        if not _strictly_inside(path, base):
            raise InvalidKey(f"key {key!r} resolves outside bucket {bucket!r}")
        return path

    def _require_bucket(self, bucket: str) -> Path:
        base = self._bucket_dir(bucket)
        if not base.is_dir():
            raise StorageRejected(f"bucket {bucket!r} does not exist in {self.root}")
        return base

    # -- buckets -----------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> bool:
        """Create the bucket's folder (0o700) if missing. True if it was created."""
        base = self._bucket_dir(bucket)
        with _fs_errors(f"create bucket {bucket}"):
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                base.mkdir(mode=0o700)
            except FileExistsError:
                if not base.is_dir():
                    raise StorageRejected(f"bucket {bucket!r}: a file is in the way") from None
                return False
            _fsync_dir(self.root)
        return True

    def probe(self, bucket: str) -> None:
        """Returns when the bucket's folder takes a file; StorageUnavailable when the root is
        not a writable folder (unmounted, read-only, full), StorageRejected if the bucket is
        missing (as S3 answers). It writes, syncs and removes one hidden 64 KiB file: root
        passes os.access on a read-only folder, and an empty file still fits on a full disk
        (an inode and a folder entry), while a put does not."""
        if not self.root.is_dir():
            raise StorageUnavailable(f"the disk store's root {self.root} is not a folder")
        base = self._require_bucket(bucket)
        try:
            fd, tmp = tempfile.mkstemp(dir=base, prefix=".probe.", suffix=".tmp")
            try:
                with os.fdopen(os.dup(fd), "wb") as probe:  # writes all of it, or raises
                    probe.write(bytes(_PROBE_BYTES))
                    probe.flush()
                    os.fsync(probe.fileno())
            finally:
                os.close(fd)
                os.unlink(tmp)
        except OSError as exc:
            raise StorageUnavailable(
                f"the disk store's bucket {bucket!r} is not writable: {exc.strerror}"
            ) from exc

    # -- objects -----------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """Size and recorded sha256 of the object, or None if it does not exist. A sidecar
        written for other bytes (a write cut short, a racing put) counts as none."""
        path = self._path(bucket, key)
        with _fs_errors(f"head {bucket}/{key}"):
            try:
                stat = path.stat()
            except (FileNotFoundError, NotADirectoryError):
                return None
        if not os.path.isfile(path):
            return None
        meta = _read_meta(path, stat)
        return ObjectInfo(size=stat.st_size, sha256=meta.sha256 if meta else None)

    def put_slots(self, size: int) -> int:
        """One: a file copy is one stream, however large."""
        return 1

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str,
        *,
        content_type: str,
        cache_control: str,
        sha256: str,
    ) -> None:
        """Copy a local file in as `key`, streamed, replacing any object there atomically.

        The sha256 is recorded as given (as S3Store records it) so a re-run can prove an object
        is already the right one without reading it."""
        target = self._path(bucket, key)
        _check_header("content type", content_type)
        _check_header("cache control", cache_control)
        what = f"put {bucket}/{key}"
        with _fs_errors(what):
            base = self._require_bucket(bucket)
            self._make_parents(target.parent, base)
            tmp, written = self._copy_in(Path(path), target)
            sidecar = _sidecar(target)
            try:
                # Order, so that no crash leaves a sidecar claiming another object's sha256:
                # 1. the old sidecar goes first (and that is made durable), 2. the new bytes
                # are renamed in, 3. the new sidecar is renamed in. A crash after 1 or 2 leaves
                # an object with no sidecar: head says "no sha256 recorded" and a re-run puts
                # it again. Sidecar-first would pair a new sha256 with the old bytes after a
                # crash; object-first without step 1 would pair the old sha256 with new bytes.
                # The sidecar also names the bytes it was written for (_Meta.describes), so a
                # racing put's late sidecar is ignored rather than believed.
                if _unlink(sidecar):
                    _fsync_dir(target.parent)
                os.replace(tmp, target)
            except BaseException:
                _unlink(tmp)
                raise
            meta = {
                "sha256": sha256,
                "content_type": content_type,
                "cache_control": cache_control,
                "inode": written.st_ino,
                "size": written.st_size,
                "mtime_ns": written.st_mtime_ns,
            }
            _write_atomic(sidecar, json.dumps(meta).encode("utf-8"))
            _fsync_dir(target.parent)

    def _make_parents(self, folder: Path, base: Path) -> None:
        """Create the key's folders (0o700), each made durable in its parent."""
        missing: list[Path] = []
        current = folder
        while current != base and not current.is_dir():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent put made it
                path.mkdir(mode=0o700)
            _fsync_dir(path.parent)

    @staticmethod
    def _copy_in(source: Path, target: Path) -> tuple[str, os.stat_result]:
        """Copy `source` into a temporary file beside `target`, a chunk at a time, and fsync
        it; the temporary file's name and its stat. On any failure it is removed: nothing
        partial stays."""
        with open(source, "rb") as src:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                    out.flush()
                    os.fsync(out.fileno())
                    written = os.fstat(out.fileno())
            except BaseException:
                _unlink(tmp)
                raise
        return tmp, written

    def get_to(self, bucket: str, key: str, dest: BinaryIO, *, max_bytes: int) -> tuple[int, str]:
        """Stream an object into `dest`; (bytes, sha256 hex). A missing object is NotInStore
        (a StorageRejected: terminal); one over max_bytes is TooLarge, before more is read."""
        path = self._path(bucket, key)
        what = f"download {bucket}/{key}"
        digest = hashlib.sha256()
        size = 0
        with _fs_errors(what):
            try:
                src = open(path, "rb")  # noqa: SIM115 - closed by the `with src` below
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                raise NotInStore(f"{bucket}/{key} is not in the store any more") from None
        with src:
            with _fs_errors(what):
                too_large = os.fstat(src.fileno()).st_size > max_bytes
            while not too_large:
                with _fs_errors(what):
                    chunk = src.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                too_large = size > max_bytes  # it grew: a replacement is no excuse
                if not too_large:
                    digest.update(chunk)
                    dest.write(chunk)  # the caller's file: its errors are its own, untranslated
            if too_large:
                raise TooLarge(f"{bucket}/{key} is over {max_bytes} bytes")
        return size, digest.hexdigest()

    # -- listing and deleting ----------------------------------------------------------------
    def list_page(
        self,
        bucket: str,
        prefix: str,
        token: str | None = None,
        max_keys: int = MAX_LIST_PAGE,
        *,
        start_after: str | None = None,
    ) -> ObjectPage:
        """Up to max_keys (at most 1000) objects under prefix in bytewise key order, continuing
        from `token` (or, for the first page, from after `start_after`), as S3 lists them.

        Only the folder that can hold the prefix is walked, each folder's entries sorted so
        the walk itself yields keys in order (a folder sorts as its name plus "/", which is
        where its keys sort), and folders wholly before the start are skipped."""
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, not {max_keys}")
        max_keys = min(max_keys, MAX_LIST_PAGE)
        after = _decode_token(token) if token else start_after
        base = self._require_bucket(bucket)
        folder_part, _, name_start = prefix.rpartition("/")
        folder = base.joinpath(*_check_key(folder_part)) if folder_part else base
        if folder_part and not _strictly_inside(folder, base):
            raise InvalidKey(f"prefix {prefix!r} resolves outside bucket {bucket!r}")
        key_start = f"{folder_part}/" if folder_part else ""
        objects: list[ListedObject] = []
        more = False
        with _fs_errors(f"list {bucket}/{prefix}"):
            for key, entry in _walk(folder, key_start, name_start, after):
                if len(objects) == max_keys:
                    more = True
                    break
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted while we listed
                    continue
                modified = dt.datetime.fromtimestamp(stat.st_mtime, tz=dt.UTC)
                objects.append(ListedObject(key=key, size=stat.st_size, last_modified=modified))
        next_token = _encode_token(objects[-1].key) if more and objects else None
        return ObjectPage(prefix=prefix, objects=tuple(objects), next_token=next_token)

    def delete(self, bucket: str, keys: Sequence[str]) -> DeleteOutcome:
        """Delete up to 1000 managed keys; a key that is not there counts as deleted (what a
        purge wants). Every key is checked before anything is removed. A key the file system
        refuses is a KeyFailure (InternalError when transient, AccessDenied otherwise)."""
        if len(keys) > MAX_DELETE_BATCH:
            raise ValueError(f"at most {MAX_DELETE_BATCH} keys per request, not {len(keys)}")
        if not keys:
            return DeleteOutcome(bucket=bucket, deleted=(), failures=())
        for key in keys:
            check_managed_key(key)  # the last line of defence: raises InvalidKey
        paths = [(key, self._path(bucket, key)) for key in keys]
        self._require_bucket(bucket)
        deleted: list[str] = []
        failures: list[KeyFailure] = []
        touched: set[Path] = set()
        for key, path in paths:
            try:
                # The object before its sidecar: a crash between leaves a sidecar with no
                # object, which head ignores and the next put of the key removes.
                removed = _unlink(path)
                removed = _unlink(_sidecar(path)) or removed
            except (IsADirectoryError, NotADirectoryError):
                deleted.append(key)  # a folder, not an object: no object by that key
                continue
            except OSError as exc:
                transient = exc.errno in _TRANSIENT_ERRNOS
                code = "InternalError" if transient else "AccessDenied"
                failures.append(KeyFailure(key=key, code=code, message=exc.strerror or ""))
                continue
            deleted.append(key)
            if removed:
                touched.add(path.parent)
        with _fs_errors(f"delete {len(keys)} objects from {bucket}"):
            for folder in touched:
                _fsync_dir(folder)
        return DeleteOutcome(bucket=bucket, deleted=tuple(deleted), failures=tuple(failures))

    # -- URLs --------------------------------------------------------------------------------
    def _signature(self, bucket: str, key: str, expires: int) -> str:
        # The method, bucket, key and expiry, one per line: the bucket and key cannot hold a
        # newline (both are checked before signing), so no two requests share a message.
        message = "\n".join((_SIGNED_PREFIX, "GET", bucket, key, str(expires)))
        return hmac.new(
            self._secret, message.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()

    def signed_urls(
        self, bucket: str, keys: Sequence[str], *, expires: int, now: float
    ) -> tuple[list[str], int]:
        """GET URLs under {url_base}/files/ valid until int(now) + expires, and int(now)."""
        if expires < 1:
            raise ValueError(f"expires must be at least 1 second, not {expires}")
        signed_at = int(now)
        until = signed_at + expires
        urls = []
        for key in keys:
            self._path(bucket, key)  # never sign a key that could not be served
            signature = self._signature(bucket, key, until)
            urls.append(
                f"{self.url_base}/files/{bucket}/{quote(key, safe='/')}"
                f"?expires={until}&signature={signature}"
            )
        return urls, signed_at

    def verify_signed(
        self, bucket: str, key: str, expires: str, signature: str, now: float
    ) -> OpenedObject:
        """The object a signed URL names, if the URL is good now: BadSignature when the
        signature does not cover this bucket, key and expiry, UrlExpired after the expiry
        second, InvalidKey for a key that cannot be in the bucket, NotInStore if it is not."""
        if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature):
            raise BadSignature("the URL has no valid expires and signature parameters")
        until = int(expires)
        if not hmac.compare_digest(self._signature(bucket, key, until), signature):
            raise BadSignature("the URL's signature does not match")
        if now > until:
            raise UrlExpired("the URL has expired")
        path = self._path(bucket, key)
        missing = NotInStore(f"{bucket}/{key} is not in the store any more")
        with _fs_errors(f"open {bucket}/{key}"):
            try:
                resolved = path.resolve(strict=True)
                stat = resolved.stat()
            except (FileNotFoundError, NotADirectoryError):
                raise missing from None
        if not os.path.isfile(resolved):  # a folder: never a listing
            raise missing
        meta = _read_meta(resolved, stat)
        return OpenedObject(
            path=resolved,
            size=stat.st_size,
            content_type=meta.content_type if meta else _DEFAULT_TYPE,
            cache_control=meta.cache_control if meta else "",
            sha256=meta.sha256 if meta else None,
        )


def _walk(
    folder: Path, key_start: str, name_start: str, after: str | None
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """(key, os.DirEntry) of every object under `folder` whose name starts with name_start
    and whose key sorts after `after`, in bytewise key order. Hidden entries (sidecars,
    temporary files) and symlinks are never objects."""
    try:
        scanned = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return
    entries: list[tuple[str, os.DirEntry[str], bool]] = []
    for entry in scanned:
        name = entry.name
        if name.startswith(".") or not name.startswith(name_start):
            continue
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # not a name reelflow wrote: no key can name it
            continue
        if entry.is_dir(follow_symlinks=False):
            entries.append((f"{key_start}{name}/", entry, True))
        elif entry.is_file(follow_symlinks=False):
            entries.append((f"{key_start}{name}", entry, False))
    # str order is code point order, which is UTF-8 byte order: S3's order.
    entries.sort(key=lambda item: item[0])
    for sort_key, entry, is_folder in entries:
        if is_folder:
            # Every key below starts with sort_key; skip them all when `after` is past them.
            if after is not None and after > sort_key and not after.startswith(sort_key):
                continue
            yield from _walk(Path(entry.path), sort_key, "", after)
        elif after is None or sort_key > after:
            yield sort_key, entry


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise StorageRejected("the continuation token is not one this store handed out") from None
