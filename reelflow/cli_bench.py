"""`reelflow bench ...`: one sub-command per benchmark, each defined in reelflow/bench/."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import reelflow.bench

bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures (JSON last).")


def register(app: typer.Typer) -> None:
    """Add `reelflow bench` with every module in reelflow/bench that defines register()."""
    for info in sorted(pkgutil.iter_modules(reelflow.bench.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"reelflow.bench.{info.name}")
        if hasattr(module, "register"):
            module.register(bench_app)
    app.add_typer(bench_app, name="bench")
