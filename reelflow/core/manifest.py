"""The import manifest: typed flow parameters (the Prefect UI renders them as a form).

Parsed strictly: no string, float or bool becomes an episode number, no id is trimmed into
another one, and no text field may hold a control character (NUL included), so what is stored
is exactly what was sent. `load_manifest` turns any file a user can hand the CLI (another
encoding, a byte-order mark, a huge integer, deep nesting, a top-level array) into one
ManifestError that names the problem.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.config import JsonDict

from reelflow.core.errors import ManifestError

__all__ = [
    "MAX_EPISODES",
    "EpisodeIn",
    "Manifest",
    "ManifestRef",
    "canonical_json",
    "load_manifest",
    "manifest_ref",
    "parse_manifest",
]

# One cap for every way in (file, stored reference, the UI form). A flow run takes a
# ManifestRef of ~150 bytes, so the cap is not bound by Prefect's 512 KB parameter limit.
MAX_EPISODES = 20_000
_MAX_URL = 4096
_MAX_INT_DIGITS = 20  # episode numbers are at most 6 digits; anything longer is not ours
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The same rules, stated in the JSON schema (the validators below give the error messages).
_TEXT_SCHEMA: JsonDict = {"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}
_URL_SCHEMA: JsonDict = {"pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\u0000-\\u001f\\u007f]*$"}
_BOMS = {
    b"\xef\xbb\xbf": "a UTF-8 byte-order mark",
    b"\xff\xfe": "a UTF-16 byte-order mark",
    b"\xfe\xff": "a UTF-16 byte-order mark",
}


def _no_control_characters(value: Any) -> Any:
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            raise ValueError(f"contains a control character (U+{ord(found.group()):04X})")
    return value


class EpisodeIn(BaseModel):
    """One episode as the importer receives it, with its temporary media URLs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    number: int = Field(ge=0, le=999_999, description="Episode number, unique within the movie")
    title: str = Field(default="", max_length=500, json_schema_extra=_TEXT_SCHEMA)
    thumbnail_url: str | None = Field(
        default=None,
        max_length=_MAX_URL,
        json_schema_extra=_URL_SCHEMA,
        description="Temporary URL of the episode's thumbnail image (JPEG, PNG, WebP, AVIF, "
        "...); stored as a ladder of WebP sizes with a placeholder",
    )
    video_preview_url: str | None = Field(
        default=None,
        max_length=_MAX_URL,
        json_schema_extra=_URL_SCHEMA,
        description="Temporary URL of a ready-made short preview clip; stored as it is when "
        "browsers play it and it is short, else transcoded into a muted H.264 clip",
    )
    video_url: str | None = Field(
        default=None,
        max_length=_MAX_URL,
        json_schema_extra=_URL_SCHEMA,
        description="Temporary URL of the full-length episode or trailer: the preview clip is "
        "cut from it when there is no video_preview_url, and the poster (the thumbnail) is "
        "taken from it when there is no thumbnail_url",
    )

    check_text = field_validator(
        "title", "thumbnail_url", "video_preview_url", "video_url", mode="before"
    )(_no_control_characters)

    @field_validator("thumbnail_url", "video_preview_url", "video_url")
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

    model_config = ConfigDict(extra="forbid", strict=True)

    movie_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$",
        description="Stable id of the movie; becomes part of every object key",
    )
    title: str = Field(default="", max_length=500, json_schema_extra=_TEXT_SCHEMA)
    episodes: list[EpisodeIn] = Field(default_factory=list, max_length=MAX_EPISODES)

    check_text = field_validator("movie_id", "title", mode="before")(_no_control_characters)

    @model_validator(mode="after")
    def _unique_numbers(self) -> Manifest:
        seen: set[int] = set()
        for index, episode in enumerate(self.episodes):
            if episode.number in seen:
                raise ValueError(f"episodes[{index}].number {episode.number} appears twice")
            seen.add(episode.number)
        return self


class ManifestRef(BaseModel):
    """A manifest stored by the submit step, named by the sha256 of its canonical JSON.

    This is what a flow run carries instead of the manifest: small whatever the manifest's
    size, and free of the temporary URLs' tokens (which Prefect would keep in its database and
    show in the UI).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    movie_id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$", description="The manifest's movie_id"
    )
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="sha256 of the manifest's canonical JSON"
    )
    episodes: int = Field(ge=0, le=MAX_EPISODES, description="How many episodes it lists")


def canonical_json(manifest: Manifest) -> str:
    """The manifest as validated (defaults filled in), keys sorted, no spaces."""
    return json.dumps(
        manifest.model_dump(mode="json"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def manifest_ref(manifest: Manifest, body: str | None = None) -> ManifestRef:
    """The content address of `manifest`: equal manifests have equal references. `body` is
    its canonical_json when the caller has it already (it is megabytes at 20,000 episodes)."""
    text = canonical_json(manifest) if body is None else body
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return ManifestRef(movie_id=manifest.movie_id, sha256=digest, episodes=len(manifest.episodes))


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def parse_manifest(data: Any) -> Manifest:
    """Validate a decoded manifest, raising ManifestError that names each bad field."""
    if not isinstance(data, dict):
        raise ManifestError(
            f"invalid manifest: the top level must be an object, not {type(data).__name__}"
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(f"invalid manifest: {_describe(exc)}") from None


def _bounded_int(text: str) -> int:
    digits = text.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits)} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_manifest(path: Path) -> Manifest:
    """Read, decode and validate a manifest file; every problem is one ManifestError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    for bom, what in _BOMS.items():
        if raw.startswith(bom):
            raise ManifestError(f"{path} starts with {what}: save it as UTF-8 without one")
    if b"\x00" in raw:
        raise ManifestError(f"{path} holds NUL bytes (UTF-16? binary?): save it as UTF-8 JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}): "
            "save it as UTF-8"
        ) from None
    try:
        data = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ManifestError(f"{path} is not a manifest: its JSON is nested too deeply") from None
    except ValueError as exc:
        raise ManifestError(f"{path} is not a manifest: {exc}") from None
    return parse_manifest(data)
