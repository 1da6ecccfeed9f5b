"""A local S3-compatible endpoint (moto's server) in a child process, on a free port.

Used by `make demo`, the tests and the benchmarks. moto does not check presigned-URL expiry or
signatures: test those properties another way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from reelflow.adapters.lifeline import die_with_parent

__all__ = ["MotoServer", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SPILL_BYTES = 2**20


class MotoServer:
    """`with MotoServer() as s3: s3.endpoint` — an S3 endpoint over HTTP until the block ends."""

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> MotoServer:
        try:
            import moto.server  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "moto[server] is not installed: run `make install` (it is a dev dependency)"
            ) from exc
        out = open(self._log, "ab") if self._log else subprocess.DEVNULL  # noqa: SIM115
        # moto keeps each object in memory up to ~5 MB, then in a temp file: 10,000 2 MB
        # previews were 20 GB of RAM. Objects over 1 MiB go to temp files (freed on exit).
        env = {**os.environ}
        env.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(SPILL_BYTES))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent(),  # a killed test or benchmark takes moto with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1.0, trust_env=False)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout}s")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def reset(self) -> None:
        """Drop every bucket and object (moto's own reset endpoint)."""
        httpx.post(f"{self.endpoint}/moto-api/reset", timeout=10.0, trust_env=False)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
