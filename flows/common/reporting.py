"""How every flow ends and what it shows: the one final-state rule and the report artifacts.

`finish` turns a report into the run's final state: Completed, or Failed named "Partial" when
some work succeeded and some failed, or Failed when nothing succeeded (reelflow.core.reports.
run_verdict). The message is the report's headline, the data the report itself. `publish`
writes the markdown artifact (reelflow.core.reports.markdown) and, optionally, a table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import BaseModel

from flows.common.live import publish_finished
from reelflow.core.reports import Verdict, attention_first, markdown

__all__ = ["TABLE_ROWS", "artifact_key", "finish", "publish"]

# A table artifact is one event and one UI page: 20,000 rows made a 4.6 MB event that the
# server refused to publish. Abandoned and failed rows come first; the CLI's --json report
# has every row.
TABLE_ROWS = 1000


class Report(Protocol):
    @property
    def verdict(self) -> Verdict: ...

    def headline(self) -> str: ...


R = TypeVar("R", bound=Report)


def artifact_key(prefix: str, name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"{prefix}-{name}".lower())
    return cleaned[:100]


def finish(report: R, *, errors: Sequence[str] = ()) -> State[R]:
    """The run's final state for `report`; `errors` (what failed) go to the log, 50 at most."""
    logger = get_run_logger()
    headline = report.headline()
    logger.info(headline)
    for line in errors[:50]:
        logger.error(line)
    counts = getattr(report, "counts", None)
    publish_finished(report.verdict, headline, counts() if callable(counts) else {})
    if report.verdict == "Completed":
        return Completed(message=headline, data=report)
    return Failed(name=report.verdict, message=headline, data=report)


def _status(row: Mapping[str, Any] | BaseModel) -> Any:
    return getattr(row, "status", None) if isinstance(row, BaseModel) else row.get("status")


def publish(
    key: str,
    title: str,
    headline: str,
    *tables: Sequence[Mapping[str, Any]],
    notes: Sequence[str] = (),
    table_key: str | None = None,
    table: Sequence[Mapping[str, Any] | BaseModel] = (),
) -> None:
    """A markdown artifact under `key` and, when `table` has rows, a table artifact (abandoned
    rows first, then failed ones, at most TABLE_ROWS; only those are turned into dicts)."""
    if table_key and table:
        chosen = sorted(table, key=lambda row: attention_first(_status(row)))[:TABLE_ROWS]
        rows = [row.model_dump() if isinstance(row, BaseModel) else dict(row) for row in chosen]
        description = headline
        if len(table) > TABLE_ROWS:
            description += (
                f" (table: the first {TABLE_ROWS} of {len(table)} rows, abandoned and failed first)"
            )
        create_table_artifact(key=table_key, table=rows, description=description)
    create_markdown_artifact(
        key=key, markdown=markdown(title, headline, *tables, notes=notes), description=headline
    )
