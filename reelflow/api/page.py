"""The page at `/`: an import's progress, live, in a browser (static/index.html, no build)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from reelflow.api.security import READ

__all__ = ["router"]

router = APIRouter()
_PAGE = Path(__file__).parent / "static" / "index.html"


@router.get("/", dependencies=[READ], response_class=HTMLResponse, include_in_schema=False)
def page() -> HTMLResponse:
    """A page that shows an import's progress live (?run=<run id>). A browser signs in
    with Basic credentials whose password is a read token (the prompt comes by itself)."""
    return HTMLResponse(
        _PAGE.read_text(encoding="utf-8"),
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
