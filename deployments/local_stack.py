"""Where the local stack (`reelflow up`, reelflow.devtools.stack) records its processes, and
whether they still run. deployments.api reads it to find the local Prefect API; the stack
writes it. Kept here, below both, so neither imports the other's layer upward."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Paths", "alive", "load_state", "running_api_url", "save_state", "start_ticks"]


@dataclass(frozen=True)
class Paths:
    """The checkout the stack runs (`root`) and where its state lives (`home`, by default
    root/.reelflow; the demo keeps its own state beside it, never under stack/)."""

    root: Path
    home: Path | None = None

    @property
    def state_dir(self) -> Path:
        return self.home or self.root / ".reelflow"

    @property
    def stack(self) -> Path:
        return self.state_dir / "stack"

    @property
    def state(self) -> Path:
        return self.stack / "state.json"

    @property
    def env(self) -> Path:
        return self.stack / "env"

    @property
    def logs(self) -> Path:
        return self.stack / "logs"

    @property
    def prefect_home(self) -> Path:
        return self.stack / "prefect"

    @property
    def lock(self) -> Path:
        return self.stack / "lock"


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (to spot a recycled pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat(5), counting from after the "(comm)"


def alive(entry: dict[str, Any] | None) -> bool:
    if not entry:
        return False
    ticks = start_ticks(int(entry["pid"]))
    if ticks is None or ticks != entry.get("start"):
        return False
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{entry['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return False


def load_state(paths: Paths) -> dict[str, Any]:
    try:
        data = json.loads(paths.state.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_state(paths: Paths, state: dict[str, Any]) -> None:
    paths.stack.mkdir(parents=True, exist_ok=True)
    tmp = paths.state.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(paths.state)


def running_api_url(state_dir: Path | None = None) -> str | None:
    """The local stack's API URL if `reelflow up` has a server running, else None."""
    paths = Paths((state_dir or Path(".reelflow")).resolve().parent)
    state = load_state(paths)
    if alive(state.get("processes", {}).get("server")):
        return str(state["api_url"])
    return None
