"""URL redaction in free text (reelflow.core.redaction) and at the log boundary (tasks/log)."""

from __future__ import annotations

import io
import logging

import pytest

from reelflow.core.errors import OriginRejected, StepFailure
from reelflow.core.redaction import redact, scrub

TOKEN = "tok3n-SECRET"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"HTTP 404 for url 'https://cdn.example/a.jpg?sig={TOKEN}&e=1'",
            "HTTP 404 for url 'https://cdn.example/a.jpg'",
        ),
        (
            f"from https://u:{TOKEN}@cdn.example:8443/p/a.jpg#{TOKEN}.",
            "from https://cdn.example:8443/p/a.jpg.",
        ),
        (
            f"Invalid URL in location header: http://[::1?sig={TOKEN}",
            "Invalid URL in location header: http://[::1",
        ),
        (f"redirect to //user:{TOKEN}@cdn.example/x", "redirect to //cdn.example/x"),
        (f"echoed ?X-Amz-Signature={TOKEN} and &token={TOKEN}", "echoed ?… and &…"),
        (
            f"two: http://a.example/1?t={TOKEN} http://b.example/2?t={TOKEN}",
            "two: http://a.example/1 http://b.example/2",
        ),
        ("no URL here: 3 assets failed, a=b", "no URL here: 3 assets failed, a=b"),
        (
            "s3://bucket/episode-thumbnails/m1/ep1.webp",
            "s3://bucket/episode-thumbnails/m1/ep1.webp",
        ),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    assert scrub(text) == expected
    assert TOKEN not in scrub(text)


def test_redact_keeps_scheme_host_port_and_path() -> None:
    assert redact(f"HTTPS://CDN.example:444/a/b.jpg?x={TOKEN}") == "https://cdn.example:444/a/b.jpg"


def test_a_step_failure_is_stored_scrubbed() -> None:
    failure = StepFailure.of(
        "download", OriginRejected(f"https://cdn.example/a.jpg?sig={TOKEN}: HTTP 404"), 1
    )
    assert failure.describe() == "download: OriginRejected: https://cdn.example/a.jpg: HTTP 404"


def test_run_loggers_scrub_messages_and_the_tracebacks_of_bugs() -> None:
    import tasks.retry  # noqa: F401  (installs the filter, as every task module does)

    logger = logging.getLogger("prefect.task_runs")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        logger.info("fetching %s", f"https://cdn.example/a.jpg?sig={TOKEN}")
        try:
            raise RuntimeError(f"bug while reading https://cdn.example/b.jpg?sig={TOKEN}")
        except RuntimeError:
            logger.exception("Encountered exception during execution")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    text = out.getvalue()
    assert "fetching https://cdn.example/a.jpg" in text
    assert "Traceback" in text and "bug while reading https://cdn.example/b.jpg" in text
    assert TOKEN not in text
