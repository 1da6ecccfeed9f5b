"""A setting with a bad value is one line per setting, naming it and never echoing the value,
with exit code 2 (bad configuration): no pydantic traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_bad_settings_are_one_line_each_without_their_values(tmp_path):
    secret = "read:tooshort-secret"
    env = {
        **os.environ,
        "REELFLOW_STORAGE": "gcs",
        "REELFLOW_RETRIES": "many",
        "REELFLOW_API_TOKENS": secret,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "reelflow.cli.main", "config"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr
    assert lines[0] == "error: REELFLOW_STORAGE: Input should be 's3' or 'disk'"
    assert lines[1].startswith("error: REELFLOW_RETRIES: Input should be a valid integer")
    assert lines[2].startswith("error: REELFLOW_API_TOKENS: Value error, entry 1")
    assert "tooshort-secret" not in result.stderr + result.stdout and "many" not in lines[1]
