"""Run ffmpeg (the static build the imageio-ffmpeg wheel ships: H.264, VP9, PNG; no download
at run time) as a bounded subprocess.

* an argument list, never a shell; stdin closed;
* its own process group, so a timeout kills ffmpeg and anything it started, and the process
  is always waited for (no zombie);
* a wall-clock timeout; on any failure the outputs it was writing are removed;
* only the file protocol (the argument lists of reelflow.core.video say so), so ffmpeg never
  fetches a URL itself: input is the guarded spool file alone.

ffmpeg's complaint is returned without the spool paths (they say nothing to the user).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reelflow.core.errors import ToolUnavailable, TranscodeFailed

__all__ = ["FfmpegResult", "ffmpeg_exe", "run_ffmpeg"]


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary of the imageio-ffmpeg wheel (or IMAGEIO_FFMPEG_EXE)."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception as exc:  # the wheel's binary is missing or does not run here
        raise ToolUnavailable(f"no ffmpeg: {exc} (reinstall with `make install`)") from None


@dataclass(frozen=True)
class FfmpegResult:
    stdout: bytes
    stderr: str
    seconds: float  # wall clock
    cpu_seconds: float  # user + system time of ffmpeg itself


def _tidy(stderr: str, paths: Sequence[str]) -> str:
    """ffmpeg's last meaningful lines, with the spool paths named for what they are."""
    text = stderr
    for path in paths:
        text = text.replace(f"file:{path}", "the file").replace(path, "the file")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[-3:])[:500] or "no message"


def run_ffmpeg(
    args: Sequence[str],
    *,
    what: str,
    timeout: float,
    outputs: Sequence[str] = (),
    paths: Sequence[str] = (),
) -> FfmpegResult:
    """Run `ffmpeg args`; TranscodeFailed (terminal) when it fails or outlives `timeout`.

    `outputs` are removed when it fails; `paths` are kept out of the error message."""
    cmd = [ffmpeg_exe(), *args]
    started = time.monotonic()
    before = os.times()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: killed whole on timeout
        close_fds=True,
    )
    try:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise TranscodeFailed(
                f"{what}: ffmpeg ran past {timeout:g} s and was stopped (REELFLOW_FFMPEG_TIMEOUT)"
            ) from None
        except BaseException:  # interrupted (KeyboardInterrupt, a cancelled run): never leak it
            _kill(proc)
            raise
    except BaseException:
        for path in outputs:
            Path(path).unlink(missing_ok=True)
        raise
    after = os.times()
    stderr = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        for path in outputs:
            Path(path).unlink(missing_ok=True)
        raise TranscodeFailed(
            f"{what}: ffmpeg failed (exit {proc.returncode}): {_tidy(stderr, [*paths, *outputs])}"
        )
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return FfmpegResult(
        stdout=out, stderr=stderr, seconds=time.monotonic() - started, cpu_seconds=cpu
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaps it and drains the pipes
