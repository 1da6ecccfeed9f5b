"""`reelflow` commands for operations: deploy, status, and the local stack (up, down).

They talk to the Prefect API in PREFECT_API_URL (or the running local stack's); the code is in
the deployments package.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from reelflow.cli.common import err, one_line_errors, out
from reelflow.core.errors import ConfigurationError, ReelflowError
from reelflow.settings import get_settings

__all__ = ["register", "submit_import_command"]


def _project_root() -> Path:
    """The checkout holding prefect.yaml: the working directory, else the installed source."""
    cwd = Path.cwd()
    if (cwd / "prefect.yaml").is_file():
        return cwd
    source = Path(__file__).resolve().parents[2]
    if (source / "prefect.yaml").is_file():
        return source
    raise ConfigurationError("no prefect.yaml here: run reelflow from the repository root")


def deploy_command(
    origin_host: Annotated[
        list[str] | None,
        typer.Option(
            "--origin-host",
            help="An origin host to create a download limit for, as HOST (default limit, "
            "never changed once created) or HOST=N (held at N). Repeatable.",
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Deploy only this deployment (repeatable)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON")] = False,
) -> None:
    """Create or update the work pool, queues, concurrency limits and deployments (idempotent)."""
    from deployments.api import prefect_api
    from deployments.apply import apply_project, parse_origin_hosts
    from deployments.spec import load_project

    settings = get_settings()
    root = _project_root()
    project = load_project(root / "prefect.yaml", work_pool=settings.work_pool)
    hosts = parse_origin_hosts(origin_host or [], settings.origin_host_limit)
    with prefect_api():
        report = asyncio.run(
            apply_project(
                project, settings, root=root, origin_hosts=hosts, only=set(only) if only else None
            )
        )
    code = 1 if report.errors else 0
    if as_json:
        out.print_json(json.dumps(report.as_dict()))
        raise typer.Exit(code)
    table = Table(title=f"reelflow deploy -> {report.api_url}")
    for column in ("kind", "name", "action", "detail"):
        table.add_column(column)
    style = {"created": "green", "updated": "yellow", "deleted": "red", "error": "bold red"}
    for change in report.changes:
        action = change.action
        if action in style:
            action = f"[{style[action]}]{action}[/]"
        table.add_row(change.kind, change.name, action, change.detail)
    out.print(table)
    changed = len(report.changed)
    out.print(f"{changed} change(s)" if changed else "nothing to change", highlight=False)
    for error in report.errors:
        err.print(f"[bold red]error:[/] {error.detail}", highlight=False)
    raise typer.Exit(code)


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON")] = False,
    since_hours: Annotated[
        float, typer.Option("--since-hours", help="Count failed runs this far back")
    ] = 24.0,
    failures: Annotated[int, typer.Option(help="Recent asset failures to show")] = 10,
    costs: Annotated[
        bool,
        typer.Option(
            "--costs",
            help="Bytes in and stored per rung, and the monthly storage and egress estimate "
            "(database only)",
        ),
    ] = False,
    movie: Annotated[
        str | None, typer.Option("--movie", metavar="MOVIE_ID", help="With --costs: one movie")
    ] = None,
) -> None:
    """Runs queued, running and failed per queue (Prefect), and asset states (database)."""
    if costs:
        _costs(movie, as_json)
        return
    from deployments.api import prefect_api
    from deployments.status import asset_status, collect_status

    settings = get_settings()
    try:
        with prefect_api(quiet=as_json):
            result = collect_status(settings, since_hours=since_hours, failures=failures)
    except ReelflowError as exc:  # no Prefect API at all: still show the database half
        result = {"prefect": {"pool": settings.work_pool, "error": str(exc)}}
        try:
            result["assets"] = asset_status(settings, failures=failures)
        except Exception as db_exc:
            result["assets"] = {"error": f"{type(db_exc).__name__}: {db_exc}"}
    ok = "error" not in result["prefect"] and "error" not in result["assets"]
    if as_json:
        out.print_json(json.dumps(result, default=str))
    else:
        _print_status(result)
    raise typer.Exit(0 if ok else 1)


def _costs(movie: str | None, as_json: bool) -> None:
    """`status --costs`: what the ladder stores and saves, from the database."""
    from reelflow.cli.common import human, require_schema
    from reelflow.core.costs import estimate
    from reelflow.services import catalog

    require_schema(flows=False)
    settings = get_settings()
    totals = catalog.rung_totals(movie)
    prices = settings.prices()
    found = estimate(
        totals["rungs"], totals["thumbnails"], totals["thumbnail_source_bytes"], prices
    )
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "movie": movie,
                    "rungs": [vars(r) for r in totals["rungs"]],
                    "thumbnails": totals["thumbnails"],
                    "thumbnail_source_bytes": totals["thumbnail_source_bytes"],
                    "previews": totals["previews"],
                    "preview_bytes": totals["preview_bytes"],
                    "prices": vars(prices),
                    "monthly": vars(found),
                    "monthly_per_1000_episodes": vars(found.per_thousand()),
                }
            )
        )
        raise typer.Exit(0)
    table = Table(title="stored" + (f": movie {movie}" if movie else ""))
    for column in ("rung", "format", "renditions", "bytes in", "bytes stored", "saved"):
        table.add_column(column, justify="left" if column in ("rung", "format") else "right")
    for r in totals["rungs"]:
        saved = 100 * (1 - r.bytes / r.source_bytes) if r.source_bytes else 0.0
        table.add_row(
            r.rung, r.format, str(r.count), human(r.source_bytes), human(r.bytes), f"{saved:.1f}%"
        )
    if totals["previews"]:
        size = human(totals["preview_bytes"])
        table.add_row("preview", "as sent", str(totals["previews"]), size, size, "0.0%")
    out.print(table)
    out.print(
        f"estimate ({prices.views_per_episode_month} views per episode a month, each loading "
        f"`{prices.view_rung}`; ${prices.storage_gb_month}/GB-month, ${prices.egress_gb}/GB "
        "egress; thumbnails before -> after the ladder):",
        highlight=False,
    )
    for line in found.lines():
        out.print(f"  {line}", highlight=False)
    if found.thumbnails:
        out.print("per 1,000 episodes:", highlight=False)
        for line in found.per_thousand().lines():
            out.print(f"  {line}", highlight=False)
    raise typer.Exit(0)


def _print_status(result: dict[str, Any]) -> None:
    prefect = result["prefect"]
    if "error" in prefect:
        out.print(f"[red]Prefect:[/] {prefect['error']}", highlight=False)
    else:
        table = Table(title=f"work pool {prefect['pool']} ({prefect['api_url']})")
        for column in ("queue", "priority", "queued", "upcoming", "running", "failed (window)"):
            table.add_column(column, justify="right" if column != "queue" else "left")
        for q in prefect["queues"]:
            name = q["name"] + (" (paused)" if q["paused"] else "")
            table.add_row(
                name,
                str(q["priority"]),
                str(q["queued"]),
                str(q["upcoming"]),
                str(q["running"]),
                f"[red]{q['failed']}[/]" if q["failed"] else "0",
            )
        out.print(table)
        if prefect["recent_runs"]:
            runs = Table(title="recent runs")
            for column in ("flow", "deployment", "run", "queue", "state", "started", "id"):
                runs.add_column(column)
            for r in prefect["recent_runs"]:
                runs.add_row(
                    r["flow"] or "",
                    r["deployment"] or "",
                    r["name"],
                    r["queue"] or "",
                    r["state"] or "",
                    r["start_time"] or "",
                    r["id"],
                )
            out.print(runs)
    assets = result["assets"]
    if "error" in assets:
        out.print(f"[red]database:[/] {assets['error']}", highlight=False)
        return
    counts = ", ".join(f"{k} {v}" for k, v in assets["counts"].items()) or "none yet"
    out.print(f"assets ({assets['database']}): {counts}", highlight=False)
    if assets["recent_failures"]:
        table = Table(title="assets that need attention (abandoned: `reelflow retry ID` re-arms)")
        for column in ("id", "status", "movie", "ep", "asset", "attempts", "backfills failed"):
            table.add_column(column)
        table.add_column("last error", overflow="fold")
        for f in assets["recent_failures"]:
            status = f["status"]
            table.add_row(
                str(f["asset_id"]),
                f"[bold red]{status}[/]" if status == "abandoned" else f"[red]{status}[/]",
                f["movie_id"],
                str(f["episode"]),
                f["kind"],
                str(f["attempts"]),
                str(f["backfill_failures"]),
                f["last_error"] or "",
            )
        out.print(table)


def submit_import_command(manifest: Any, *, as_json: bool) -> None:
    """`reelflow import MANIFEST --submit`: create the run through the Prefect API, print it."""
    from deployments.api import flow_run_url, prefect_api
    from deployments.submit import idempotency_key, submit_run

    with prefect_api(quiet=as_json):
        submitted = submit_run(manifest)
        url = flow_run_url(submitted.run.id)
    run = submitted.run
    state = run.state.name if run.state else "Scheduled"
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "flow_run_id": str(run.id),
                    "name": run.name,
                    "state": state,
                    "new": submitted.new,
                    "idempotency_key": idempotency_key(manifest),
                    "url": url,
                }
            )
        )
        return
    if submitted.new:
        out.print(f"submitted {run.name}: run {run.id} ({state})", highlight=False)
    else:
        out.print(
            f"already submitted (same manifest): run {run.id} is {state}; to import it again, "
            "retry that run in the UI or change the manifest",
            highlight=False,
        )
    out.print(f"watch it: {url}", highlight=False)


StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="Where the stack keeps its state, logs and Prefect database (default .reelflow)",
    ),
]


def up_command(state_dir: StateDir = None) -> None:
    """Start a local Prefect server + UI, a worker, local S3 and a sample origin; deploy.
    On a running stack: keep what is unchanged, restart what runs on changed settings."""
    from reelflow.devtools.stack import up

    up(_project_root(), out, home=state_dir)


def down_command(state_dir: StateDir = None) -> None:
    """Stop what `reelflow up` started."""
    from reelflow.devtools.stack import down

    down(_project_root(), out, home=state_dir)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the reelflow CLI."""
    for name, command in (
        ("deploy", deploy_command),
        ("status", status_command),
        ("up", up_command),
        ("down", down_command),
    ):
        app.command(name)(one_line_errors(command))
