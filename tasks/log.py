"""Logging for task bodies, and no tracebacks for expected errors.

`run_logger()` is Prefect's run logger inside a run, plain logging outside one (the same
functions run without Prefect in the benchmark's no-orchestration baseline).

Prefect logs every failed task run with its traceback. For reelflow's own errors (a 404, a
blocked URL, an outage, missing credentials: reelflow.core.errors) the message already says
what happened and the traceback only buries it, in the terminal and in the UI alike; so
`quiet_expected_errors()` (installed when tasks.retry is imported, i.e. with every task and
flow, in this process, a worker's flow-run process and a deployment's alike) drops the
traceback of those records and keeps their message. A bug keeps its traceback.

An expected failure is said once. Prefect says it several times, so the filter drops its
repeats when the error is expected:

- a task run whose retries ran out (or that had none) logs "Task run failed with exception"
  and then "Finished in state Failed(...)" with the same error: only the second is kept;
- a flow run that raised logs "Encountered exception during execution" and then its final
  state: only the final state is kept;
- a flow run in its own process (a worker's, a deployment's: `python -m prefect.engine`)
  asks for the run's result after the run ended, so a Failed run is raised once more and
  logged twice ("Engine execution exited ...", "Execution of flow run ... exited ..."): both
  are dropped when the run ended on an expected error, or Failed with a reelflow report as
  its data (a Partial import, a sweep with failures) - its final state says it all.

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

# The run loggers, and the engine's own (a flow-run process logs its exit there).
_PREFECT_RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs", "prefect.engine")
# Prefect's messages that repeat an error the run's final state line already carries.
_REPEATS = (
    "Task run failed with exception",
    "Encountered exception during execution",
    "Engine execution exited with unexpected exception",
    "Execution of flow run",
    "Execution exited with unexpected exception",
)
# Raised by Prefect in a flow-run process when a Failed state's data is not an exception:
# our Failed states carry the run's report (reelflow.core.reports).
_REPORT_NOT_EXCEPTION = "Unexpected result for failed state: "
_REPORTS = ("TransferReport(", "SweepReport(", "PurgeReport(", "WarmupReport(")


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
    return isinstance(exc, ReelflowError) or _report_as_result(exc)


def _report_as_result(exc: BaseException | None) -> bool:
    """Prefect's complaint that a Failed run's data (our report) is not an exception."""
    if not isinstance(exc, TypeError) or not exc.args:
        return False
    text = str(exc.args[0])
    return text.startswith(_REPORT_NOT_EXCEPTION) and text[len(_REPORT_NOT_EXCEPTION) :].startswith(
        _REPORTS
    )


def _repeat(record: logging.LogRecord) -> bool:
    return isinstance(record.msg, str) and record.msg.startswith(_REPEATS)


class _RedactAndQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and expected(record.exc_info[1]):
            if _repeat(record):
                return False  # the final state's line says it (once)
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
