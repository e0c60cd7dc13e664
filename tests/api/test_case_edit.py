"""Field edits of a case: the offline ``case.edit`` (three-way merge, API.md conflict rule 3)
and the dispatcher's ``PATCH /api/v1/cases/{id}`` (optimistic version), on both backends."""

from __future__ import annotations

import uuid

import prcoords
import pytest
import sqlalchemy as sa

from app.cases.models import Case, FlowEntry, RoutingGap
from app.categories.models import Category
from app.sync_api.models import SyncConflict, SyncMutation
from tests import case_factories as cf
from tests import factories
from tests import push_factories as pf

DESCRIPTION = "路边暴露垃圾"
ADDRESS = "中山路 1 号"


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


@pytest.fixture
def reported(client, auth, cw) -> dict:
    """A case the world's inspector reported (grid 001, category 0102 暴露垃圾)."""
    return cf.report(client, auth("inspector"), cw.category)


@pytest.fixture
def phone(client, cw):
    """``phone(role)`` → a function pushing that role's user's next mutation."""
    made = {}

    def signed_in(role: str = "inspector"):
        if role not in made:
            device = f"phone-{role}"
            headers = factories.login_headers(client, cw.users[role].username, device_id=device)
            made[role] = pf.pushing(client, headers, device)
        return made[role]

    return signed_in


def edit(fields: dict) -> dict:
    return {"fields": fields}


def one(answer: dict) -> dict:
    [result] = answer["results"]
    return result


def stored(session, case_id) -> Case:
    session.expire_all()
    return session.get(Case, uuid.UUID(case_id))


def edits_of(session, case_id) -> list[FlowEntry]:
    return session.scalars(
        sa.select(FlowEntry)
        .where(FlowEntry.case_id == uuid.UUID(case_id), FlowEntry.action == "edit")
        .order_by(FlowEntry.seq)
    ).all()


def patch(client, headers, case_id, expect: int = 200, **body) -> dict:
    response = client.patch(f"/api/v1/cases/{case_id}", json=body, headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


# -- the three-way merge --------------------------------------------------------------------


def test_an_edit_of_an_unchanged_field_is_applied_and_bumps_the_version(
    client, auth, phone, reported, session
):
    sent = edit({"description": {"base": DESCRIPTION, "new": "路边暴露垃圾两袋"}})
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert (result["status"], result["entity_type"], result["entity_id"]) == (
        "applied",
        "case",
        reported["id"],
    )
    case = stored(session, reported["id"])
    assert case.description == "路边暴露垃圾两袋"
    assert result["version"] == case.version == reported["version"] + 1
    [entry] = edits_of(session, reported["id"])
    assert entry.device_id == "phone-inspector"
    assert entry.data["fields"] == {"description": {"from": DESCRIPTION, "to": "路边暴露垃圾两袋"}}
    assert entry.data["base_version"] == reported["version"]
    assert entry.data["client_ts"] == "2026-11-22T08:01:00+08:00"


def test_edits_to_different_fields_merge(client, auth, phone, reported, session):
    # The dispatcher corrects the address while the reporter's phone is offline.
    patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={"address": "中山路 3 号"},
    )
    sent = edit({"description": {"base": DESCRIPTION, "new": "垃圾已堆到路中"}})
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert result["status"] == "merged"
    case = stored(session, reported["id"])
    assert (case.description, case.address) == ("垃圾已堆到路中", "中山路 3 号")
    assert result["version"] == case.version == reported["version"] + 2


