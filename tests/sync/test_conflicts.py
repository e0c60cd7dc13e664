"""The conflict rules of API.md, table-driven."""

import pytest

from sync.conflicts import (
    CONFLICT_REASONS,
    REJECTED_REASONS,
    Edit,
    FieldConflict,
    Refused,
    Verdict,
    check_target,
    classify_refusal,
    edit_status,
    edits_from_args,
    merge_fields,
)
from sync.outcomes import Status

SERVER = {"description": "暴露垃圾", "address": "湖滨南路", "category_code": "06010"}

# Rule 3: (edits, applied, conflicts, unchanged)
MERGE_TABLE = [
    pytest.param(
        {"description": Edit("暴露垃圾", "暴露垃圾两袋")},
        {"description": "暴露垃圾两袋"},
        {},
        set(),
        id="server still equals base: new wins",
    ),
    pytest.param(
        {"description": Edit("垃圾", "暴露垃圾")},
        {},
        {},
        {"description"},
        id="server already equals new: no-op",
    ),
    pytest.param(
        {"description": Edit("垃圾", "垃圾一堆")},
        {},
        {"description": FieldConflict("暴露垃圾", "垃圾", "垃圾一堆")},
        set(),
        id="two different values: conflict, all three kept",
    ),
    pytest.param(
        {"address": Edit("湖滨南路", "湖滨南路 12号"), "category_code": Edit("06011", "06012")},
        {"address": "湖滨南路 12号"},
        {"category_code": FieldConflict("06010", "06011", "06012")},
        set(),
        id="different fields merge, the clashing one conflicts",
    ),
    pytest.param(
        {"address": Edit("湖滨南路", "湖滨南路"), "description": Edit("x", "暴露垃圾")},
        {},
        {},
        {"address", "description"},
        id="a no-op edit changes nothing",
    ),
    pytest.param(
        {"address": Edit(None, "湖滨南路 1号")},
        {},
        {"address": FieldConflict("湖滨南路", None, "湖滨南路 1号")},
        set(),
        id="a null base against a set value conflicts",
    ),
]


@pytest.mark.parametrize(("edits", "applied", "conflicts", "unchanged"), MERGE_TABLE)
def test_field_edits_merge_three_ways(edits, applied, conflicts, unchanged):
    result = merge_fields(SERVER, edits)
    assert result.applied == applied
    assert result.conflicts == conflicts
    assert result.unchanged == unchanged


def test_merge_compares_structured_values_by_content():
    server = {"location": {"lat": 24.48, "lon": 118.09, "crs": "wgs84"}}
    edit = Edit({"crs": "wgs84", "lon": 118.09, "lat": 24.48}, {"lat": 24.5, "lon": 118.1})
    assert merge_fields(server, {"location": edit}).applied == {"location": edit.new}


def test_merge_leaves_the_server_values_alone():
    server = dict(SERVER)
    merge_fields(server, {"description": Edit("暴露垃圾", "新")})
    assert server == SERVER


def test_an_unknown_field_is_a_programming_error():
    with pytest.raises(KeyError):
        merge_fields(SERVER, {"state": Edit("a", "b")})


def test_edits_come_from_validated_args():
    args = {"fields": {"address": {"base": "a", "new": "b"}}}
    assert edits_from_args(args) == {"address": Edit("a", "b")}


@pytest.mark.parametrize(
    ("edits", "base_version", "server_version", "status"),
    [
        ({"description": Edit("暴露垃圾", "新")}, 3, 3, Status.APPLIED),
        ({"description": Edit("暴露垃圾", "新")}, None, 5, Status.APPLIED),
        ({"description": Edit("暴露垃圾", "新")}, 2, 3, Status.MERGED),
        (
            {"description": Edit("暴露垃圾", "新"), "address": Edit("x", "湖滨南路")},
            3,
            3,
            Status.MERGED,
        ),
        ({"description": Edit("x", "y")}, 3, 3, Status.CONFLICT),
        ({"description": Edit("x", "y"), "address": Edit("湖滨南路", "z")}, 1, 3, Status.CONFLICT),
    ],
)
def test_the_status_of_an_edit(edits, base_version, server_version, status):
    merge = merge_fields(SERVER, edits)
    assert edit_status(merge, base_version=base_version, server_version=server_version) is status


# Rules 1, 2 and 5: a refused move is a conflict when the world moved on, rejected when it
# was never valid.
@pytest.mark.parametrize(
    ("reason", "verdict"),
    [
        ("wrong_state", Verdict.CONFLICT),
        ("task_reassigned", Verdict.CONFLICT),
        ("task_cancelled", Verdict.CONFLICT),
        ("task_completed", Verdict.CONFLICT),
        ("target_closed", Verdict.CONFLICT),
        ("left_scope", Verdict.CONFLICT),
        ("edit_after_delete", Verdict.CONFLICT),
        ("field_conflict", Verdict.CONFLICT),
        ("validation", Verdict.REJECTED),
        ("wrong_role", Verdict.REJECTED),
        ("forbidden", Verdict.REJECTED),
        ("not_in_scope", Verdict.REJECTED),
        ("unknown_category", Verdict.REJECTED),
        ("missing_closure_photo", Verdict.REJECTED),
        ("missing_opinion", Verdict.REJECTED),
        ("not_found", Verdict.REJECTED),
        ("id_reused", Verdict.REJECTED),
        ("something_new", Verdict.CONFLICT),
    ],
)
def test_a_refusal_is_classified(reason, verdict):
    assert classify_refusal(reason) is verdict


def test_no_reason_is_both_a_conflict_and_a_reject():
    assert not CONFLICT_REASONS & REJECTED_REASONS
    assert all(classify_refusal(r) is Verdict.CONFLICT for r in CONFLICT_REASONS)
    assert all(classify_refusal(r) is Verdict.REJECTED for r in REJECTED_REASONS)


def test_verdicts_are_push_statuses():
    assert {Status(v.value) for v in Verdict} == {Status.CONFLICT, Status.REJECTED}


def test_an_edit_to_a_deleted_thing_is_edit_after_delete():
    with pytest.raises(Refused) as caught:
        check_target(exists=True, deleted=True)
    assert caught.value.reason == "edit_after_delete"
    assert classify_refusal(caught.value.reason) is Verdict.CONFLICT


def test_an_edit_to_a_thing_never_known_is_not_found():
    with pytest.raises(Refused) as caught:
        check_target(exists=False, deleted=False)
    assert classify_refusal(caught.value.reason) is Verdict.REJECTED


def test_a_live_target_passes():
    check_target(exists=True, deleted=False)
