"""Closed cases with real photos, walked through the API, for the ledger's tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import uuid

from openpyxl import load_workbook

from tests import case_factories as cf
from tests.media import photos as pictures

_seeds = itertools.count(100)


def uploaded_photo(client, headers: dict, kind: str) -> dict:
    """A photo whose JPEG bytes the caller uploaded (so it is available, with thumbnails)."""
    data = pictures.encode(pictures.scene(640, 480, seed=next(_seeds)), "JPEG", quality=85)
    sha = hashlib.sha256(data).hexdigest()
    response = client.put(
        f"/api/v1/blobs/{sha}", data=data, headers=headers, content_type="image/jpeg"
    )
    assert response.status_code in (200, 201), response.get_json()
    return {"photo_id": str(uuid.uuid4()), "sha256": sha, "kind": kind}


def closed_case(client, h, cw, department_id: int | None = None, **report) -> dict:
    """Report (inspector, a problem photo) → register → dispatch → accept → closure (a
    closure photo) → check passed → closed."""
    created = cf.report(
        client,
        h("inspector"),
        cw.category,
        photos=[uploaded_photo(client, h("inspector"), "problem")],
        **report,
    )
    case_id = created["id"]
    cf.act(client, h("dispatcher"), case_id, "register")
    cf.act(
        client,
        h("dispatcher"),
        case_id,
        "dispatch",
        department_id=department_id or cw.world.department.id,
    )
    handler = h("handler")
    cf.act(client, handler, case_id, "accept")
    closure = uploaded_photo(client, handler, "closure")
    cf.act(client, handler, case_id, "submit_closure", opinion="已清理", photos=[closure])
    cf.act(client, h("dispatcher"), case_id, "send_check")
    cf.act(client, h("inspector"), case_id, "check_pass", photos=[cf.photo("check")])
    return cf.act(client, h("dispatcher"), case_id, "close")


def today() -> str:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()


def period(days_back: int = 2) -> dict:
    last = dt.date.fromisoformat(today())
    return {"from": (last - dt.timedelta(days=days_back)).isoformat(), "to": last.isoformat()}


def read_xlsx(data: bytes):
    return load_workbook(io.BytesIO(data)).active
