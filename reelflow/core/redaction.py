"""Redaction: what of a URL, or of any text that may hold URLs, is safe to print and store.

Temporary CDN URLs carry their tokens in the query string (and sometimes in a fragment or in
user:password@). `redact(url)` keeps scheme://host[:port]/path. `scrub(text)` applies it to
every URL inside free text, and cuts any bare `?key=value` query left over, so it can be put
on every boundary that formats an error: a failed step's message (reelflow.core.errors.
StepFailure, which becomes the asset row's last_error and the run's log), the CLI's error line
and Prefect's run loggers (tasks/log.py).

Pure: no I/O, no dependencies.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["redact", "scrub"]

_USERINFO = re.compile(r"//[^/?#]*@")
# A URL inside text: scheme://, then anything up to whitespace, a quote or an angle bracket.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s'\"<>`]*")
# What is left of a query string outside a URL, e.g. an echoed "?sig=..." or "&token=...".
_BARE_QUERY = re.compile(r"[?&][A-Za-z0-9_.~%\-]+=[^\s'\"<>`]*")


def redact(url: str) -> str:
    """`url` as scheme://host[:port]/path: no credentials, query string or fragment."""
    text = str(url).strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        # Too broken to parse: cut the query and fragment and any userinfo by hand.
        text = text.split("#", 1)[0].split("?", 1)[0]
        return _USERINFO.sub("//", text) or "<empty URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    scheme = parts.scheme.lower()
    if parts.netloc:
        prefix = f"{scheme}://{netloc}" if scheme else f"//{netloc}"
    else:
        prefix = f"{scheme}:" if scheme else ""
    return f"{prefix}{parts.path}" or "<empty URL>"


def _redact_in_text(found: re.Match[str]) -> str:
    url = found.group()
    core = url.rstrip(".,;:!)]}")  # sentence punctuation after a URL stays in the sentence
    return redact(core) + url[len(core) :]


def scrub(text: str) -> str:
    """`text` with every URL in it redacted and any stray query string cut to '?…'."""
    if "//" not in text and "=" not in text:
        return text
    text = _URL_IN_TEXT.sub(_redact_in_text, text)
    text = _USERINFO.sub("//", text)  # protocol-relative //user:token@host
    return _BARE_QUERY.sub(lambda found: found.group()[0] + "…", text)
