"""Placeholders shown while a thumbnail loads: a ThumbHash and a dominant colour. Pure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Placeholder"]


@dataclass(frozen=True)
class Placeholder:
    """thumbhash: the ThumbHash bytes, base64 (standard alphabet, no padding stripped);
    color: the dominant colour as '#rrggbb'."""

    thumbhash: str
    color: str
