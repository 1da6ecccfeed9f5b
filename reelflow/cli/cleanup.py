"""`reelflow` commands for cleanup: delete-movie, cleanup orphans|purge, backfill, retry,
verify.

Each runs its flow in this process (like `reelflow import`) and prints a table or, with
--json, the report as JSON. Errors are one line and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from reelflow.cli.common import (
    counts_table,
    err,
    fail,
    flow_result,
    human,
    one_line_errors,
    out,
    print_rungs,
    progress_bar,
    quiet_throwaway_server,
    require_schema,
)
from reelflow.core.errors import SweepRefused
from reelflow.core.reports import (
    ATTENTION,
    PurgeReport,
    SweepReport,
    TransferReport,
    VerifyReport,
    attention_first,
)

cleanup_app = typer.Typer(no_args_is_help=True, help="Orphan sweep and purge queue.")


def _print_failures(report: Any) -> None:
    """What could not be deleted, one line per distinct error (an outage fails every key the
    same way: one line, not one per key), then one `error:` line; exit 1."""
    if not report.failures:
        return
    by_error: dict[str, list[Any]] = {}
    for failure in report.failures:
        by_error.setdefault(failure.error, []).append(failure)
    for error, failures in list(by_error.items())[:20]:
        first = failures[0]
        more = f" and {len(failures) - 1} more" if len(failures) > 1 else ""
        err.print(f"  s3://{first.bucket}/{first.key}{more}: {error}", highlight=False)
    common = next(iter(by_error)) if len(by_error) == 1 else "see above"
    count = report.failed + report.refused
    fail(f"{count} objects could not be deleted (kept in purge_queue): {common}", 1)


def _confirm_deletion(movie_id: str, episodes: int, stored: int) -> None:
    """Ask on a terminal; refuse (exit 2) when there is none to ask on: never wait on a pipe."""
    what = f"movie {movie_id} ({episodes} episodes) and its {stored} stored objects in S3"
    if not sys.stdin.isatty():
        fail(
            f"not deleting {what} without confirmation: stdin is not a terminal; "
            "pass --yes to delete without asking (or --dry-run to see what would go)",
            code=2,
        )
    if not typer.confirm(f"Delete {what}?", default=False):
        fail("nothing deleted", code=1)


def delete_movie_command(
    movie_id: Annotated[str, typer.Argument(metavar="MOVIE_ID")],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete without asking for confirmation")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Purge the objects now and print the counts (default), or hand the purge to "
            "the purge-objects deployment / leave it queued for the next purge",
        ),
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Delete a movie, its episodes and assets, and purge its objects from S3 (asks first)."""
    from deployments.launch import PrefectPurgeLauncher
    from reelflow.services.movies import delete_movie, deletion_preview

    require_schema(flows=False)  # the preview and the question need no Prefect server
    episodes, stored = deletion_preview(movie_id)
    if dry_run:
        if as_json:
            data = {"movie_id": movie_id, "episodes": episodes, "stored_objects": stored}
            out.print_json(json.dumps({**data, "dry_run": True}))
        else:
            out.print(
                f"Dry run: would delete movie {movie_id}: {episodes} episodes, and purge "
                f"{stored} stored objects from S3",
                highlight=False,
            )
        return
    if not yes:
        _confirm_deletion(movie_id, episodes, stored)
    quiet_throwaway_server()  # the purge runs as a flow here
    result = delete_movie(movie_id, launcher=PrefectPurgeLauncher(), wait=wait, fallback="queue")
    purge = result.purge
    if as_json:
        data = {
            "movie_id": result.movie_id,
            "episodes": result.episodes,
            "assets": result.assets,
            "queued": len(result.queued),
            "unmanaged": result.unmanaged,
            "handoff": result.handoff,
            "flow_run_id": result.flow_run_id,
            "purge": purge.model_dump() if purge else None,
            "purge_error": result.purge_error,
        }
        out.print_json(json.dumps(data))
    else:
        out.print(
            f"Deleted movie {movie_id}: {result.episodes} episodes, {result.assets} assets; "
            f"{len(result.queued)} objects queued for purge",
            highlight=False,
        )
        for url in result.unmanaged:
            err.print(f"  left alone (not a managed key): {url}", highlight=False)
        if purge is not None:
            out.print(counts_table("purge", purge.counts()))
            out.print(purge.headline(), highlight=False)
            _print_failures(purge)
        elif result.handoff == "deployment":
            out.print(f"Purge submitted: flow run {result.flow_run_id}", highlight=False)
        elif result.handoff == "queued":
            out.print(
                "No purge-objects/purge deployment: the keys stay in purge_queue until "
                "`reelflow cleanup purge` or the next orphan sweep with --execute",
                highlight=False,
            )
    if result.purge_error:
        fail(result.purge_error, code=1)
    raise typer.Exit(0 if purge is None or purge.ok else 1)


