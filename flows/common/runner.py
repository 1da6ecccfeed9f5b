"""The task runners of import and backfill, chosen from settings when a run starts, not at
import: threads in the flow run's process (the default), or a Dask cluster
(REELFLOW_TASK_RUNNER=dask, prefect-dask) for CPU-heavy runs that outgrow one machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from reelflow.adapters.malloc import limit_arenas
from reelflow.settings import Settings, get_settings

__all__ = ["SettingsTaskRunner", "SettingsThreadPoolTaskRunner", "dask_runner"]


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


def dask_runner(settings: Settings) -> TaskRunner[Any]:
    """prefect-dask's runner: the scheduler at REELFLOW_DASK_ADDRESS, or a LocalCluster of
    REELFLOW_DASK_WORKERS processes for this run (its dashboard on a free port, logged)."""
    from prefect_dask.task_runners import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.dask_workers,
            "threads_per_worker": settings.dask_threads_per_worker,
            "processes": True,
            "dashboard_address": ":0",
            "env": _prefect_api_env(),
        },
    )


def _prefect_api_env() -> dict[str, str]:
    """The Prefect API this run reports to, for the LocalCluster's workers: without it, a
    zero-config run's workers would each start a temporary server of their own, and their
    task runs and concurrency slots would land in other databases."""
    from prefect.client.orchestration import get_client
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return {}  # inherited from this process's environment
    with get_client(sync_client=True) as client:
        return {"PREFECT_API_URL": str(client.api_url).rstrip("/")}


class SettingsTaskRunner(TaskRunner[Any]):
    """Threads or Dask, by REELFLOW_TASK_RUNNER when the run starts; everything is handed to
    the runner chosen."""

    def __init__(self, size: Callable[[Settings], int] = lambda s: s.import_concurrency) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._size = size
        self._inner: TaskRunner[Any] | None = None

    def duplicate(self) -> SettingsTaskRunner:
        return type(self)(self._size)

    def __enter__(self) -> Any:
        settings = get_settings()
        if settings.task_runner == "dask":
            self._inner = dask_runner(settings)
        else:
            self._inner = SettingsThreadPoolTaskRunner(self._size)
        self._inner.__enter__()
        return super().__enter__()

    def __exit__(self, *args: Any) -> None:
        try:
            if self._inner is not None:
                self._inner.__exit__(*args)
        finally:
            self._inner = None
            super().__exit__(*args)

    def submit(
        self,
        task: Any,
        parameters: dict[str, Any],
        wait_for: Any = None,
        dependencies: Any = None,
    ) -> Any:
        if self._inner is None:
            raise RuntimeError("The task runner must be started before submitting work.")
        return self._inner.submit(task, parameters, wait_for, dependencies)
