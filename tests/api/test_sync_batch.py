"""A push's runs of new reports go in together (``app.cases.bulk_intake``), and the
follow-ups between them (comments, photos) in one savepoint (``app.sync_api.batches``), and
that changes nothing but the speed: the same pushes, with the batch path on and off, leave the same
rows in every table they touch and get the same answers, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa

from app.cases import bulk_intake
from app.models import metadata
from app.sync_api import batches
from tests import case_factories as cf
from tests import factories, grid_data
from tests.evidence_factories import jpeg
from tests.push_factories import mutation, push

# What a push of reports writes; wiped between the two runs (the district stays).
WRITTEN = (
    "feed_changes",
    "case_duplicates",
    "routing_gaps",
    "case_flow",
    "case_photos",
    "case_comments",
    "outbox",
    "case_reporters",
    "evidence_flags",
    "sync_mutations",
    "sync_conflicts",
    "sync_failures",
    "sync_devices",
    "cases",
    "photos",
    "case_number_counters",
)
# Differ from run to run by nature: the clock, and numbers handed out by the database.
VOLATILE = {
    "reported_at",
    "updated_at",
    "created_at",
    "added_at",
    "found_at",
    "at",
    "available_at",
    "last_push_at",
    "last_pull_at",
    "done_at",
    "next_attempt_at",
}
SERIAL = {
    "case_flow",
    "routing_gaps",
    "sync_mutations",
    "sync_devices",
    "feed_changes",
    "outbox",
}


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def _id(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def _photo(n: int, sha256: str | None = None) -> dict:
    return {
        "photo_id": _id(n),
        "sha256": sha256 or hashlib.sha256(str(n).encode()).hexdigest(),
        "kind": "problem",
    }


def _report(mid: int, case: int, location: dict, *photos: dict, **args) -> dict:
    body = {
        "category_code": "0102",
        "category_kind": "event",
        "description": "路边暴露垃圾",
        "location": location,
        "photos": list(photos),
        **args,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return mutation(mid, "report.create", _id(case), body)


def _case(case: int | str) -> str:
    return case if isinstance(case, str) else _id(case)


def _comment(mid: int, comment: int, case: int | str, text: str) -> dict:
    return mutation(mid, "comment.add", _id(comment), {"case_id": _case(case), "text": text})


def _attach(mid: int, photo: int, case: int | str) -> dict:
    ref = _photo(photo)
    del ref["photo_id"]
    return mutation(mid, "photo.attach", _id(photo), {"case_id": _case(case), **ref})


def _walks(uploaded: str) -> dict[str, list[dict]]:
    """Two phones' pushes that touch every branch of taking in a report."""
    lat, _ = grid_data.cell_centre(0, 0)
    boundary = {"lat": lat, "lon": grid_data.WEST + grid_data.CELL, "crs": "wgs84"}
    sea = {"lat": cf.SEA[0], "lon": cf.SEA[1], "crs": "wgs84"}
    inspector = [
        _report(1, 1, cf.cell(0, 0), _photo(1)),  # a duplicate of the REST report
        _report(2, 2, cf.cell(0, 0), _photo(2), urgency="urgent"),  # and of mid 1
        _report(3, 3, sea, _photo(3)),  # outside every grid: a routing gap
        _report(4, 4, boundary, _photo(4), address="中山路 4 号"),  # near a boundary
        _report(5, 5, {**cf.cell(1, 1), "crs": "gcj02"}),  # another datum, no photo
        _report(6, 6, cf.cell(2, 2), _photo(6, uploaded.upper())),  # its bytes are here
        _report(7, 1, cf.cell(0, 0), _photo(1)),  # mid 1 again under a new mid: a replay
        _report(8, 8, cf.cell(1, 0), description="  "),  # rejected
        _report(9, 9, cf.cell(1, 2), _photo(9), category_code="06010", category_kind=None),
        _report(10, 10, cf.cell(1, 2), _photo(9)),  # the photo of mid 9 again
        _report(11, 11, cf.cell(0, 2)),
        _report(12, 12, cf.cell(0, 1), _photo(12), _photo(13)),
        _report(13, 2, cf.cell(1, 1)),  # the id of mid 2 with other content: rejected
        # Follow-ups between and after the reports: they go together in one savepoint, up
        # to the first the one-by-one path would not answer ``applied``.
        _comment(14, 40, 1, "已现场核实"),
        _attach(15, 41, 2),
        _comment(16, 42, 999, "看不见的案件"),  # no such case: rejected
        _comment(17, 43, 2, "   "),  # rejected
        _attach(18, 41, 2),  # the photo of mid 15 again: stored once, applied
        _comment(19, 40, 1, "另一条"),  # the id of mid 14 with other text: rejected
        _comment(20, 44, 5, "复核"),
        _attach(21, 45, 6),
        _report(22, 30, cf.cell(2, 1), _photo(30)),
        _comment(23, 46, 30, "新上报的案件"),
        _attach(24, 47, 1),  # three photos in a row: one stretch, one case twice
        _attach(25, 48, 1),
        _attach(26, 49, 3),
        _attach(27, 50, 999),  # no such case: rejected
        _attach(28, 51, 30),
        # Reports move ahead of the comments and photos sent before them, except one that
        # makes what they name: one by one, they come first.
        _comment(29, 52, 32, "先评论后上报"),  # its case is reported next: rejected
        _report(30, 32, cf.cell(2, 1)),
        _comment(31, 54, 32, "复核"),
        _attach(32, 53, 1),
        _report(33, 33, cf.cell(2, 2), _photo(53)),  # the photo of mid 32
    ]
    merchant = [
        _report(1, 21, cf.cell(1, 1), _photo(21)),  # at the shop: the case has its shop
        _report(2, 22, cf.cell(2, 0), _photo(22)),  # 300 m away: flagged, not bound
    ]
    return {"inspector": inspector, "merchant": merchant}


