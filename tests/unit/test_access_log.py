"""The access log of `reelflow serve` keeps paths and drops query strings: the disk store's
signed URLs and browsers' tokens travel there (reelflow.api.access_log)."""

from __future__ import annotations

import logging

import pytest
from uvicorn.logging import AccessFormatter

from reelflow.api.access_log import LOG_CONFIG, PathOnly

SIGNED = "/files/media/episode-thumbnails/m1/ep1_thumb-large.webp?expires=1796&signature=c0ffee42"


def _line(*args: object, fmt: str = '%s - "%s %s HTTP/%s" %d') -> str:
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, fmt, args, None)
    assert PathOnly().filter(record) is True, "the filter never drops a line"
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s')
    return formatter.format(record)


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        (SIGNED, "/files/media/episode-thumbnails/m1/ep1_thumb-large.webp"),
        ("/api/v1/upload-queue/status?access_token=" + "t" * 24, "/api/v1/upload-queue/status"),
        ("/api/v1/imports/r1/events", "/api/v1/imports/r1/events"),
    ],
)
def test_a_request_line_keeps_its_path_and_loses_its_query(target, shown):
    line = _line("127.0.0.1:5000", "GET", target, "1.1", 200)
    assert f'"GET {shown} HTTP/1.1" 200' in line
    assert "c0ffee42" not in line and "t" * 24 not in line


def test_a_websocket_line_loses_its_query_too():
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5000", "/api/v1/imports/r1/ws?token=secret-in-query"),
        None,
    )
    PathOnly().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "WebSocket /api/v1/imports/r1/ws" [accepted]'


def test_serve_logs_through_the_filter():
    assert LOG_CONFIG["handlers"]["access"]["filters"] == ["path_only"]
    assert LOG_CONFIG["filters"]["path_only"]["()"] == "reelflow.api.access_log.PathOnly"
    # uvicorn's own configuration is untouched (a copy was changed)
    from uvicorn.config import LOGGING_CONFIG

    assert "filters" not in LOGGING_CONFIG["handlers"]["access"]