def test_a_change_already_made_on_the_server_merges_with_the_rest(
    client, auth, phone, reported, session
):
    patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={"address": "中山路 3 号"},
    )
    version = stored(session, reported["id"]).version
    sent = edit(
        {
            "address": {"base": ADDRESS, "new": "中山路 3 号"},  # the same change, both sides
            "description": {"base": DESCRIPTION, "new": "垃圾两袋"},
        }
    )
    # base_version is the server's now: merged only because one change was made twice.
    result = one(phone()("case.edit", reported["id"], sent, base=version))
    assert result["status"] == "merged"
    case = stored(session, reported["id"])
    assert (case.description, case.address) == ("垃圾两袋", "中山路 3 号")
    [_dispatcher, mine] = edits_of(session, reported["id"])
    assert set(mine.data["fields"]) == {"description"}


def test_two_values_for_one_field_are_a_conflict_keeping_both_and_the_server_value(
    client, auth, phone, reported, session
):
    patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={"description": "暴露垃圾（调度员更正）"},
    )
    sent = edit(
        {
            "description": {"base": DESCRIPTION, "new": "路边暴露垃圾两袋"},
            "address": {"base": ADDRESS, "new": "中山路 5 号"},
        }
    )
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert (result["status"], result["reason"]) == ("conflict", "field_conflict")
    case = stored(session, reported["id"])
    # The clashing field stays as the server has it; the other one merged.
    assert (case.description, case.address) == ("暴露垃圾（调度员更正）", "中山路 5 号")
    assert result["version"] == case.version
    conflict = session.get(SyncConflict, result["conflict_id"])
    assert (conflict.status, conflict.reason, conflict.type) == (
        "open",
        "field_conflict",
        "case.edit",
    )
    assert str(conflict.entity_id) == reported["id"]
    assert conflict.errors["fields"] == {
        "description": {
            "server": "暴露垃圾（调度员更正）",
            "base": DESCRIPTION,
            "new": "路边暴露垃圾两袋",
        }
    }
    assert conflict.errors["applied"] == ["address"]
    assert conflict.payload["args"] == sent
    recorded = session.scalars(sa.select(SyncMutation).where(SyncMutation.mid == 1)).one()
    assert (recorded.status, recorded.conflict_id) == ("conflict", result["conflict_id"])


def test_an_edit_that_only_clashes_writes_nothing(client, auth, phone, reported, session):
    patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={"address": "中山路 3 号"},
    )
    before = stored(session, reported["id"]).version
    sent = edit({"address": {"base": ADDRESS, "new": "中山路 9 号"}})
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert (result["status"], result["reason"]) == ("conflict", "field_conflict")
    case = stored(session, reported["id"])
    assert (case.address, case.version) == ("中山路 3 号", before)
    assert len(edits_of(session, reported["id"])) == 1  # the dispatcher's only


def test_an_edit_sent_again_under_a_new_mid_changes_nothing_more(
    client, auth, phone, reported, session
):
    sent = edit({"description": {"base": DESCRIPTION, "new": "垃圾两袋"}})
    send = phone()
    first = one(send("case.edit", reported["id"], sent, base=reported["version"]))
    again = one(send("case.edit", reported["id"], sent, base=reported["version"]))
    assert first["status"] == "applied"
    # Already the server's value: nothing written; the version moved past the phone's base.
    assert (again["status"], again["version"]) == ("merged", first["version"])
    assert len(edits_of(session, reported["id"])) == 1


def test_a_location_edit_re_routes_the_case(client, auth, phone, reported, session):
    sent = edit({"location": {"base": cf.cell(0, 0), "new": cf.cell(1, 1)}})
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert result["status"] == "applied"
    detail = cf.case(client, auth("inspector"), reported["id"])
    assert detail["grid_code"] == "350203001001005"
    assert detail["location"]["lat"] == pytest.approx(cf.cell(1, 1)["lat"])
    [entry] = edits_of(session, reported["id"])
    assert entry.data["fields"]["location"]["from"] == {
        "lat": pytest.approx(cf.cell(0, 0)["lat"]),
        "lon": pytest.approx(cf.cell(0, 0)["lon"]),
    }


