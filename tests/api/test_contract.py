"""Contract fuzzing: schemathesis against the served OpenAPI document, once per role.

Every operation of ``/api/v1/openapi.json`` is called in-process (WSGI) with data generated
from the document, valid and invalid, as each role. The server must never answer 5xx;
every response must be one the document declares (status code, content type, body,
headers); data the document calls invalid must be refused.

Schemathesis' own pytest integration does not run under this pytest, so the test drives
it: one Hypothesis run per operation and generation mode, failures gathered per operation.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as openapi_checks

from app.accounts import services as accounts
from tests import factories

ROLES = ("inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant", "admin")

# Bounded so that every role on one database takes a few minutes.
EXAMPLES_PER_OPERATION = 8

CONFORMANCE = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]
CHECKS = {
    GenerationMode.POSITIVE: CONFORMANCE,
    GenerationMode.NEGATIVE: [*CONFORMANCE, openapi_checks.negative_data_rejection],
}

BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _has_inputs(operation) -> bool:
    definition = operation.definition.raw
    return "{" in operation.path or bool(
        definition.get("parameters") or definition.get("requestBody")
    )


class Caller:
    """The role's user, signed in afresh for every request: a fuzzed logout, device revoke
    or user change (admin) must not leave the rest of the run answering 401."""

    def __init__(self, client, session, user):
        self.client, self.session, self.user = client, session, user
        self.role, self.org_unit_id, self.road_id = user.role, user.org_unit_id, user.road_id

    def headers(self) -> dict:
        response = self._login()
        if response.status_code != 200 or response.get_json()["user"]["role"] != self.role:
            self._restore()
            response = self._login()
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    def _login(self):
        return self.client.post(
            "/api/v1/auth/login",
            json={
                "username": self.user.username,
                "password": factories.PASSWORD,
                "device_id": f"contract-{self.role}",
            },
        )

    def _restore(self) -> None:
        accounts.update_user(
            self.session,
            self.user.id,
            {
                "role": self.role,
                "org_unit_id": self.org_unit_id,
                "road_id": self.road_id,
                "password": factories.PASSWORD,
                "is_active": True,
            },
        )


def _fuzz(operation, mode: GenerationMode, caller: Caller) -> None:
    if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
        return  # nothing to make invalid
    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(headers=caller.headers(), checks=CHECKS[mode])

    run()


def _config() -> SchemathesisConfig:
    config = SchemathesisConfig()
    # A query parameter the server does not know is ignored (a cache-buster, a later
    # client's option), as HTTP services do; unknown body fields are refused (422).
    config.projects.default.generation.update(allow_extra_parameters=False)
    return config


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(app, client, session, world, role):
    caller = Caller(client, session, world.users[role])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=_config())
    failures = []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, caller)
            except (Exception, BaseExceptionGroup) as error:
                # Gathered, so that one run reports every operation that fails.
                failures.append(f"{operation.label} ({mode.value}): {error}")
    print(f"{role}: {time.monotonic() - started:.1f} s")
    assert not failures, "\n\n".join(failures)
