"""How every flow ends and what it shows: the one final-state rule and the report artifacts.

The report itself - its model, its text, its artifacts' rows - is built in reelflow.core.reports;
this module only gathers what the core cannot know (the settings' prices) and hands the result
to Prefect, once.

`finish` turns a report into the run's final state: Completed, or Failed named "Partial" when
some work succeeded and some failed, or Failed when nothing succeeded (reelflow.core.reports.
run_verdict). The message is the report's headline, the data the report itself. `publish`
writes the markdown artifact and, optionally, a table (reelflow.core.reports.render).
`finish_transfer` is both for an import or a backfill, from its outcomes, in one call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar, Unpack

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed
from pydantic import BaseModel

from flows.common.live import publish_finished
from reelflow.core.models import AssetOutcome
from reelflow.core.reports import (
    TABLE_ROWS,
    Artifacts,
    TransferFacts,
    TransferReport,
    Verdict,
    artifact_key,
    render,
    transfer_ending,
)
from reelflow.settings import get_settings

__all__ = ["TABLE_ROWS", "artifact_key", "finish", "finish_transfer", "publish"]


class Report(Protocol):
    @property
    def verdict(self) -> Verdict: ...

    def headline(self) -> str: ...


R = TypeVar("R", bound=Report)


def finish(report: R, *, errors: Sequence[str] = ()) -> State[R]:
    """The run's final state for `report`; `errors` (what failed) go to the log, 50 at most."""
    counts = getattr(report, "counts", None)
    return _end(
        report, report.verdict, report.headline(), counts() if callable(counts) else {}, errors
    )


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
    rows first, then failed ones, at most TABLE_ROWS)."""
    _create(render(key, title, headline, *tables, notes=notes, table_key=table_key, table=table))


def finish_transfer(
    outcomes: Sequence[AssetOutcome], **facts: Unpack[TransferFacts]
) -> State[TransferReport]:
    """An import's or a backfill's end: its report built and rendered from `outcomes` and
    `facts` (reelflow.core.reports.transfer_ending, priced at the settings' prices), its
    artifacts published, and its final state (as `finish`)."""
    ending = transfer_ending(outcomes, get_settings().prices(), **facts)
    _create(ending.artifacts)
    return _end(ending.report, ending.verdict, ending.headline, ending.counts, ending.errors)


def _create(artifacts: Artifacts) -> None:
    if artifacts.table_key:
        create_table_artifact(
            key=artifacts.table_key,
            table=list(artifacts.table),
            description=artifacts.table_description,
        )
    create_markdown_artifact(
        key=artifacts.key, markdown=artifacts.markdown, description=artifacts.headline
    )


def _end(
    report: R, verdict: Verdict, headline: str, counts: dict[str, Any], errors: Sequence[str]
) -> State[R]:
    logger = get_run_logger()
    logger.info(headline)
    for line in errors[:50]:
        logger.error(line)
    publish_finished(verdict, headline, counts)
    if verdict == "Completed":
        return Completed(message=headline, data=report)
    return Failed(name=verdict, message=headline, data=report)