def test_a_gcj02_base_matches_the_point_stored_in_wgs84(client, auth, cw, phone, session):
    wgs = cf.cell(1, 1)
    gcj = prcoords.wgs_gcj(prcoords.Coords(wgs["lat"], wgs["lon"]))
    as_shown = {"lat": gcj.lat, "lon": gcj.lon, "crs": "gcj02"}
    created = cf.report(client, auth("inspector"), cw.category, location=as_shown)
    moved = prcoords.wgs_gcj(prcoords.Coords(cf.cell(0, 2)["lat"], cf.cell(0, 2)["lon"]))
    new = {"lat": moved.lat, "lon": moved.lon, "crs": "gcj02"}
    sent = edit({"location": {"base": as_shown, "new": new}})
    result = one(phone()("case.edit", created["id"], sent, base=created["version"]))
    assert result["status"] == "applied"
    case = stored(session, created["id"])
    assert (case.lat, case.lon) == (
        pytest.approx(cf.cell(0, 2)["lat"], abs=1e-5),
        pytest.approx(cf.cell(0, 2)["lon"], abs=1e-5),
    )
    assert case.input_crs == "gcj02"
    assert cf.case(client, auth("inspector"), created["id"])["grid_code"] == "350203001001003"


def test_a_location_moved_out_of_every_grid_needs_confirmation(
    client, auth, phone, reported, session
):
    sea = {"lat": cf.SEA[0], "lon": cf.SEA[1]}
    sent = edit({"location": {"base": cf.cell(0, 0), "new": sea}})
    assert one(phone()("case.edit", reported["id"], sent))["status"] == "applied"
    case = stored(session, reported["id"])
    assert (case.routing, case.locate_status, case.grid_id) == (
        "needs_confirmation",
        "outside",
        None,
    )
    [gap] = session.scalars(sa.select(RoutingGap).where(RoutingGap.case_id == case.id)).all()
    assert gap.resolved_at is None


def test_a_category_edit_resolves_the_code_as_intake_does(client, auth, phone, reported, session):
    # 0102 is both 污水井盖 and 暴露垃圾; 0106 (绿地脏乱) names one category only.
    sent = edit({"category_code": {"base": "0102", "new": "0106"}})
    assert one(phone()("case.edit", reported["id"], sent))["status"] == "applied"
    category = cf.case(client, auth("inspector"), reported["id"])["category"]
    assert (category["kind"], category["code"], category["name"]) == ("event", "0106", "绿地脏乱")
    ambiguous = edit({"category_code": {"base": "0106", "new": "0101"}})
    result = one(phone()("case.edit", reported["id"], ambiguous))
    assert (result["status"], result["reason"]) == ("rejected", "ambiguous_category")
    unknown = edit({"category_code": {"base": "0106", "new": "9999"}})
    assert one(phone()("case.edit", reported["id"], unknown))["status"] == "rejected"
    assert cf.case(client, auth("inspector"), reported["id"])["category"]["code"] == "0106"


@pytest.mark.parametrize("kind", ["event", "component"])
def test_an_ambiguous_category_edit_says_which_kind_it_means(
    client, auth, phone, reported, session, kind
):
    """0101 is a component (上水井盖) and an event: ``category_kind`` beside ``fields`` picks
    one, as ``report.create``'s does; the edition follows from the code."""
    sent = {**edit({"category_code": {"base": "0102", "new": "0101"}}), "category_kind": kind}
    assert one(phone()("case.edit", reported["id"], sent))["status"] == "applied"
    category = cf.case(client, auth("inspector"), reported["id"])["category"]
    assert (category["code"], category["kind"], category["edition"]) == ("0101", kind, "cjt214")
    wrong = {**edit({"category_code": {"base": "0101", "new": "0106"}}), "category_kind": "thing"}
    result = one(phone()("case.edit", reported["id"], wrong))
    assert (result["status"], result["reason"]) == ("rejected", "validation")
    assert cf.case(client, auth("inspector"), reported["id"])["category"]["kind"] == kind


