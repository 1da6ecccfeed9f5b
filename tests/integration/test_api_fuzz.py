"""Schemathesis against the API's own OpenAPI document: generated inputs (valid and invalid)
to every operation, with a token that has every scope. No 5xx, and every response matches
the document (status codes, content types, bodies).

Two checks are left out. That schema-valid input is always accepted: JSON Schema counts 6.0
as an integer and cannot say "episode numbers are unique", while the manifest refuses both on
purpose (reelflow.core.manifest); such input gets a 422 problem naming the field. And that
schema-invalid input is always refused: unknown query parameters are ignored, as most HTTP
APIs do, and every call here carries the token the negative cases leave out (the auth matrix
is tests/integration/test_api.py). Both still must answer without a 5xx, as documented."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from reelflow.settings import reset_settings
from tests.support.api import TOKENS, WRITE, auth

EXAMPLES = 30  # per operation and generation mode
EXCLUDED = [positive_data_acceptance, negative_data_rejection]


def test_no_input_makes_a_server_error_and_answers_match_the_document(
    env, redis_env, prefect_server, monkeypatch
):
    from flows.import_episodes import import_episodes
    from reelflow.api.app import create_app

    monkeypatch.setenv("REELFLOW_API_TOKENS", TOKENS)
    reset_settings()
    # A deployment to submit to (no worker takes its runs here): POST /imports answers 202.
    import_episodes.to_deployment(name="import").apply()
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 8  # the WebSocket is not in the document; its tests are
    seen: dict[str, set[int]] = {}
    for operation in operations:
        for mode in (
            schemathesis.GenerationMode.POSITIVE,
            schemathesis.GenerationMode.NEGATIVE,
        ):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
            def call(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=auth(WRITE), excluded_checks=EXCLUDED)
                seen.setdefault(operation.label, set()).add(response.status_code)

            call()
    assert all(code < 500 for codes in seen.values() for code in codes), seen
    assert 202 in seen["POST /api/v1/imports"], seen