@cleanup_app.command("orphans")
@one_line_errors
def orphans_command(
    execute: Annotated[
        bool, typer.Option("--execute", help="Delete (default: dry run, report only)")
    ] = False,
    grace_hours: Annotated[
        float | None,
        typer.Option(min=0, help="Keep unreferenced objects younger than this (default 24)"),
    ] = None,
    max_fraction: Annotated[
        float | None,
        typer.Option(min=0.0001, max=1, help="Refuse to delete more than this share (0.10)"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Lift the fraction cap (never the empty-database guard)"),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Find objects no row references (and with --execute delete those past the grace period)."""
    from flows.orphan_cleanup import orphan_cleanup

    require_schema()
    state = orphan_cleanup(
        execute=execute,
        grace_hours=grace_hours,
        max_fraction=max_fraction,
        force=force,
        return_state=True,
    )
    result = state.result(raise_on_failure=False)
    report = result.report if isinstance(result, SweepRefused) else result
    if isinstance(report, SweepReport):
        if as_json:
            out.print_json(report.model_dump_json())
        else:
            print_sweep(report)
    flow_result(state, SweepReport, "orphan sweep")  # raises SweepRefused after its table
    raise typer.Exit(0 if state.is_completed() else 1)


def print_sweep(report: Any) -> None:
    """The census table, the cut-off and cap, and the headline. A refused executing sweep's
    reason is left to the error line that follows (said once)."""
    table = Table(title=f"orphan sweep of {report.bucket} ({report.mode})")
    for column, justify in (("category", "left"), ("count", "right"), ("bytes", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("sample keys")
    for line in report.categories:
        style = {"orphan": "red", "owed": "yellow", "foreign": "magenta"}.get(line.category, "")
        name = f"[{style}]{line.category}[/]" if style else line.category
        table.add_row(name, str(line.count), human(line.bytes), "\n".join(line.samples[:3]))
    table.add_row("[bold]listed[/]", str(report.listed), human(report.listed_bytes), "")
    out.print(table)
    cap = "refused (below)" if report.refused else report.decision
    out.print(
        f"cut-off {report.cutoff:%Y-%m-%d %H:%M:%S}Z (grace {report.grace_hours:g} h); "
        f"database references {report.references} objects here; cap: {cap}",
        highlight=False,
    )
    out.print(report.headline(), highlight=False)
    for failure in report.failures[:20]:
        err.print(f"  {failure.key}: {failure.error}", highlight=False)


@cleanup_app.command("purge")
@one_line_errors
def purge_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Delete every object purge_queue owes (what a purge left behind)."""
    from flows.purge_objects import purge_objects

    require_schema()
    state = purge_objects(return_state=True)
    report = flow_result(state, PurgeReport, "purge")
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        out.print(counts_table("purge", report.counts()))
        out.print(report.headline(), highlight=False)
        _print_failures(report)
    raise typer.Exit(0 if report.ok else 1)


def backfill_command(
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many assets")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Assets claimed at once")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be imported; change nothing")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    renditions: Annotated[
        bool,
        typer.Option(
            "--renditions",
            help="Make the missing renditions and placeholders of stored thumbnails "
            "(from the stored large object) instead",
        ),
    ] = False,
) -> None:
    """Import the assets still on temporary URLs or that failed before."""
    from flows.backfill import backfill

    require_schema()
    with progress_bar("backfilling", disable=as_json or dry_run):
        state = backfill(
            limit=limit,
            batch_size=batch_size,
            dry_run=dry_run,
            renditions=renditions,
            return_state=True,
        )
    report = flow_result(state, TransferReport, "backfill")
    if as_json:
        out.print_json(report.model_dump_json())
    else:
        shown = sorted(
            (line for line in report.lines if dry_run or line.status in ATTENTION),
            key=lambda line: attention_first(line.status),
        )
        if shown:
            table = Table(title="backfill" + (" (dry run)" if dry_run else ": failures"))
            for column in ("movie", "ep", "asset", "status", "error"):
                table.add_column(column)
            for line in shown[:200]:
                table.add_row(
                    line.movie_id, str(line.episode), line.kind, line.status, line.error or ""
                )
            out.print(table)
        print_rungs(report)
        out.print(report.headline(), highlight=False)
    raise typer.Exit(0 if report.ok else 1)


def retry_command(
    asset_id: Annotated[
        int | None,
        typer.Argument(metavar="ASSET_ID", help="An asset id, as `reelflow status` lists it"),
    ] = None,
    movie: Annotated[
        str | None,
        typer.Option("--movie", metavar="MOVIE_ID", help="Every abandoned asset of a movie"),
    ] = None,
    all_abandoned: Annotated[
        bool, typer.Option("--all-abandoned", help="Every abandoned asset")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Re-arm abandoned assets: the next backfill imports them again."""
    from reelflow.services import assets

    require_schema(flows=False)
    done = assets.rearm(asset_id=asset_id, movie_id=movie, all_abandoned=all_abandoned)
    if as_json:
        out.print_json(json.dumps({"rearmed": done.rearmed, "asset_status": done.asset_status}))
        return
    if done.asset_status is not None:
        out.print(
            f"asset {asset_id} is {done.asset_status}, not abandoned: nothing to re-arm",
            highlight=False,
        )
        return
    noun = "asset" if done.rearmed == 1 else "assets"
    where = f" of movie {movie}" if movie is not None else ""
    out.print(
        f"re-armed {done.rearmed} abandoned {noun}{where}"
        + (": the next backfill imports them again" if done.rearmed else ""),
        highlight=False,
    )


def verify_command(
    execute: Annotated[
        bool,
        typer.Option("--execute", help="Mark what is missing or differs (default: dry run)"),
    ] = False,
    movie: Annotated[
        str | None, typer.Option("--movie", metavar="MOVIE_ID", help="Only this movie")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many assets")] = None,
    size_only: Annotated[
        bool, typer.Option("--size-only", help="Sizes from listings only: no HEAD, no sha256")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check every object the database says is stored (presence, size, sha256); with
    --execute, mark what is missing or differs so the next backfill imports it again."""
    from flows.verify import verify
    from reelflow.core.keys import safe_movie_id
    from reelflow.services import catalog

    require_schema()
    if movie is not None:
        safe_movie_id(movie)
        catalog.require_movie(movie)
    with progress_bar("verifying", disable=as_json):
        state = verify(
            execute=execute, movie_id=movie, limit=limit, size_only=size_only, return_state=True
        )
    report = flow_result(state, VerifyReport, "verify")
    if as_json:
        out.print_json(report.model_dump_json())
        return
    if report.lines:
        table = Table(
            title="verify" + (" (dry run)" if report.dry_run else ": marked for backfill")
        )
        for column in ("id", "movie", "ep", "asset", "problem"):
            table.add_column(column)
        table.add_column("error", overflow="fold")
        for line in report.lines[:200]:
            table.add_row(
                str(line.asset_id),
                line.movie_id,
                str(line.episode),
                line.kind,
                line.status,
                line.error,
            )
        out.print(table)
    out.print(counts_table("verify", report.counts()))
    out.print(report.headline(), highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the reelflow CLI."""
    app.command("delete-movie")(one_line_errors(delete_movie_command))
    app.command("backfill")(one_line_errors(backfill_command))
    app.command("retry")(one_line_errors(retry_command))
    app.command("verify")(one_line_errors(verify_command))
    app.add_typer(cleanup_app, name="cleanup")
