"""`reelflow bench ...`: one sub-command per benchmark, each defined in reelflow/bench/."""

from __future__ import annotations

import typer

from reelflow.bench import (
    api,
    compress,
    decode_memory,
    importer,
    orchestration,
    presign,
    scale,
    store,
    submit,
    sweep,
    verify,
    video,
)

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures (JSON last).")


def register(app: typer.Typer) -> None:
    """Each benchmark module defines register(bench_app). Their heavy imports (numpy, pyvips,
    moto, Prefect) stay inside the commands, so `reelflow --help` does not pay for them."""
    for module in (
        api,
        compress,
        decode_memory,
        importer,
        orchestration,
        presign,
        scale,
        store,
        submit,
        sweep,
        verify,
        video,
    ):
        module.register(bench_app)
    app.add_typer(bench_app, name="bench")
