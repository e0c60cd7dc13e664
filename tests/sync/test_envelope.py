"""Push bodies: a broken envelope is a request error, a bad mutation only its own reject."""

import datetime as dt
import uuid

import pytest

from sync.envelope import EnvelopeError, InvalidMutation, Mutation, parse_push
from sync.mutation_types import SPECS, MutationType
from tests.sync.fieldwork import SHA, body, ident, mutation, report_args

CASE = ident(1)
TASK = ident(2)
PHOTO = ident(3)

VALID_ARGS = {
    "report.create": (CASE, report_args()),
    "case.edit": (CASE, {"fields": {"description": {"base": "旧", "new": "新"}}}),
    "task.update": (
        TASK,
        {
            "action": "complete",
            "result": "pass",
            "note": "已清理",
            "photos": [{"photo_id": PHOTO, "sha256": SHA, "kind": "closure"}],
        },
    ),
    "case.self_handle": (
        CASE,
        {"note": "当场处理", "photos": [{"photo_id": PHOTO, "sha256": SHA, "kind": "closure"}]},
    ),
    "photo.attach": (
        PHOTO,
        {
            "case_id": CASE,
            "sha256": SHA,
            "kind": "problem",
            "taken_at": "2026-11-22T08:00:12+08:00",
            "location": {"lat": 24.48, "lon": 118.09},
        },
    ),
    "comment.add": (ident(4), {"case_id": CASE, "text": "商户已承诺整改"}),
    "selfcheck.create": (
        ident(5),
        {"sanitation": "ok", "order": "issue", "greenery": "ok", "note": "门口有杂物"},
    ),
}


def one(entry: dict):
    (item,) = parse_push(body("phone-1", entry)).items
    return item


def test_every_v1_type_has_a_valid_example():
    assert set(VALID_ARGS) == set(SPECS) == {t.value for t in MutationType}


@pytest.mark.parametrize("type_", sorted(VALID_ARGS))
def test_a_valid_mutation_parses_into_typed_values(type_):
    entity, args = VALID_ARGS[type_]
    item = one(mutation(7, type_, entity.upper(), args, base=3))
    assert isinstance(item, Mutation), getattr(item, "errors", None)
    assert item.type == MutationType(type_)
    assert item.entity_id == uuid.UUID(entity)
    assert item.base_version == 3
    assert item.client_ts.utcoffset() == dt.timedelta(hours=8)
    assert item.entity_type == SPECS[type_].entity_type


def test_parsed_values_are_frozen():
    item = one(mutation(1, "report.create", CASE, report_args()))
    with pytest.raises(AttributeError):
        item.mid = 2


# --- request-level errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ([], "not_an_object"),
        ("push", "not_an_object"),
        (None, "not_an_object"),
        ({"mutations": []}, "missing_device_id"),
        ({"device_id": "", "mutations": []}, "missing_device_id"),
        ({"device_id": 42, "mutations": []}, "missing_device_id"),
        ({"device_id": "x" * 129, "mutations": []}, "invalid_device_id"),
        ({"device_id": "p"}, "mutations_not_a_list"),
        ({"device_id": "p", "mutations": {"mid": 1}}, "mutations_not_a_list"),
        ({"device_id": "p", "mutations": ["m"]}, "mutation_not_an_object"),
        ({"device_id": "p", "mutations": [{"type": "comment.add"}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": 0}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": -3}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": "4"}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": 4.0}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": True}]}, "invalid_mid"),
        ({"device_id": "p", "mutations": [{"mid": 2}, {"mid": 2}]}, "duplicate_mid"),
        ({"device_id": "p", "mutations": [{"mid": 2}, {"mid": 3}, {"mid": 2}]}, "duplicate_mid"),
        ({"device_id": "p", "mutations": [{"mid": 5}, {"mid": 4}]}, "mids_not_increasing"),
    ],
)
def test_a_broken_envelope_is_a_request_error(raw, code):
    with pytest.raises(EnvelopeError) as caught:
        parse_push(raw)
    assert caught.value.code == code
    assert caught.value.status == 400
    assert caught.value.message


