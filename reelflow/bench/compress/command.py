"""The typer command `reelflow bench compress` and `register`.

Only what the options need is imported here; the benchmark itself (Pillow's plugins, cProfile,
then numpy and pyvips) is imported when the command runs, so `reelflow --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from reelflow.bench.compress.images import find_images, generate_images
from reelflow.bench.compress.sharp import SHARP_DIR, Baseline
from reelflow.core.errors import ToolUnavailable
from reelflow.core.imaging import ImagePolicy

__all__ = ["compress_command", "register"]


def compress_command(
    directory: Annotated[Path, typer.Argument(help="Folder of JPEG/PNG images.")],
    threads: Annotated[int, typer.Option(min=1, help="Threads for our path.")] = 1,
    generate: Annotated[
        int,
        typer.Option(
            min=0,
            help="If DIR is missing or has no JPEG/PNG, first write N photo-like 1920x1080 "
            "JPEGs into it.",
        ),
    ] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="Passes over the images.")] = 1,
    baseline: Annotated[
        Baseline, typer.Option(help="auto: sharp if node can run it, else naive Pillow.")
    ] = Baseline.auto,
    sharp_dir: Annotated[
        Path, typer.Option(help="Where bench/sharp (package.json, compress.mjs) is.")
    ] = SHARP_DIR,
    with_ssim: Annotated[bool, typer.Option("--ssim/--no-ssim", help="Measure SSIM.")] = True,
    with_pyvips: Annotated[
        bool, typer.Option("--pyvips/--no-pyvips", help="Also time pyvips, if installed.")
    ] = True,
    resampler: Annotated[
        str,
        typer.Option(
            help="ImagePolicy.resampler for our path: auto (libvips if installed) or pillow."
        ),
    ] = ImagePolicy().resampler,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
    ladder: Annotated[
        bool,
        typer.Option(
            "--ladder",
            help="The whole ladder (REELFLOW_LADDER) per image against sharp making the same "
            "ladder (one decode, clone() per rung)",
        ),
    ] = False,
    avif: Annotated[
        bool, typer.Option("--avif", help="With --ladder: also time AVIF added to every rung")
    ] = False,
) -> None:
    """Time compress_image over DIR against sharp (or naive Pillow) in the same run."""
    from reelflow.bench.compress.report import describe
    from reelflow.bench.compress.runner import run

    if resampler not in ("auto", "pillow"):
        typer.echo("error: --resampler must be auto or pillow", err=True)
        raise typer.Exit(2)
    policy = ImagePolicy(resampler="pillow" if resampler == "pillow" else "auto")
    written = generate_images(directory, generate)
    if written:
        typer.echo(f"wrote {written} photo-like 1920x1080 JPEGs into {directory}")
    files = find_images(directory)
    if not files:
        typer.echo(
            f"error: no .jpg/.jpeg/.png in {directory} (use --generate N to make some)", err=True
        )
        raise typer.Exit(2)
    if ladder:
        _ladder(files, avif=avif, as_json=as_json)
        return
    typer.echo(f"{len(files)} images in {directory}, {rounds} round(s), {threads} thread(s)")
    try:
        result = run(
            files,
            threads=threads,
            rounds=rounds,
            baseline=baseline,
            sharp_dir=sharp_dir,
            with_ssim=with_ssim,
            with_pyvips=with_pyvips,
            policy=policy,
            say=typer.echo,
        )
    except ToolUnavailable as exc:
        typer.echo(f"error: sharp baseline unavailable: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    data = result.as_json()
    for line in describe(data):
        typer.echo(line)
    if as_json:
        typer.echo(json.dumps(data, separators=(",", ":")))


def _ladder(files: list[Path], *, avif: bool, as_json: bool) -> None:
    from reelflow.bench.compress.ladder import describe, run_ladder
    from reelflow.settings import get_settings

    try:
        result = run_ladder(files, get_settings().image_ladder(), avif=avif, say=typer.echo)
    except ToolUnavailable as exc:
        typer.echo(f"error: sharp baseline unavailable: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    for line in describe(result):
        typer.echo(line)
    if as_json:
        typer.echo(json.dumps(result, separators=(",", ":")))


def register(bench_app: typer.Typer) -> None:
    """`reelflow bench compress`."""
    bench_app.command("compress")(compress_command)
