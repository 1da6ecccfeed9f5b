"""Which OSErrors are a worker running short (transient) and what their message says."""

from __future__ import annotations

import errno
import os

import pytest

from reelflow.core.errors import LocalResourceExhausted, is_retryable, local_resource_error


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.ENOSPC, ["no space left on the spool /spool/x", "REELFLOW_SPOOL_DIR"]),
        (errno.EDQUOT, ["no space left on the spool /spool/x", "REELFLOW_SPOOL_DIR"]),
        (errno.EMFILE, ["no file descriptor left", "ulimit -n", "REELFLOW_IMPORT_CONCURRENCY"]),
        (errno.ENFILE, ["no file descriptor left", "/spool/x"]),
        (errno.ENOENT, None),
        (errno.EACCES, None),
        (errno.EIO, None),
    ],
)
def test_local_resource_error(code: int, says: list[str] | None) -> None:
    mapped = local_resource_error(OSError(code, os.strerror(code)), "/spool/x")
    if says is None:
        assert mapped is None
        return
    assert isinstance(mapped, LocalResourceExhausted) and is_retryable(mapped)
    assert os.strerror(code) in str(mapped)
    for text in says:
        assert text in str(mapped)