# -- who edits what, when -------------------------------------------------------------------


def _rename(description: str) -> dict:
    return edit({"description": {"base": DESCRIPTION, "new": description}})


def test_the_reporter_edits_only_before_filing_then_it_is_a_conflict(
    client, auth, phone, reported, session
):
    cf.act(client, auth("dispatcher"), reported["id"], "send_verify")
    verifying = one(phone()("case.edit", reported["id"], _rename("核实中补充")))
    assert verifying["status"] == "applied"
    cf.act(client, auth("dispatcher"), reported["id"], "register")
    edit_after = edit({"description": {"base": "核实中补充", "new": "立案后再改"}})
    result = one(phone()("case.edit", reported["id"], edit_after))
    assert (result["status"], result["reason"]) == ("conflict", "wrong_state")
    assert stored(session, reported["id"]).description == "核实中补充"
    conflict = session.get(SyncConflict, result["conflict_id"])
    assert conflict.payload["args"] == edit_after


def test_a_dispatcher_edits_any_open_case_not_a_closed_one(
    client, auth, cw, phone, reported, session
):
    send = phone("dispatcher")
    cf.act(client, auth("dispatcher"), reported["id"], "register")
    assert one(send("case.edit", reported["id"], _rename("调度员改")))["status"] == "applied"
    other = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 1))
    cf.act(client, auth("dispatcher"), other["id"], "reject", opinion="不属于城管")
    result = one(send("case.edit", other["id"], _rename("已不予受理")))
    assert (result["status"], result["reason"]) == ("conflict", "wrong_state")


@pytest.mark.parametrize(
    ("role", "outcome"),
    [
        ("street_chief", ("rejected", "forbidden")),  # sees the case, did not report it
        ("merchant", ("rejected", "not_found")),  # does not see it
        ("handler", ("rejected", "not_found")),
    ],
)
def test_others_may_not_edit(client, auth, phone, reported, session, role, outcome):
    result = one(phone(role)("case.edit", reported["id"], _rename("别人改的")))
    assert (result["status"], result["reason"]) == outcome
    assert stored(session, reported["id"]).description == DESCRIPTION


def test_an_edit_of_an_unknown_case_is_rejected_not_found(client, phone, cw, session):
    result = one(phone()("case.edit", uuid.uuid4(), _rename("无此案卷")))
    assert (result["status"], result["reason"]) == ("rejected", "not_found")


def test_an_edit_of_a_case_merged_away_is_edit_after_delete_with_its_payload(
    client, auth, phone, cw, reported, session
):
    target = cf.report(client, auth("inspector"), cw.category, location=cf.cell(0, 1))
    merged = client.post(
        f"/api/v1/cases/{reported['id']}/merge",
        json={"into": target["id"]},
        headers=auth("dispatcher"),
    )
    assert merged.status_code == 200, merged.get_json()
    sent = _rename("合并后才改")
    result = one(phone()("case.edit", reported["id"], sent, base=reported["version"]))
    assert (result["status"], result["reason"]) == ("conflict", "edit_after_delete")
    conflict = session.get(SyncConflict, result["conflict_id"])
    assert conflict.payload["args"] == sent
    assert stored(session, reported["id"]).description == DESCRIPTION
    refused = patch(
        client, auth("dispatcher"), reported["id"], expect=409, version=99, fields={"address": "x"}
    )
    assert refused["errors"]["reason"] == "edit_after_delete"


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"fields": {}},
        {"fields": {"urgency": {"base": "normal", "new": "urgent"}}},
        {"fields": {"description": {"base": DESCRIPTION}}},
        {"fields": {"description": {"base": DESCRIPTION, "new": 5}}},
        {"fields": {"description": {"base": DESCRIPTION, "new": "  "}}},
        {"fields": {"location": {"base": None, "new": {"lat": 95, "lon": 118}}}},
        {"fields": {"category_code": {"base": "0102", "new": "rubbish"}}},
        {"fields": {"description": "plain"}},
    ],
)
def test_a_malformed_edit_is_rejected_validation_and_changes_nothing(
    client, phone, reported, session, args
):
    result = one(phone()("case.edit", reported["id"], args))
    assert (result["status"], result["reason"]) == ("rejected", "validation")
    case = stored(session, reported["id"])
    assert (case.version, case.description) == (reported["version"], DESCRIPTION)


