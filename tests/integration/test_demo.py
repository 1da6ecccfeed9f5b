"""`make demo`, a new user's first command: it works on zero-config defaults, a second run
uploads nothing, and neither prints a traceback (Prefect's throwaway server included: stopped
as the command ends, it logged the run events it could not flush as four tracebacks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from reelflow.devtools.demo import stop_s3


def _demo(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "S3_"))}
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "demo"],  # 10 episodes, as `make demo`
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_demo_runs_twice_without_a_traceback(tmp_path: Path) -> None:
    try:
        first = _demo(tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "20 stored (20 uploaded)" in " ".join(first.stdout.split())
        # Every thumbnail's three rungs and its placeholder, as an app gets them.
        assert "large medium small" in first.stdout
        shown = re.findall(
            r"1280x720 640x360 320x180 .* #[0-9a-f]{6} [A-Za-z0-9+/]{20,}", first.stdout
        )
        assert len(shown) == 8, first.stdout
        # The last two episodes have only a full-length video: a poster ladder (from an
        # 854x480 source: never upscaled) and a 6 s muted clip cut after the black intro.
        posters = re.findall(r"854x480 640x360 320x180 .* #[0-9a-f]{6} ", first.stdout)
        assert len(posters) == 2, first.stdout
        clips = re.findall(r"mp4 854x480 6\.0s muted .* ([0-9.]+)s of 90s", first.stdout)
        assert len(clips) == 2 and all(float(start) >= 5.0 for start in clips), first.stdout
        second = _demo(tmp_path)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "0 uploaded" in " ".join(second.stdout.split())
        for run in (first, second):
            assert "Traceback" not in run.stdout + run.stderr
    finally:
        stop_s3(tmp_path / ".reelflow")  # the demo's background S3, started by this test
    assert (tmp_path / "reelflow.db").exists(), "zero-config: SQLite in the working directory"
