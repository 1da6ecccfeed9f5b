"""Small media files made by ffmpeg from a lavfi source, for tests that need a particular
kind of file (audio only, one pixel, ...)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def lavfi(out: Path, graph: str, *codec: str) -> Path:
    """Render the lavfi `graph` (e.g. "sine=duration=1") to `out` with the `codec` options."""
    from reelflow.adapters.ffmpeg import ffmpeg_exe

    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", graph, *codec, os.fspath(out)],
        check=True,
    )
    return out
