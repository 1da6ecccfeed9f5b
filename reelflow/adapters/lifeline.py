"""Child processes that cannot outlive the process that started them.

A command that starts a helper (Prefect's temporary API server, a local S3 endpoint, a
benchmark's origin) and is then killed, with SIGKILL or with a SIGTERM it does not catch,
runs no `finally` and no `atexit`: the helper would be left running, holding memory and a
port. On Linux the kernel can deliver a signal to a child the moment its parent dies
(prctl PR_SET_PDEATHSIG); `die_with_parent` arms it in the child, between fork and exec,
so it holds whatever way the parent ends. Elsewhere it does nothing (the helpers are then
stopped only by an orderly exit).

Linux ties the signal to the *thread* that forked the child: start children whose lifetime
is the command's from the main thread (a helper thread that ends would take them with it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

__all__ = ["arm_in_child", "die_with_parent"]

_PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, resolved in the parent: the child, forked from a process with threads,
    should do as little as possible before exec (no dlopen, no locks)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child gets `sig` when this process dies.

    Captures this process's pid now, so a parent that died between fork and the prctl
    call (the child would have been re-parented already and never get the signal) is
    noticed and the child exits at once instead of running orphaned."""
    parent = os.getpid()
    prctl = _prctl()

    def arm() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return arm


def arm_in_child(parent: int, sig: int = signal.SIGKILL) -> None:
    """The same from inside a child already running Python (a multiprocessing target):
    call it first thing, with the parent's pid passed in."""
    prctl = _prctl()
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)
