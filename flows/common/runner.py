"""A thread-pool task runner sized from settings when the flow starts, not at import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner

from reelflow.adapters.malloc import limit_arenas
from reelflow.settings import Settings, get_settings

__all__ = ["SettingsThreadPoolTaskRunner"]


class SettingsThreadPoolTaskRunner(ThreadPoolTaskRunner):  # type: ignore[type-arg]
    """ThreadPoolTaskRunner whose max_workers is read from settings at run time."""

    def __init__(self, size: Callable[[Settings], int] = lambda s: s.import_concurrency) -> None:
        super().__init__(max_workers=1)
        self._size = size

    def duplicate(self) -> SettingsThreadPoolTaskRunner:
        return type(self)(self._size)

    def __enter__(self) -> Any:
        settings = get_settings()
        self._max_workers = max(1, self._size(settings))
        limit_arenas(settings.malloc_arenas)  # before the pool's threads allocate
        return super().__enter__()