def _run(app, client, cw, session, together: bool, uploaded: str):
    app.config["SYNC_BATCH_APPLY"] = together
    taken: list[int] = []
    real = bulk_intake.report_cases

    def counted(*args, **kwargs):
        result = real(*args, **kwargs)
        taken.append(len(result))
        return result

    ways = ("_one_after_another", "_comments", "_photos")
    real_ways = {name: getattr(batches.FieldBatch, name) for name in ways}

    def counting(name):
        def way(self, stretch):
            result = real_ways[name](self, stretch)
            taken.append(len(result))
            return result

        return way

    bulk_intake.report_cases = counted
    for name in ways:
        setattr(batches.FieldBatch, name, counting(name))
    try:
        rest = cf.report(
            client,
            factories.login_headers(client, cw.users["street_chief"].username),
            cw.category,
            id=_id(100),
            photos=[_photo(100)],
        )
        answers = {}
        for role, walk in _walks(uploaded).items():
            headers = factories.login_headers(client, cw.users[role].username, device_id=role)
            answers[role] = push(client, headers, role, *walk)
    finally:
        bulk_intake.report_cases = real
        for name, way in real_ways.items():
            setattr(batches.FieldBatch, name, way)
    assert rest["id"] == _id(100)
    return answers, _snapshot(session), sum(taken)


def _snapshot(session) -> dict:
    """Every row of the written tables, without what differs by nature."""
    session.expire_all()
    tables = {}
    for table in metadata.sorted_tables:
        if table.name not in WRITTEN:
            continue
        rows = []
        for row in session.execute(sa.select(table)).mappings():
            kept = {
                name: value
                for name, value in row.items()
                if name not in VOLATILE
                and not (table.name in SERIAL and name in ("id", "seq", "device_pk"))
            }
            rows.append(repr(sorted(kept.items())))
        tables[table.name] = sorted(rows)
    session.commit()
    return tables


