"""The import manifest: typed flow parameters (the Prefect UI renders them as a form)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reelflow.core.errors import ManifestError

__all__ = ["EpisodeIn", "Manifest", "load_manifest", "parse_manifest"]

_MAX_URL = 4096


class EpisodeIn(BaseModel):
    """One episode as the importer receives it, with its temporary media URLs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: int = Field(ge=0, le=999_999, description="Episode number, unique within the movie")
    title: str = Field(default="", max_length=500)
    thumbnail_url: str | None = Field(default=None, max_length=_MAX_URL)
    video_preview_url: str | None = Field(default=None, max_length=_MAX_URL)

    @field_validator("thumbnail_url", "video_preview_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.lower().startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value


class Manifest(BaseModel):
    """A movie and its episodes: the input of the import flow."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    movie_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$",
        description="Stable id of the movie; becomes part of every object key",
    )
    title: str = Field(default="", max_length=500)
    episodes: list[EpisodeIn] = Field(default_factory=list, max_length=20_000)

    @model_validator(mode="after")
    def _unique_numbers(self) -> Manifest:
        seen: set[int] = set()
        for index, episode in enumerate(self.episodes):
            if episode.number in seen:
                raise ValueError(f"episodes[{index}].number {episode.number} appears twice")
            seen.add(episode.number)
        return self


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def parse_manifest(data: Any) -> Manifest:
    """Validate a decoded manifest, raising ManifestError that names each bad field."""
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"invalid manifest: {_describe(exc)}") from None


def load_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    return parse_manifest(data)
