"""The one switch that resets reelflow's process state: `reset()`.

A process keeps, once built: the settings (read from the environment once), database engines
and guarded HTTP clients (reelflow.services.resources), object stores and their clients
(reelflow.adapters.storage) and the signed-URL resolvers with their in-process cache and Redis
connection (reelflow.services.urls). `reset()` closes and forgets all of them, so the next use
builds them again from the environment as it is now. Tests call it between tests
(tests/conftest.py); an embedding app calls it after changing reelflow's environment variables.
"""

from __future__ import annotations

from reelflow.adapters.cdn import forget_purgers
from reelflow.adapters.storage import forget_stores
from reelflow.services import resources, urls
from reelflow.settings import reset_settings

__all__ = ["reset"]


def reset() -> None:
    """Forget settings and close every client, engine and cache this process holds."""
    urls.reset()
    resources.dispose()
    forget_stores()
    forget_purgers()
    reset_settings()
