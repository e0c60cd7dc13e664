"""Builders for Open311 tests: a client system with its key, a photo, the form of a
service request, and the workflow that closes a case through the API."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy.orm import Session

from app.open311 import clients
from app.open311.services import service_code
from tests import grid_data
from tests.case_factories import CaseWorld
from tests.media import photos as pictures

BASE = "/open311/v2"


def make_client(session: Session, cw: CaseWorld, name: str = "市民通", rate: int = 60) -> str:
    """A client system; its api_key."""
    return clients.create_client(session, cw.users["admin"], name, rate).api_key


def jpeg(seed: int = 3) -> bytes:
    return pictures.encode(pictures.scene(320, 240, seed=seed), "JPEG", quality=85)


def is_image(data: bytes) -> bool:
    """Bytes a client can show: the photo, or its thumbnail once made."""
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    return data[:2] == b"\xff\xd8"


def form(cw: CaseWorld, api_key: str, **overrides) -> dict:
    """A service request in grid 001 (the world inspector's), about exposed rubbish."""
    lat, lon = grid_data.cell_centre(0, 0)
    body = {
        "api_key": api_key,
        "service_code": service_code(cw.category),
        "lat": str(lat),
        "long": str(lon),
        "address_string": "中山路 1 号",
        "description": "路边一堆垃圾",
        "email": "li@example.cn",
        "first_name": "四",
        "last_name": "李",
        "phone": "13800000000",
        "device_id": "phone-1",
        "account_id": "acct-7",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


class Workflow:
    """The command centre, the inspector and the department take a verifying case to
    ``closed`` through /api/v1 (``post(path, json, headers)`` → (status, body))."""

    def __init__(self, post, get, headers, cw: CaseWorld):
        self.post, self.get, self.headers, self.cw = post, get, headers, cw

    def act(self, case_id: str, role: str, action: str, **body) -> dict:
        status, answer = self.post(
            f"/api/v1/cases/{case_id}/actions", {"action": action, **body}, self.headers(role)
        )
        assert status == 200, (action, answer)
        return answer

    def task(self, case_id: str, kind: str) -> dict:
        status, detail = self.get(f"/api/v1/cases/{case_id}", self.headers("dispatcher"))
        assert status == 200, detail
        return next(t for t in detail["open_tasks"] if t["kind"] == kind)

    def close(self, case_id: str, photo) -> None:
        task = self.task(case_id, "verify")
        status, answer = self.post(
            f"/api/v1/tasks/{task['id']}/complete",
            {"result": "pass", "note": "现场属实", "photos": [photo("check")]},
            self.headers("inspector"),
        )
        assert status == 200, answer
        self.act(case_id, "dispatcher", "register")
        self.act(case_id, "dispatcher", "dispatch", department_id=self.cw.world.department.id)
        self.act(case_id, "handler", "accept")
        self.act(case_id, "handler", "submit_closure", photos=[photo("closure")])
        self.act(case_id, "dispatcher", "send_check")
        self.act(case_id, "inspector", "check_pass", photos=[photo("check")])
        self.act(case_id, "dispatcher", "close", opinion="垃圾已清运, 结案")
