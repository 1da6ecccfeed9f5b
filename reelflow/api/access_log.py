"""uvicorn's access log without query strings: the path of a request, never its query.

Query strings carry credentials: the disk store's signed URLs (`/files/...?signature=...`) and
the tokens browsers must put there (EventSource, WebSocket). uvicorn writes the whole request
target; `PathOnly` cuts every logged argument at its "?" before the line is formatted.
`LOG_CONFIG` is uvicorn's own logging configuration with the filter on the access handler.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG

__all__ = ["LOG_CONFIG", "PathOnly"]


class PathOnly(logging.Filter):
    """Drop the query string of every string argument of an access-log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                arg.partition("?")[0] if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def _config() -> dict[str, Any]:
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["path_only"] = {"()": f"{__name__}.PathOnly"}
    config["handlers"]["access"]["filters"] = ["path_only"]
    return config


LOG_CONFIG = _config()
