"""API tokens (reelflow.core.auth) as plain tables: parsing, and what a header earns."""

from __future__ import annotations

import base64

import pytest

from reelflow.core.auth import authorize, parse_tokens

TOKENS = parse_tokens("read+write:w" + "1" * 19 + ", read:r" + "2" * 19 + ",write:o" + "3" * 19)
W, R, WO = "w" + "1" * 19, "r" + "2" * 19, "o" + "3" * 19


@pytest.mark.parametrize(
    ("header", "scope", "verdict"),
    [
        (None, "read", "missing"),
        ("", "read", "missing"),
        ("Bearer", "read", "invalid"),
        (f"Basic {W}", "read", "invalid"),
        (f"Bearer {W}x", "read", "invalid"),
        (f"Bearer {W[:-1]}", "read", "invalid"),
        (f"Bearer {W}", "read", "ok"),
        (f"bearer   {W}  ", "write", "ok"),
        (f"Bearer {R}", "read", "ok"),
        (f"Bearer {R}", "write", "forbidden"),
        (f"Bearer {WO}", "write", "ok"),
        (f"Bearer {WO}", "read", "forbidden"),
        ("Basic " + base64.b64encode(f"me:{R}".encode()).decode(), "read", "ok"),
        ("Basic " + base64.b64encode(f"me:{R}".encode()).decode(), "write", "forbidden"),
        ("Basic " + base64.b64encode(b"me:nope-nope-nope-nope").decode(), "read", "invalid"),
        ("Basic " + base64.b64encode(b"me:").decode(), "read", "invalid"),
        ("Basic !!!not-base64", "read", "invalid"),
    ],
)
def test_what_a_header_earns(header, scope, verdict):
    assert authorize(header, TOKENS, scope) == verdict


def test_no_tokens_configured_lets_nothing_through():
    assert authorize(f"Bearer {W}", (), "read") == "invalid"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("readwrite", "entry 1: write it as scopes:token"),
        ("admin:" + "x" * 20, "entry 1: scopes must be"),
        ("read:short", "entry 1: a token needs 16+"),
        ("read:" + "x" * 20 + ",read+delete:" + "y" * 20, "entry 2: scopes must be"),
    ],
)
def test_bad_entries_are_named_by_position_never_by_token(text, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        parse_tokens(text)
    assert "x" * 20 not in str(caught.value) and "y" * 20 not in str(caught.value)


def test_only_digests_are_kept():
    token = parse_tokens("read:" + "z" * 30)[0]
    assert token.scopes == {"read"} and b"z" * 30 not in token.digest and len(token.digest) == 32
