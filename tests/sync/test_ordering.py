"""Per-device order and idempotency decisions, as pure functions."""

import inspect

import pytest

from sync import conflicts, ordering
from sync.envelope import parse_push
from sync.ordering import Step, canonical_json, decide, fingerprint
from sync.outcomes import Outcome, Status, StoredOutcome
from tests.sync.fieldwork import body, ident, mutation, report_args


def item(entry):
    (parsed,) = parse_push(body("p", entry)).items
    return parsed


def stored(mid, digest):
    return StoredOutcome(mid, digest, Outcome(Status.APPLIED, "case", None, 1))


@pytest.mark.parametrize(
    ("mid", "last_mid", "step", "expected"),
    [
        (1, 0, Step.APPLY, None),
        (42, 41, Step.APPLY, None),
        (2, 0, Step.GAP, 1),
        (45, 41, Step.GAP, 42),
    ],
)
def test_the_next_mid_applies_and_a_later_one_is_a_gap_naming_the_expected(
    mid, last_mid, step, expected
):
    decision = decide(mid, "f", last_mid, None)
    assert (decision.step, decision.expected_mid) == (step, expected)


def test_an_old_mid_with_the_same_content_is_a_duplicate_with_the_stored_result():
    kept = stored(7, "f")
    decision = decide(7, "f", 41, kept)
    assert (decision.step, decision.stored) == (Step.DUPLICATE, kept)


def test_an_old_mid_with_other_content_is_mid_reused():
    assert decide(7, "g", 41, stored(7, "f")).step is Step.MID_REUSED


def test_the_last_mid_itself_is_old():
    assert decide(41, "f", 41, stored(41, "f")).step is Step.DUPLICATE


def test_an_old_mid_past_retention_is_expired_not_applied_again():
    assert decide(3, "f", 41, None).step is Step.EXPIRED


def test_a_stored_outcome_for_another_mid_is_a_programming_error():
    with pytest.raises(ValueError):
        decide(7, "f", 41, stored(8, "f"))


def test_backwards_mids_across_pushes_never_apply():
    for mid in range(1, 42):
        assert decide(mid, "f", 41, stored(mid, "f")).step is not Step.APPLY


# --- fingerprints ---------------------------------------------------------------------------


def test_the_fingerprint_ignores_client_ts():
    a = item(mutation(1, "report.create", ident(1), report_args()))
    b = item(mutation(1, "report.create", ident(1), report_args(), skew_hours=-72))
    assert a.client_ts != b.client_ts
    assert fingerprint(a) == fingerprint(b)


@pytest.mark.parametrize(
    "change",
    [
        {"type": "comment.add", "args": {"case_id": ident(1), "text": "x"}},
        {"entity_id": ident(2)},
        {"base_version": 3},
        {"args": report_args("另一处垃圾")},
    ],
)
def test_the_fingerprint_covers_type_entity_base_version_and_args(change):
    entry = mutation(1, "report.create", ident(1), report_args())
    assert fingerprint(item(entry)) != fingerprint(item({**entry, **change}))


def test_the_fingerprint_is_canonical_over_key_order_uuid_case_and_integral_floats():
    args = report_args()
    reordered = dict(reversed(list(args.items())))
    reordered["location"] = {"crs": "gcj02", "lon": 118.0894, "lat": 24.4798}
    a = item(mutation(1, "report.create", ident(1), args, base=2))
    b = item(mutation(1, "report.create", ident(1).upper(), reordered, base=2))
    assert fingerprint(a) == fingerprint(b)
    assert canonical_json({"n": 1.0, "m": [2.0, 2.5]}) == canonical_json({"m": [2, 2.5], "n": 1})


def test_an_invalid_mutation_has_a_stable_fingerprint_too():
    entry = mutation(1, "case.delete", ident(1), {"why": "test"})
    again = {**entry, "client_ts": "2026-01-01T00:00:00+00:00"}
    assert fingerprint(item(entry)) == fingerprint(item(again))
    assert fingerprint(item(entry)) != fingerprint(item({**entry, "args": {}}))


def test_canonical_json_keeps_chinese_text_readable():
    assert canonical_json({"d": "暴露垃圾"}) == '{"d":"暴露垃圾"}'


@pytest.mark.parametrize("module", [ordering, conflicts])
def test_no_decision_takes_a_device_clock(module):
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ == module.__name__:
            assert "client_ts" not in inspect.signature(function).parameters, name