def test_a_batch_over_the_limit_is_413_and_the_limit_is_configurable():
    mutations = [
        mutation(i, "comment.add", ident(i), {"case_id": CASE, "text": "x"}) for i in range(1, 12)
    ]
    assert len(parse_push(body("p", *mutations), max_batch=11).items) == 11
    with pytest.raises(EnvelopeError) as caught:
        parse_push(body("p", *mutations), max_batch=10)
    assert (caught.value.code, caught.value.status) == ("batch_too_large", 413)


def test_the_default_limit_is_500():
    mutations = [{"mid": i} for i in range(1, 502)]
    assert len(parse_push(body("p", *mutations[:500])).items) == 500
    with pytest.raises(EnvelopeError, match="at most 500"):
        parse_push(body("p", *mutations))


def test_mids_may_skip_inside_a_batch_the_engine_answers_the_gap():
    items = parse_push(body("p", {"mid": 3}, {"mid": 9})).items
    assert [i.mid for i in items] == [3, 9]


def test_an_empty_batch_is_valid():
    assert parse_push({"device_id": "p", "mutations": []}).items == ()


# --- per-mutation problems ------------------------------------------------------------------


def _with(**changes):
    entry = mutation(1, "comment.add", ident(4), {"case_id": CASE, "text": "好"})
    for key, value in changes.items():
        if value is ...:
            del entry[key]
        else:
            entry[key] = value
    return entry


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"type": "case.delete"}, "unknown_type", "type"),
        ({"type": None}, "unknown_type", "type"),
        ({"type": ...}, "unknown_type", "type"),
        ({"type": ["comment.add"]}, "unknown_type", "type"),
        ({"entity_id": "not-a-uuid"}, "invalid_entity_id", "entity_id"),
        ({"entity_id": "0" * 32}, "invalid_entity_id", "entity_id"),
        ({"entity_id": 42}, "invalid_entity_id", "entity_id"),
        ({"entity_id": ...}, "invalid_entity_id", "entity_id"),
        ({"base_version": -1}, "invalid_base_version", "base_version"),
        ({"base_version": "3"}, "invalid_base_version", "base_version"),
        ({"base_version": 2.5}, "invalid_base_version", "base_version"),
        ({"base_version": True}, "invalid_base_version", "base_version"),
        ({"client_ts": "2026-11-22T08:01:00"}, "invalid_client_ts", "client_ts"),
        ({"client_ts": "2026-11-22"}, "invalid_client_ts", "client_ts"),
        ({"client_ts": "yesterday"}, "invalid_client_ts", "client_ts"),
        ({"client_ts": 1700000000}, "invalid_client_ts", "client_ts"),
        ({"client_ts": ...}, "invalid_client_ts", "client_ts"),
        ({"args": []}, "invalid_args", "args"),
        ({"args": "text"}, "invalid_args", "args"),
        ({"args": {"case_id": CASE}}, "validation", "args"),
        ({"args": {"case_id": CASE, "text": "好", "extra": 1}}, "validation", "args"),
    ],
)
def test_a_malformed_mutation_becomes_a_reject_with_its_reason(changes, reason, field):
    entry = _with(**changes)
    item = one(entry)
    assert isinstance(item, InvalidMutation)
    assert (item.mid, item.reason) == (1, reason)
    assert field in item.errors
    assert item.payload == entry


def test_base_version_null_and_zero_are_valid():
    assert one(_with(base_version=None)).base_version is None
    assert one(_with(base_version=0)).base_version == 0


def test_client_ts_accepts_z_and_any_offset():
    assert isinstance(one(_with(client_ts="2026-11-22T00:01:00Z")), Mutation)
    assert isinstance(one(_with(client_ts="2026-11-22T08:01:00.123+08:00")), Mutation)


