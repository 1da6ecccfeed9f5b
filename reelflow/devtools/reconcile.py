"""Reconcile the local stack's database with its S3 at start-up.

The local S3 endpoint (moto) may lose objects when it restarts while the database keeps rows
that say `stored`, so presigned URLs would 404. `reelflow up` calls `verify_after_start` once
the database is migrated, the bucket exists and this process has the stack's settings
(after `reset_settings()` with the stack's environment): it runs the verify flow with
execute=True, so what is missing is marked and the next backfill imports it again.
"""

from __future__ import annotations

from rich.console import Console

from flows.verify import verify
from reelflow.core.reports import VerifyReport

__all__ = ["verify_after_start"]


def verify_after_start(console: Console) -> VerifyReport | None:
    """Run verify --execute against the current settings and print one line. Never raises for
    an expected problem: a stack that cannot verify still starts (the line says why)."""
    state = verify(execute=True, return_state=True)
    result = state.result(raise_on_failure=False)
    if not isinstance(result, VerifyReport):
        console.print(f"[yellow]verify did not finish:[/] {result}", highlight=False)
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
