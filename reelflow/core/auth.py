"""Bearer tokens for the HTTP API: parsed from settings, checked in constant time. Pure.

    REELFLOW_API_TOKENS="read+write:4f1c...e9,read:9b2d...11"

Each entry is `scopes:token`; scopes are `read` and `write` joined by `+`. Several entries let
tokens be rotated: add the new one, move clients over, remove the old one. A token is at least
16 characters. Only each token's sha256 is kept; a presented token is hashed and compared with
every configured digest by `hmac.compare_digest`, all of them every time, so neither the
answer nor its timing tells which entry (or how much of one) matched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

__all__ = ["SCOPES", "ApiToken", "Verdict", "authorize", "parse_tokens"]

SCOPES = frozenset({"read", "write"})
MIN_TOKEN_LENGTH = 16
Verdict = Literal["ok", "missing", "invalid", "forbidden"]


@dataclass(frozen=True)
class ApiToken:
    scopes: frozenset[str]
    digest: bytes  # sha256 of the token


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def parse_tokens(text: str) -> tuple[ApiToken, ...]:
    """The tokens of REELFLOW_API_TOKENS; ValueError naming the bad entry (by position, never
    by its token)."""
    tokens = []
    for index, entry in enumerate(part.strip() for part in text.split(",")):
        if not entry:
            continue
        scopes_text, sep, token = entry.partition(":")
        if not sep:
            raise ValueError(f"entry {index + 1}: write it as scopes:token (read+write:...)")
        scopes = frozenset(s.strip() for s in scopes_text.split("+") if s.strip())
        if not scopes or not scopes <= SCOPES:
            raise ValueError(f"entry {index + 1}: scopes must be read, write or read+write")
        token = token.strip()
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"entry {index + 1}: a token needs {MIN_TOKEN_LENGTH}+ characters")
        tokens.append(ApiToken(scopes=scopes, digest=_digest(token)))
    return tuple(tokens)


def authorize(header: str | None, tokens: tuple[ApiToken, ...], scope: str) -> Verdict:
    """What an Authorization header earns for a call needing `scope`."""
    if not header:
        return "missing"
    kind, _, presented = header.strip().partition(" ")
    presented = presented.strip()
    if kind.lower() == "basic" and presented:
        # The browser page at `/`: Basic credentials whose password is the token (a browser
        # sends them to every call of the page's origin, the event stream included).
        try:
            decoded = base64.b64decode(presented, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return "invalid"
        presented = decoded.partition(":")[2]
    elif kind.lower() != "bearer":
        return "invalid"
    if not presented:
        return "invalid"
    presented_digest = _digest(presented)
    matched: ApiToken | None = None
    for token in tokens:  # no early exit: every digest is compared
        if hmac.compare_digest(presented_digest, token.digest):
            matched = token
    if matched is None:
        return "invalid"
    return "ok" if scope in matched.scopes else "forbidden"
