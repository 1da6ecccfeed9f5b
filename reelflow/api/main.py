"""Factories uvicorn imports (`reelflow serve`; several workers each build their own)."""

from __future__ import annotations

from fastapi import FastAPI

from reelflow.api.app import create_app


def app() -> FastAPI:
    return create_app()


def insecure_app() -> FastAPI:
    return create_app(insecure=True)
