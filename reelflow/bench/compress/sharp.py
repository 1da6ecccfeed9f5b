"""The sharp baseline: the seed's pipeline in node (bench/sharp/compress.mjs), one run a round.

Anything that keeps it from running (no node or npm, a failed install, a failed or slow run)
raises ToolUnavailable, whose message says why.
"""

from __future__ import annotations

import enum
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reelflow.core.errors import ToolUnavailable

__all__ = ["SHARP_DIR", "Baseline", "ensure_sharp", "sharp_round"]

SHARP_DIR = Path(__file__).resolve().parents[3] / "bench" / "sharp"
_NPM_TIMEOUT = 300.0
_NODE_TIMEOUT = 1800.0


class Baseline(enum.StrEnum):
    auto = "auto"  # sharp when node can run it, else pillow
    sharp = "sharp"  # sharp or fail
    pillow = "pillow"  # naive Pillow, no node needed


def ensure_sharp(sharp_dir: Path, say: Callable[[str], None]) -> str:
    """Install sharp into sharp_dir/node_modules once; return the node executable."""
    node = shutil.which("node")
    if node is None:
        raise ToolUnavailable("node is not on PATH")
    if not (sharp_dir / "compress.mjs").is_file():
        raise ToolUnavailable(f"{sharp_dir}/compress.mjs not found (not a source checkout?)")
    if not (sharp_dir / "node_modules" / "sharp" / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise ToolUnavailable("npm is not on PATH")
        verb = "ci" if (sharp_dir / "package-lock.json").is_file() else "install"
        say(f"installing sharp: npm {verb} --prefix {sharp_dir}")
        try:
            done = subprocess.run(
                [npm, verb, "--no-audit", "--no-fund", "--prefix", str(sharp_dir)],
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolUnavailable(f"npm {verb} took over {_NPM_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ToolUnavailable(f"npm {verb} failed: {' | '.join(tail)}")
    return node


def sharp_round(
    node: str, sharp_dir: Path, list_file: Path, out_dir: Path | None
) -> dict[str, Any]:
    """One pass of compress.mjs over the files in `list_file`; its JSON report.

    With `out_dir`, the outputs are written there as <index>.webp.
    """
    command = [node, str(sharp_dir / "compress.mjs"), "--list", str(list_file)]
    if out_dir is not None:
        command += ["--out", str(out_dir)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_NODE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ToolUnavailable(f"sharp took over {_NODE_TIMEOUT:.0f} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        raise ToolUnavailable(f"sharp failed (exit {done.returncode}): {' | '.join(tail)}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report