def test_every_problem_of_a_mutation_is_listed_and_the_first_is_its_reason():
    item = one(_with(type="nope", entity_id="x", client_ts="now"))
    assert item.reason == "unknown_type"
    assert {"type", "entity_id", "client_ts"} <= set(item.errors)


def test_a_bad_mutation_does_not_spoil_the_batch():
    good = mutation(1, "comment.add", ident(4), {"case_id": CASE, "text": "好"})
    bad = mutation(2, "comment.add", "nope", {"case_id": CASE, "text": "好"})
    later = mutation(3, "report.create", CASE, report_args())
    items = parse_push(body("p", good, bad, later)).items
    assert [type(i) for i in items] == [Mutation, InvalidMutation, Mutation]


@pytest.mark.parametrize(
    ("type_", "args", "field"),
    [
        ("report.create", {**report_args(), "category_code": "6010a"}, "category_code"),
        ("report.create", {**report_args(), "description": "  "}, "description"),
        ("report.create", {**report_args(), "location": {"lat": 91, "lon": 0}}, "location"),
        (
            "report.create",
            {**report_args(), "location": {"lat": 24, "lon": 118, "crs": "x"}},
            "location",
        ),
        ("report.create", {**report_args(), "location": {"lat": "24", "lon": 118}}, "location"),
        (
            "report.create",
            {**report_args(), "photos": [{"photo_id": PHOTO, "sha256": "ab", "kind": "problem"}]},
            "photos",
        ),
        (
            "report.create",
            {**report_args(), "photos": [{"photo_id": PHOTO, "sha256": SHA, "kind": "closure"}]},
            "photos",
        ),
        ("report.create", {**report_args(), "urgency": "now"}, "urgency"),
        ("case.edit", {"fields": {}}, "fields"),
        ("case.edit", {"fields": {"state": {"base": "a", "new": "b"}}}, "fields"),
        ("case.edit", {"fields": {"description": {"new": "b"}}}, "fields"),
        ("case.edit", {"fields": {"description": {"base": "a", "new": ""}}}, "fields"),
        ("case.edit", {}, "fields"),
        ("task.update", {"action": "finish"}, "action"),
        ("task.update", {"action": "complete", "result": "ok"}, "result"),
        ("task.update", {"action": "request_extension", "extension_amount": 0}, "extension_amount"),
        ("case.self_handle", {"note": "修好了", "photos": []}, "photos"),
        ("case.self_handle", {"note": "修好了"}, "photos"),
        ("photo.attach", {"sha256": SHA, "kind": "problem"}, "case_id"),
        (
            "photo.attach",
            {"case_id": CASE, "task_id": TASK, "sha256": SHA, "kind": "problem"},
            "case_id",
        ),
        ("photo.attach", {"case_id": CASE, "sha256": SHA, "kind": "selfie"}, "kind"),
        (
            "photo.attach",
            {"case_id": CASE, "sha256": SHA, "kind": "problem", "taken_at": "08:00"},
            "taken_at",
        ),
        ("comment.add", {"case_id": "c", "text": "好"}, "case_id"),
        ("comment.add", {"case_id": CASE, "text": ""}, "text"),
        ("selfcheck.create", {"sanitation": "ok", "order": "ok"}, "greenery"),
        ("selfcheck.create", {"sanitation": "good", "order": "ok", "greenery": "ok"}, "sanitation"),
    ],
)
def test_args_that_do_not_fit_their_type_are_rejected_for_validation(type_, args, field):
    entity = VALID_ARGS[type_][0]
    item = one(mutation(1, type_, entity, args))
    assert isinstance(item, InvalidMutation)
    assert item.reason == "validation"
    errors = item.errors["args"]
    assert field in errors if isinstance(errors, dict) else errors, errors


def test_missing_args_are_checked_as_an_empty_object():
    entry = mutation(1, "comment.add", ident(4), {})
    del entry["args"]
    assert one(entry).reason == "validation"
