"""The `reelflow` command line. Errors become one clear line and a non-zero exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reelflow.errors import ReelflowError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def _engine() -> Any:
    from reelflow import resources

    return resources.engine()


def _require_schema() -> None:
    from reelflow import migrate

    engine = _engine()
    if migrate.current_revision(engine) != migrate.head_revision():
        _fail("the database schema is not up to date: run `reelflow db upgrade` first")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the tables (idempotent)."""
    from reelflow import migrate
    from reelflow.settings import get_settings

    migrate.upgrade(_engine())
    url = get_settings().safe_summary()["database_url"]
    out.print(f"database at revision {migrate.head_revision()}: {url}", highlight=False)


@app.command("config")
def show_config() -> None:
    """Print the effective settings (secrets masked)."""
    from reelflow.settings import get_settings

    out.print_json(json.dumps(get_settings().safe_summary(), default=str))


def print_summary(summary: Any) -> None:
    table = Table(title=f"movie {summary.movie_id}", show_lines=False)
    for column in ("ep", "asset", "status", "before", "after"):
        table.add_column(column, no_wrap=True)
    table.add_column("key / error", overflow="fold")
    for line in summary.lines:
        before = f"{line.source_bytes / 1024:.1f} KB" if line.source_bytes else ""
        after = f"{line.bytes / 1024:.1f} KB" if line.bytes else ""
        style = {"failed": "red", "skipped": "dim"}.get(line.status, "")
        table.add_row(
            str(line.episode),
            line.kind,
            f"[{style}]{line.status}[/]" if style else line.status,
            before,
            after,
            line.error or line.key or "",
        )
    out.print(table)
    out.print(summary.headline(), highlight=False)


def run_import(manifest: Any, *, show_progress: bool = True) -> Any:
    """Run the import flow in this process with a progress bar; return (state, summary)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from flows.import_episodes import import_episodes
    from flows.progress import listen

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not show_progress, transient=False) as bar:
        task_id = bar.add_task(f"importing {manifest.movie_id}", total=None)

        def on_progress(done: int, total: int, _detail: object) -> None:
            bar.update(task_id, completed=done, total=total)

        with listen(on_progress):
            state = import_episodes(manifest, return_state=True)
    summary = state.result(raise_on_failure=False)
    return state, summary


@app.command("import")
def import_command(
    manifest_path: Annotated[Path, typer.Argument(metavar="MANIFEST.json")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    submit: Annotated[
        bool,
        typer.Option(
            "--submit",
            help="Queue the import for a Prefect worker and print the run id at once "
            "(the same manifest twice gives the same run)",
        ),
    ] = False,
) -> None:
    """Import a movie's episode previews from a manifest into S3."""
    from reelflow.manifest import load_manifest

    try:
        manifest = load_manifest(manifest_path)
    except ReelflowError as exc:
        _fail(str(exc))
    if submit:
        from reelflow.cli_ops import submit_import_command

        submit_import_command(manifest, as_json=as_json)
        return
    _require_schema()
    _state, summary = run_import(manifest, show_progress=not as_json)
    if isinstance(summary, BaseException):
        _fail(f"import did not finish: {summary}", code=1)
    if as_json:
        out.print_json(summary.model_dump_json())
    else:
        print_summary(summary)
    raise typer.Exit(0 if summary.ok else 1)


@app.command("demo")
def demo_command(
    episodes: Annotated[int, typer.Option(help="Episodes in the sample movie")] = 10,
) -> None:
    """Run the import on zero-config defaults against local S3 and a local origin."""
    from reelflow.sandbox.demo import run_demo

    raise typer.Exit(run_demo(episodes=episodes, console=out))


def _register_command_groups() -> None:
    from reelflow import cli_bench, cli_cleanup, cli_ops, cli_urls

    for module in (cli_urls, cli_cleanup, cli_ops, cli_bench):
        module.register(app)


_register_command_groups()


def main() -> None:
    """Console entry point: reelflow's own errors and an unreachable database become one line
    on stderr and exit code 2, never a traceback."""
    from sqlalchemy.exc import OperationalError

    from reelflow.malloc import limit_arenas
    from reelflow.settings import get_settings

    try:
        limit_arenas(get_settings().malloc_arenas)  # before any thread allocates
        app(standalone_mode=True)
    except ReelflowError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except OperationalError as exc:
        from reelflow.settings import get_settings

        where = get_settings().safe_summary()["database_url"]
        err.print(
            f"[bold red]error:[/] cannot use the database {where}: {exc.orig}", highlight=False
        )
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
