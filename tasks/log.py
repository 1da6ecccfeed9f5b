"""The logger for task bodies: Prefect's run logger inside a run, plain logging outside one
(the same functions run without Prefect in the benchmark's no-orchestration baseline)."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError


def run_logger() -> Any:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("reelflow")
