"""What the API's OpenAPI document says beyond its routes: the problem document every error
answers (reelflow.api.problems), the errors any operation may answer, and the bearer scheme."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from reelflow.api.problems import PROBLEM_TYPE

__all__ = ["ERRORS", "ProblemModel", "complete"]

_PROBLEM = {"content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not JSON", **_PROBLEM},
    401: {"description": "No token, or an unknown one", **_PROBLEM},
    403: {"description": "The token lacks the scope", **_PROBLEM},
    404: {"description": "No such movie or run", **_PROBLEM},
    413: {"description": "The body is over REELFLOW_API_MAX_BODY_MB", **_PROBLEM},
    422: {"description": "Invalid parameters or body", **_PROBLEM},
    503: {"description": "A service reelflow needs is down", **_PROBLEM},
}


class ProblemModel(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None


def complete(app: FastAPI) -> None:
    """Add the Problem schema and the bearer security scheme to `app`'s document (built once,
    on first request of /openapi.json)."""
    base = app.openapi
    app.openapi_schema = None

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Problem"] = ProblemModel.model_json_schema()
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "REELFLOW_API_TOKENS"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
