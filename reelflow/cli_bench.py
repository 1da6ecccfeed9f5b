"""`reelflow bench ...`: one sub-command per benchmark, each defined in reelflow/bench/."""

from __future__ import annotations

import importlib

import typer

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures (JSON last).")

# Modules in reelflow/bench/ that define register(bench_app). Their heavy imports (numpy,
# pyvips, moto) stay inside the commands, so `reelflow --help` does not pay for them.
BENCHMARKS = ("compress", "importer", "presign", "sweep")


def register(app: typer.Typer) -> None:
    for name in BENCHMARKS:
        importlib.import_module(f"reelflow.bench.{name}").register(bench_app)
    app.add_typer(bench_app, name="bench")
