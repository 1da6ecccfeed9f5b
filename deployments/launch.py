"""The purge launcher reelflow.services.movies.delete_movie is given: it runs the purge-objects
flow in this process, or submits it to the "purge-objects/purge" deployment for a worker."""

from __future__ import annotations

import logging

from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL

from flows.purge_objects import purge_objects
from reelflow.core.reports import PurgeReport

__all__ = ["PURGE_DEPLOYMENT", "PrefectPurgeLauncher"]

PURGE_DEPLOYMENT = "purge-objects/purge"
logger = logging.getLogger(__name__)


class PrefectPurgeLauncher:
    """reelflow.services.movies.PurgeLauncher on Prefect."""

    def __init__(self, deployment: str = PURGE_DEPLOYMENT) -> None:
        self.deployment = deployment

    def run(self, keys: list[str]) -> tuple[PurgeReport | None, str | None]:
        state = purge_objects(keys=keys, return_state=True)
        result = state.result(raise_on_failure=False)
        if isinstance(result, PurgeReport):
            return result, None
        return None, f"purge-objects ended {state.name}: {result}"

    def submit(self, keys: list[str]) -> str | None:
        """A purge-objects run on the deployment; None if there is none to submit to."""
        if not PREFECT_API_URL.value():
            return None  # an ephemeral API has no workers: a submitted run would never start
        try:
            run = run_deployment(  # type: ignore[call-arg]
                self.deployment,
                parameters={"keys": keys},
                timeout=0,
                as_subflow=False,
                tags=["reelflow", "purge"],
                _sync=True,
            )
        except ObjectNotFound:
            return None
        except Exception:  # the API is down or refused: the keys are safe in the queue anyway
            logger.warning("could not submit to %s", self.deployment, exc_info=True)
            return None
        return str(run.id)  # type: ignore[union-attr]
