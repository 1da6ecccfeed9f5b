"""`reelflow urls MOVIE_ID` and `reelflow warmup`: the URLs an app gets, and warming them."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from reelflow.cli.common import counts_table, flow_result, one_line_errors, out, require_schema
from reelflow.core.errors import MovieNotFound
from reelflow.core.reports import WarmupReport

__all__ = ["register"]

_KINDS = (("thumbnail", "thumbnail_url"), ("preview", "video_preview_url"))


def episode_urls(movie_id: str) -> list[dict[str, Any]]:
    """Each episode of the movie with the URLs an app would render (through the cache)."""
    from reelflow.services import urls

    return urls.episode_media(movie_id)


def _print_table(movie_id: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"movie {movie_id}", show_lines=False)
    table.add_column("ep", justify="right")
    table.add_column("asset")
    table.add_column("from")
    table.add_column("size", justify="right")
    table.add_column("url", overflow="fold")
    for row in rows:
        for kind, column in _KINDS:
            origin = row[f"{kind}_from"]
            style = {"none": "dim", "temporary": "yellow"}.get(origin, "")
            table.add_row(
                str(row["episode"]),
                kind,
                f"[{style}]{origin}[/]" if style else origin,
                "",
                row[column] or "",
            )
            if kind != "thumbnail":
                preview = row.get("preview")
                if preview and preview["sources"]:
                    for item in preview["sources"]:
                        table.add_row(
                            "",
                            f"  clip {item['format']} {preview['seconds']:.1f}s"
                            f" (from {preview['clip_start']:.1f}s of"
                            f" {preview['source_seconds']:.0f}s)",
                            "",
                            f"{item['width']}x{item['height']}",
                            item["url"] or "",
                        )
                continue
            for item in row["renditions"]:
                table.add_row(
                    "",
                    f"  {item['rung']} {item['format']}",
                    "",
                    f"{item['width']}x{item['height']}",
                    item["url"] or "",
                )
            if row["placeholder"]:
                placeholder = row["placeholder"]
                table.add_row(
                    "",
                    "  placeholder",
                    "",
                    f"[on {placeholder['color']}]    [/] {placeholder['color']}",
                    placeholder["thumbhash"],
                )
    out.print(table)


def urls_command(
    movie_id: Annotated[str, typer.Argument(metavar="MOVIE_ID")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the URLs as JSON")] = False,
) -> None:
    """Print each episode's thumbnail and preview URL as an app would get them (cached)."""
    require_schema(flows=False)
    rows = episode_urls(movie_id)
    if not rows:
        raise MovieNotFound(f"movie {movie_id!r} has no episodes")
    if as_json:
        typer.echo(json.dumps({"movie_id": movie_id, "episodes": rows}, indent=2))
    else:
        _print_table(movie_id, rows)


def warmup_command(
    top: Annotated[
        int | None,
        typer.Option(min=1, help="Movies to warm, most recently updated first"),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="URLs per batch")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Run the presign-warmup flow here: sign and cache the URLs apps will ask for next."""
    from flows.presign_warmup import WarmupRequest, presign_warmup

    require_schema()
    state = presign_warmup(WarmupRequest(top=top, batch_size=batch_size), return_state=True)
    report = flow_result(state, WarmupReport, "warmup")
    if as_json:
        typer.echo(report.model_dump_json())
        return
    out.print(counts_table("presign warmup", report.counts()))
    out.print(report.headline(), highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the reelflow CLI."""
    app.command("urls")(one_line_errors(urls_command))
    app.command("warmup")(one_line_errors(warmup_command))
