"""Builders for tests that push offline mutations through ``POST /api/v1/sync/push``."""

from __future__ import annotations

import datetime as dt
import uuid

from tests import case_factories as cf

T0 = dt.datetime(2026, 11, 22, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def mutation(mid: int, type_: str, entity_id, args: dict, *, base=None) -> dict:
    """One queued mutation as a phone sends it."""
    return {
        "mid": mid,
        "type": type_,
        "entity_id": str(entity_id),
        "base_version": base,
        "args": args,
        "client_ts": (T0 + dt.timedelta(minutes=mid)).isoformat(),
    }


def push(client, headers: dict, device_id: str, *mutations: dict, expect: int = 200) -> dict:
    response = client.post(
        "/api/v1/sync/push",
        json={"device_id": device_id, "mutations": list(mutations)},
        headers=headers,
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def outcomes(answer: dict) -> list[tuple[str, str | None]]:
    """``(status, reason)`` of each result of a push."""
    return [(result["status"], result["reason"]) for result in answer["results"]]


def pushing(client, headers: dict, device_id: str):
    """A phone's queue: each call pushes the next mids (1, 2, 3, …) and returns the answer."""
    state = {"mid": 0}

    def send(type_: str, entity_id, args: dict, *, base=None, expect: int = 200) -> dict:
        state["mid"] += 1
        sent = mutation(state["mid"], type_, entity_id, args, base=base)
        return push(client, headers, device_id, sent, expect=expect)

    return send


def break_reports(monkeypatch, failing=lambda mid: True):
    """Make taking in ``report.create`` fail as if the database went away, for the mids
    ``failing`` names, on both ways a push takes reports: one by one
    (``Applier.report_create``) and a run together (``ReportBatch``, which falls back to
    one by one when it fails). Returns a function that mends it."""
    from app.sync_api.apply import Applier, ReportBatch

    real_one, real_many = Applier.report_create, ReportBatch.__call__

    def one(self, mutation):
        if failing(mutation.mid):
            raise ConnectionError("the database went away")
        return real_one(self, mutation)

    def many(self, mutations):
        if any(failing(mutation.mid) for mutation in mutations):
            raise ConnectionError("the database went away")
        return real_many(self, mutations)

    monkeypatch.setattr(Applier, "report_create", one)
    monkeypatch.setattr(ReportBatch, "__call__", many)

    def mend() -> None:
        monkeypatch.setattr(Applier, "report_create", real_one)
        monkeypatch.setattr(ReportBatch, "__call__", real_many)

    return mend


def field_conflict(client, headers: dict, device_id: str, dispatcher: dict, photo: dict) -> dict:
    """A ``field_conflict``: the phone (``headers``, ``device_id``, mids 1 and 2) reports a
    case with ``photo`` and, offline, corrects its description and address, while the
    ``dispatcher`` corrects both to other values. The conflict's and the case's ids."""
    case_id = str(uuid.uuid4())
    report = {
        "category_code": "06010",
        "description": "路边暴露垃圾",
        "address": "中山路 1 号",
        "location": cf.cell(0, 0),
        "photos": [photo],
    }
    push(client, headers, device_id, mutation(1, "report.create", case_id, report))
    version = cf.case(client, dispatcher, case_id)["version"]
    response = client.patch(
        f"/api/v1/cases/{case_id}",
        json={"version": version, "fields": {"description": "两袋垃圾", "address": "中山路 3 号"}},
        headers=dispatcher,
    )
    assert response.status_code == 200, response.get_json()
    edit = {
        "fields": {
            "description": {"base": "路边暴露垃圾", "new": "一堆建筑垃圾"},
            "address": {"base": "中山路 1 号", "new": "中山路 2 号"},
        }
    }
    sent = mutation(2, "case.edit", case_id, edit, base=version)
    [result] = push(client, headers, device_id, sent)["results"]
    assert (result["status"], result["reason"]) == ("conflict", "field_conflict")
    return {"conflict_id": result["conflict_id"], "case_id": case_id}