# -- PATCH /api/v1/cases/{id} ---------------------------------------------------------------


def test_a_dispatcher_patches_fields_of_the_version_they_saw(client, auth, cw, reported, session):
    changed = patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={
            "description": "暴露垃圾（更正）",
            "address": "中山路 2 号",
            "location": cf.cell(0, 1),
            "category_code": "0106",
        },
    )
    assert (changed["description"], changed["address"]) == ("暴露垃圾（更正）", "中山路 2 号")
    assert changed["grid_code"] == "350203001001002"
    assert changed["category"]["code"] == "0106"
    assert changed["version"] == reported["version"] + 1
    entry = changed["flow"][-1]
    assert (entry["action"], entry["actor_role"]) == ("edit", "dispatcher")
    assert set(entry["data"]["fields"]) == {"description", "address", "location", "category_code"}


def test_a_patch_of_a_stale_version_is_409_and_changes_nothing(client, auth, reported, session):
    patch(
        client,
        auth("dispatcher"),
        reported["id"],
        version=reported["version"],
        fields={"address": "中山路 2 号"},
    )
    refused = patch(
        client,
        auth("dispatcher"),
        reported["id"],
        expect=409,
        version=reported["version"],
        fields={"address": "中山路 3 号"},
    )
    assert refused["errors"]["reason"] == "concurrent_change"
    assert stored(session, reported["id"]).address == "中山路 2 号"


def test_a_patch_of_a_closed_case_is_409_wrong_state(client, auth, reported):
    cf.act(client, auth("dispatcher"), reported["id"], "reject", opinion="重复上报")
    version = cf.case(client, auth("dispatcher"), reported["id"])["version"]
    refused = patch(
        client,
        auth("dispatcher"),
        reported["id"],
        expect=409,
        version=version,
        fields={"address": "x"},
    )
    assert refused["errors"]["reason"] == "wrong_state"


def test_a_patch_with_an_ambiguous_code_is_422(client, auth, reported, session):
    def patched(expect: int, **hint) -> dict:
        return patch(
            client,
            auth("dispatcher"),
            reported["id"],
            expect=expect,
            version=reported["version"],
            fields={"category_code": "0101"},
            **hint,
        )

    assert patched(422)["errors"]["reason"] == "ambiguous_category"
    assert stored(session, reported["id"]).version == reported["version"]
    patched(422, category_kind="thing")
    patched(200, category_kind="component")
    case = stored(session, reported["id"])
    assert (case.version, session.get(Category, case.category_id).kind) == (
        reported["version"] + 1,
        "component",
    )


def test_a_patch_of_an_unknown_case_is_404(client, auth, cw):
    patch(client, auth("dispatcher"), uuid.uuid4(), expect=404, version=1, fields={"address": "x"})


@pytest.mark.parametrize(
    "body",
    [
        {"fields": {"address": "x"}},
        {"version": "1", "fields": {"address": "x"}},
        {"version": 1},
        {"version": 1, "fields": {}},
        {"version": 1, "fields": {"urgency": "urgent"}},
        {"version": 1, "fields": {"description": ""}},
        {"version": 1, "fields": {"location": {"lat": 24.47}}},
        {"version": 1, "fields": {"category_code": "01"}},
    ],
)
def test_a_bad_patch_is_422(client, auth, reported, session, body):
    patch(client, auth("dispatcher"), reported["id"], expect=422, **body)
    assert stored(session, reported["id"]).version == reported["version"]
