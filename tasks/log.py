"""Logging for task bodies, and no tracebacks for expected errors.

`run_logger()` is Prefect's run logger inside a run, plain logging outside one (the same
functions run without Prefect in the benchmark's no-orchestration baseline).

Prefect logs every failed task run with its traceback. For reelflow's own errors (a 404, a
blocked URL, an outage, missing credentials: reelflow.core.errors) the message already says
what happened and the traceback only buries it, in the terminal and in the UI alike; so
`quiet_expected_errors()` (installed when tasks.retry is imported, i.e. with every task) drops
the traceback of those records and keeps their message. A bug keeps its traceback.

The same filter is the log boundary of URL redaction: every record of a run logger (ours and
Prefect's own, e.g. "Encountered exception ...") has its message and traceback scrubbed of
URL tokens (reelflow.core.redaction.scrub) before any handler, the API's included, sees it.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

from reelflow.core.errors import ReelflowError, StepFailed
from reelflow.core.redaction import scrub

__all__ = ["expected", "quiet_expected_errors", "run_logger"]

_PREFECT_RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


def run_logger() -> Any:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("reelflow")


def expected(exc: BaseException | None) -> bool:
    """An outcome reelflow raises on purpose, not a bug (a StepFailed is expected only when
    the error that failed the step was)."""
    if isinstance(exc, StepFailed):
        return isinstance(exc.__cause__, ReelflowError)
    return isinstance(exc, ReelflowError)


class _RedactAndQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and expected(record.exc_info[1]):
            record.exc_info = None
            record.exc_text = None
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: leave it to logging to report
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:  # a bug: keep the traceback, scrubbed (formatters reuse exc_text)
            text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text)
        return True


_FILTER = _RedactAndQuiet()


def quiet_expected_errors() -> None:
    """Install the filter on Prefect's run loggers (idempotent)."""
    for name in _PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
