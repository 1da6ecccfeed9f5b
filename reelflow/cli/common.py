"""What every `reelflow` command shares: the consoles, one-line errors with the one exit-code
mapping (reelflow.core.errors: 1 work failed, 2 bad input or configuration), the schema check,
a progress bar for flows run in this process, and human-readable sizes.

Subcommand modules import this module; nothing here imports a subcommand. At module level the
CLI imports only typer, rich, the core and settings; a command imports the services, flows and
deployments it uses in its body, because Prefect (~3 s), SQLAlchemy, boto3 and Alembic (~2.5 s
together) would otherwise delay `reelflow --help` and `reelflow config`. This hides no cycle:
the CLI is the top layer, nothing imports it, and `make lint` checks every import, deferred or
not, against the layer contract and the rule that entry points reach the database through
reelflow.services only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from reelflow.core.errors import PrefectUnavailable, ReelflowError, exit_code
from reelflow.core.units import human_size

__all__ = [
    "counts_table",
    "err",
    "fail",
    "flow_result",
    "human",
    "one_line_errors",
    "out",
    "prefect_startup_error",
    "print_rungs",
    "progress_bar",
    "quiet_throwaway_server",
    "require_schema",
]

out = Console()
err = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`: scrubbed of URL tokens, and as
    text (square brackets in an error are not markup)."""
    from rich.markup import escape

    from reelflow.core.redaction import scrub

    err.print(f"[bold red]error:[/] {escape(scrub(message))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


# Prefect's throwaway API server gives up after PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS
# with a bare RuntimeError starting with this text.
_EPHEMERAL_TIMEOUT = "Timed out while attempting to connect to ephemeral Prefect API server"
# Prefect's 20 s default is less than its server takes to start on a busy 2-core machine.
EPHEMERAL_STARTUP_SECONDS = "120"


def prefect_startup_error(exc: BaseException) -> PrefectUnavailable | None:
    """Prefect's throwaway server not starting in time, as the outage it is (else None)."""
    if isinstance(exc, RuntimeError) and str(exc).startswith(_EPHEMERAL_TIMEOUT):
        waited = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20")
        return PrefectUnavailable(
            f"Prefect's temporary API server did not start within {waited} s: raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or run a server (`make up`) "
            "and set PREFECT_API_URL"
        )
    return None


def one_line_errors(fn: F) -> F:
    """A reelflow error raised by the command becomes `error: ...` and its exit code; so does
    Prefect's throwaway server failing to start (an outage, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReelflowError as exc:
            fail(str(exc), exit_code(exc))
        except RuntimeError as exc:
            outage = prefect_startup_error(exc)
            if outage is None:
                raise
            fail(str(outage), exit_code(outage))

    return wrapper  # type: ignore[return-value]


def flow_result(state: Any, expected: type[T], what: str) -> T:
    """The report a flow run returned. A run that ended on a reelflow error raises it (one
    line, its exit code); anything else that is not a report is one line and exit 1."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, expected):
        return result
    if isinstance(result, ReelflowError):
        raise result
    fail(f"{what} did not finish: {result}", code=1)


def throwaway_server_settings() -> None:
    """Prefect's settings for its throwaway server (no PREFECT_API_URL): quiet, no analytics,
    120 s to start. Prefect reads them when it is imported: the entry point calls this first."""
    if not os.environ.get("PREFECT_API_URL"):
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", EPHEMERAL_STARTUP_SECONDS
        )


def quiet_throwaway_server() -> None:
    """Without PREFECT_API_URL, flows run on Prefect's throwaway API server, which is stopped
    the moment the command ends; Prefect then logs the run events it could not flush by then
    as tracebacks. They are noise (that server and its records end with the process), so its
    log is limited to critical errors, and it gets 120 s to start instead of Prefect's 20. A
    real server (PREFECT_API_URL) is untouched, and a value the user set wins.

    That server is also started here, from the main thread, as a child that dies with this
    process (reelflow.adapters.throwaway_server): a command killed mid-run leaves no server
    behind. The settings alone (`throwaway_server_settings`) are applied when the CLI starts,
    before Prefect is imported, since Prefect reads them then."""
    if not os.environ.get("PREFECT_API_URL"):
        throwaway_server_settings()
        from reelflow.adapters.throwaway_server import supervise

        supervise(
            announce=lambda: err.print(
                "starting Prefect's temporary API server (PREFECT_API_URL unset) ...",
                style="dim",
                highlight=False,
            )
        )


def require_schema(*, flows: bool = True) -> None:
    """Refuse (exit 2) when the database is not migrated to this code's revision. Every
    command that reads or writes the database checks this first; one that runs flows in this
    process (`flows`) also gets the throwaway server (`quiet_throwaway_server`), once the
    schema is known to be right. A command that runs no flow starts no server."""
    from reelflow.services import schema

    schema.require_current()
    if flows:
        quiet_throwaway_server()


@contextmanager
def progress_bar(description: str, *, disable: bool) -> Iterator[None]:
    """A progress bar on stderr fed by the flows run in this block (flows.common.progress)."""
    from flows.common.progress import listen

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=disable, transient=False) as bar:
        task_id = bar.add_task(description, total=None)

        def on_progress(done: int, total: int, _detail: object) -> None:
            bar.update(task_id, completed=done, total=total)

        with listen(on_progress):
            yield


def counts_table(title: str, counts: dict[str, Any]) -> Table:
    """A report's one-row table of counts (`report.counts()`, the same row its artifact shows)."""
    table = Table(title=title)
    for column in counts:
        table.add_column(column, justify="right")
    table.add_row(*(str(value) for value in counts.values()))
    return table


human = human_size  # the one size formatter (reelflow.core.units), under its CLI name


def print_rungs(report: Any) -> None:
    """The renditions a run made, per rung (how many, bytes in and stored), and what they
    cost a month against storing and serving the sources (a TransferReport)."""
    from reelflow.settings import get_settings

    rows = report.rung_rows()
    if not rows:
        return
    table = Table(title="renditions made", show_lines=False)
    for column in rows[0]:
        table.add_column(column, no_wrap=True, justify="left" if column == "rung" else "right")
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    out.print(table)
    found = report.cost_estimate(get_settings().prices())
    if found is not None:
        for line in found.lines():
            out.print(f"  {line}", highlight=False)