def _wipe(session) -> None:
    for table in reversed(metadata.sorted_tables):
        if table.name in WRITTEN:
            session.execute(table.delete())
    session.commit()


def test_runs_of_reports_taken_together_write_what_one_by_one_writes(
    app, client, cw, session, monkeypatch
):
    merchant = cw.users["merchant"]
    cf.make_shop(session, cw.world, merchant, 1, 1)
    data = jpeg(3)
    uploaded = hashlib.sha256(data).hexdigest()
    put = client.put(
        f"/api/v1/blobs/{uploaded}",
        data=data,
        headers=factories.login_headers(client, cw.users["inspector"].username),
        content_type="image/jpeg",
    )
    assert put.status_code in (200, 201), put.get_json()
    monkeypatch.setitem(app.config, "SYNC_BATCH_APPLY", False)
    _wipe(session)

    one_by_one, rows_one_by_one, taken = _run(app, client, cw, session, False, uploaded)
    assert taken == 0
    _wipe(session)
    together, rows_together, taken = _run(app, client, cw, session, True, uploaded)

    assert together == one_by_one
    statuses = [(r["mid"], r["status"], r["reason"]) for r in together["inspector"]["results"]]
    assert statuses[6:8] == [(7, "applied", None), (8, "rejected", "validation")]
    assert statuses[12] == (13, "rejected", "id_reused")
    assert [status[1:] for status in statuses[13:]] == [
        ("applied", None),
        ("applied", None),
        ("rejected", "not_found"),
        ("rejected", "validation"),
        ("applied", None),
        ("rejected", "id_reused"),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("rejected", "not_found"),
        ("applied", None),
        ("rejected", "not_found"),
        ("applied", None),
        ("applied", None),
        ("applied", None),
        ("applied", None),
    ]
    assert taken >= 10 + 5, "most of the reports and follow-ups went in together"
    for name in WRITTEN:
        assert rows_together.get(name) == rows_one_by_one.get(name), name
    cases = rows_together["cases"]
    assert len(cases) == 1 + 13 + 2, statuses
    assert len(rows_together["case_comments"]) == 4
    assert len(rows_together["case_duplicates"]) >= 3
    assert len(rows_together["routing_gaps"]) >= 2
    assert any("'available'" in row for row in rows_together["photos"])
    assert sum("'shop_id', None" not in row for row in cases) == 1
    assert sum("'far_from_own_shop'" in row for row in cases) == 1


def test_an_edit_after_photos_taken_together_sees_the_case_version_they_made(
    app, client, cw, session, monkeypatch
):
    """The photo run bumps the case's version with Core (by one per photo, as one by one);
    a later edit of the same case in the same push, an ORM update checked against the
    version, neither finds it stale nor loses a step: the versions add up."""
    monkeypatch.setitem(app.config, "SYNC_BATCH_APPLY", True)
    headers = factories.login_headers(client, cw.users["inspector"].username, device_id="ed")
    case_id = _id(60)
    first = push(client, headers, "ed", _report(1, 60, cf.cell(0, 0), _photo(60)))
    version = first["results"][0]["version"]

    def edit(mid: int, base: str, new: str) -> dict:
        fields = {"description": {"base": base, "new": new}}
        return mutation(mid, "case.edit", case_id, {"fields": fields}, base=version)

    answer = push(
        client,
        headers,
        "ed",
        edit(2, "路边暴露垃圾", "路边暴露垃圾两袋"),  # one by one: the case is now in the session
        _attach(3, 61, 60),
        _attach(4, 62, 60),
        edit(5, "路边暴露垃圾两袋", "路边暴露垃圾三袋"),
    )
    # The last edit's base version is older than the photos' (a change it had not seen):
    # ``merged``, as one by one; never a stale-version refusal (``concurrent_change``).
    statuses = [(r["status"], r["reason"]) for r in answer["results"]]
    assert statuses == [("applied", None)] * 3 + [("merged", None)], answer
    detail = cf.case(client, headers, case_id)
    assert detail["description"] == "路边暴露垃圾三袋"
    assert detail["version"] == version + 4
    assert len(detail["photos"]["problem"]) == 3


