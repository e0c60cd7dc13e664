"""Contract fuzzing: schemathesis against the served OpenAPI document, once per role.

Every operation of ``/api/v1/openapi.json`` is called in-process (WSGI) with data generated
from the document, valid and invalid, as each role. The server must never answer 5xx;
every response must be one the document declares (status code, content type, body,
headers); data the document calls invalid must be refused.

Schemathesis' own pytest integration does not run under this pytest, so the test drives
it: one Hypothesis run per operation and generation mode, failures gathered per operation.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi import checks as openapi_checks

from app.accounts import services as accounts
from tests import factories
from tests.case_factories import make_case_world, report

ROLES = ("inspector", "street_chief", "road_chief", "dispatcher", "handler", "merchant", "admin")

# Bounded so that every role on one database takes a few minutes.
EXAMPLES_PER_OPERATION = 15

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

# tus appends raw bytes, sent as any octet stream is.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

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
    """The role's user, signed in again whenever a fuzzed request may have undone it: a
    401 (a fuzzed logout or device revoke) or an admin's change of a user (its own role,
    password or activity included)."""

    def __init__(self, client, session, user):
        self.client, self.session, self.user = client, session, user
        self.role, self.org_unit_id, self.road_id = user.role, user.org_unit_id, user.road_id
        self._headers: dict | None = None

    def headers(self) -> dict:
        if self._headers is None:
            self._headers = self._sign_in()
        return self._headers

    def after(self, case, response) -> None:
        if response.status_code == 401 or case.path.startswith("/api/v1/admin/users/"):
            self.forget()

    def forget(self) -> None:
        self._headers = None

    def _sign_in(self) -> dict:
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
                "duty": None,
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
        try:
            response = case.call_and_validate(headers=caller.headers(), checks=CHECKS[mode])
        except BaseException:
            caller.forget()
            raise
        caller.after(case, response)

    run()


def _config() -> SchemathesisConfig:
    config = SchemathesisConfig()
    # A query parameter the server does not know is ignored (a cache-buster, a later
    # client's option), as HTTP services do; unknown body fields are refused (422).
    config.projects.default.generation.update(allow_extra_parameters=False)
    # tus answers a request without its version header 412, as the protocol says.
    rejection = config.projects.default.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "412"]
    return config


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_as_documented(app, client, session, world, role):
    # A case in the inspector's grid, so that lists (cases, tasks, photos' owners) answer
    # with real rows whose shapes the document must match.
    cases = make_case_world(session, world)
    report(client, factories.login_headers(client, "t_inspector"), cases.category)
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


# What the fuzzing found or the issue named, each pinned by a focused test.


def _document(client) -> dict:
    return client.get("/api/v1/openapi.json").get_json()


def test_pagination_header_is_documented_as_the_json_text_it_is(client, auth, world):
    response = client.get("/api/v1/org-units", headers=auth("admin"))
    metadata = json.loads(response.headers["X-Pagination"])
    header = _document(client)["components"]["headers"]["PAGINATION"]
    assert "schema" not in header
    schema = header["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PaginationMetadata"}
    assert metadata["total"] == 4


def test_every_operation_lists_its_status_codes_and_roles(client):
    for path, operations in _document(client)["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert "default" not in operation["responses"], (method, path)
            assert operation["x-roles"], (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)


def test_patching_a_category_with_nothing_to_change_is_refused(client, auth, session):
    from app.categories.models import Category
    from app.categories.services import seed_national_categories

    seed_national_categories(session)
    # Ids are the sequence's: rolled-back tests do not reset it on PostgreSQL.
    category_id = session.scalar(sa.select(sa.func.min(Category.id)))
    url = f"/api/v1/admin/categories/{category_id}"
    for body in ({}, None):
        response = client.patch(url, json=body, headers=auth("admin"))
        assert response.status_code == 422, response.get_json()
    assert client.patch(url, json={"active": False}, headers=auth("admin")).status_code == 200


def test_a_blank_device_id_is_refused_at_login(client, world):
    body = {"username": world.users["inspector"].username, "password": factories.PASSWORD}
    response = client.post("/api/v1/auth/login", json={**body, "device_id": "   "})
    assert response.status_code == 422, response.get_json()


def test_a_deadline_before_1970_is_refused_not_given_a_local_mean_time_offset(client, auth):
    query = {"start": "0750-11-16T10:00:00+00:00", "amount": 4, "limit_type": "working_hours"}
    response = client.get("/api/v1/calendar/deadline", query_string=query, headers=auth("admin"))
    assert response.status_code == 422, response.get_json()


def test_head_of_an_unknown_blob_is_typed_as_the_documented_error(client, auth):
    response = client.head(f"/api/v1/blobs/{'0' * 64}", headers=auth("inspector"))
    assert response.status_code == 404
    assert response.mimetype == "application/json"


def test_adding_a_photo_to_a_case_documents_its_kind_as_required(client):
    schemas = _document(client)["components"]["schemas"]
    assert "kind" in schemas["KindedPhotoRef"]["required"]
    attach = schemas["PhotosAttach"]["properties"]["photos"]["items"]
    assert attach == {"$ref": "#/components/schemas/KindedPhotoRef"}


def _example(parameter: dict) -> str:
    schema = parameter.get("schema", {})
    if schema.get("type") == "integer":
        return "1"
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if "pattern" in schema:
        return "0" * 64
    return "2026-01-05"


def test_a_method_the_document_does_not_list_is_a_405_naming_those_it_does(client, auth):
    methods = {"get", "put", "post", "patch", "delete"}
    for path, item in _document(client)["paths"].items():
        documented = {method for method in item if method != "parameters"}
        url = path
        for parameter in item.get("parameters", []):
            url = url.replace("{" + parameter["name"] + "}", _example(parameter))
        other = sorted(methods - documented)[0]
        response = client.open(url, method=other.upper(), headers=auth("admin"))
        assert response.status_code == 405, (other, url, response.status_code)
        allowed = {method.strip().lower() for method in response.headers["Allow"].split(",")}
        assert documented <= allowed, (path, documented, allowed)
        assert response.get_json()["code"] == 405
