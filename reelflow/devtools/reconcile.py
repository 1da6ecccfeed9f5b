"""Reconcile the local stack's database with its S3 at start-up.

The local S3 endpoint (moto) may lose objects when it restarts while the database keeps rows
that say `stored`, so presigned URLs would 404. `reelflow up` calls `verify_after_start` once
the stack is healthy: it runs `reelflow verify --execute` in a child process with the stack's
environment (its Prefect server, database and S3), so what is missing is marked and the next
backfill imports it again. A child process, because Prefect reads its API URL when it is
imported, and `reelflow up` itself must not talk to a server of its own.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from reelflow.core.reports import VerifyReport

__all__ = ["verify_after_start"]

TIMEOUT_SECONDS = 900


def verify_after_start(
    console: Console, env: Mapping[str, str], cwd: Path | None = None
) -> VerifyReport | None:
    """Run verify --execute with `env` and print one line. Never raises for an expected
    problem: a stack that cannot verify still starts (the line says why)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "reelflow.cli.main", "verify", "--execute", "--json"],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        console.print(f"[yellow]verify did not finish within {TIMEOUT_SECONDS} s[/]")
        return None
    try:
        result = VerifyReport.model_validate_json(done.stdout)
    except ValidationError:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        console.print(f"[yellow]verify did not finish:[/] {why}", highlight=False, markup=False)
        return None
    if result.problems:
        console.print(
            f"[yellow]{result.problems} stored objects were missing or differed in S3[/]: "
            f"marked {result.marked} for backfill (`reelflow backfill` imports them now)",
            highlight=False,
        )
    else:
        console.print(f"verified {result.checked} stored objects in S3: all there", highlight=False)
    return result