def _checking(client, cw) -> tuple[str, str]:
    """A case reported, handled and sent to check: its id and the inspector's check task."""

    def h(role):
        return factories.login_headers(client, cw.users[role].username)

    case_id = cf.report(client, h("street_chief"), cw.category, location=cf.cell(0, 1))["id"]
    cf.act(client, h("dispatcher"), case_id, "register")
    detail = cf.act(
        client, h("dispatcher"), case_id, "dispatch", department_id=cw.world.department.id
    )
    handle = cf.open_task(detail, "handle")
    cf.task_post(client, h("handler"), handle["id"], "complete", photos=[cf.photo("closure")])
    check = cf.open_task(cf.act(client, h("dispatcher"), case_id, "send_check"), "check")
    return case_id, check["id"]


def _checked(mid: int, task: str) -> dict:
    args = {"action": "complete", "result": "pass", "note": "核查通过"}
    return mutation(mid, "task.update", task, {**args, "photos": [cf.photo("check")]})


def test_task_moves_go_in_a_segment_and_keep_the_order_of_what_names_their_case(
    app, client, cw, session, monkeypatch
):
    """Task moves join the reports, comments and photos around them, applied last; a
    comment or photo sent after a move on its case is not moved ahead of it. The same walk,
    batch off and on, on two sets of cases: the same answers and the same flow in order."""
    walks = {}
    moved: list[int] = []
    real_moves = batches.FieldBatch._task_moves

    def moves(self, stretch):
        done = real_moves(self, stretch)
        moved.append(len(done))
        return done

    monkeypatch.setattr(batches.FieldBatch, "_task_moves", moves)
    for together in (False, True):
        (x, tx), (y, ty), (z, tz), (w, tw) = (_checking(client, cw) for _ in range(4))
        base = 1000 if together else 2000
        walk = [
            _report(1, base + 1, cf.cell(0, 0), _photo(base + 1)),
            _checked(2, tx),
            _comment(3, base + 3, y, "复核中"),
            _attach(4, base + 4, x),  # after the move on its case: not ahead of it
            _report(5, base + 5, cf.cell(0, 2)),
            _checked(6, ty),
            _comment(7, base + 7, z, "待核查"),
            _attach(8, base + 8, base + 1),
            _checked(9, tz),
            _checked(10, tz),  # the same check again: not applied, one by one
            _comment(11, base + 11, base + 5, "新案件"),
            # A photo bumps the version of a case the batch holds for the move after it:
            # the move must see the new version, not fail as a concurrent change.
            _attach(12, base + 12, w),
            _checked(13, tw),
        ]
        monkeypatch.setitem(app.config, "SYNC_BATCH_APPLY", together)
        headers = factories.login_headers(
            client, cw.users["inspector"].username, device_id=f"walk-{together}"
        )
        answer = push(client, headers, f"walk-{together}", *walk)
        dispatcher = factories.login_headers(client, cw.users["dispatcher"].username)
        flows = [
            [
                (e["action"], e["from_state"], e["to_state"])
                for e in cf.case(client, dispatcher, c)["flow"]
            ]
            for c in (x, y, z, w)
        ]
        walks[together] = ([(r["mid"], r["status"], r["reason"]) for r in answer["results"]], flows)

    assert walks[True] == walks[False]
    # The checks went in with the segments around them: mid 2; mids 6 and 9 (10, a repeat,
    # stops the segment, which is applied again up to it); mid 13 after the photo on its
    # case, first time (a stale case version would stop it and send it one by one).
    assert moved == [1, 2, 2, 1], moved
    statuses, flows = walks[True]
    assert [s[1] for s in statuses] == ["applied"] * 9 + ["merged"] + ["applied"] * 3
    x_flow = [action for action, *_ in flows[0]]
    assert x_flow.index("check_pass") < x_flow.index("attach_photos"), x_flow
