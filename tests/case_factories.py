"""Builders for case tests: a 3 × 3 lattice of unit grids in ``world``'s community, the
national categories, responsibility grids, shops under 门前三包, photos by reference, and
API helpers."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.categories.models import Category
from app.categories.services import find_category, seed_national_categories
from app.grids.importing import import_unit_grids
from app.grids.responsibility import create_responsibility_grid
from app.merchants.models import Shop
from app.merchants.services import create_shop
from tests import factories, grid_data
from tests.factories import World

EXPOSED_RUBBISH = ("event", "cjt214", "0102")  # 暴露垃圾, 4 working hours
MANHOLE = ("component", "cjt214", "0101")  # 上水井盖, 6 hours continuously
SEA = (24.30, 118.30)  # off Xiamen: in no grid


@dataclasses.dataclass
class CaseWorld:
    world: World
    category: Category
    other_category: Category
    other_inspector: User
    other_department_handler: User

    @property
    def users(self) -> dict[str, User]:
        return self.world.users


def make_case_world(session: Session, world: World) -> CaseWorld:
    """Grids 001–009 in world's community; world's inspector walks 001–003, another
    inspector 004–006; grids 007–009 belong to nobody."""
    seed_national_categories(session)
    import_unit_grids(session, grid_data.lattice())
    other_inspector = factories.make_user(session, "inspector", world.community)
    from app.orgunits import services as orgunits

    other_department = orgunits.add_org_unit(session, "department", "D-HW", "环卫处", "350203")
    other_handler = factories.make_user(session, "handler", other_department)
    session.commit()
    code = grid_data.COMMUNITY
    create_responsibility_grid(
        session,
        code="RG-1",
        name="一号责任网格",
        unit_grid_codes=[f"{code}001", f"{code}002", f"{code}003"],
        inspector_id=world.users["inspector"].id,
    )
    create_responsibility_grid(
        session,
        code="RG-2",
        name="二号责任网格",
        unit_grid_codes=[f"{code}004", f"{code}005", f"{code}006"],
        inspector_id=other_inspector.id,
    )
    return CaseWorld(
        world=world,
        category=find_category(session, *EXPOSED_RUBBISH),
        other_category=find_category(session, *MANHOLE),
        other_inspector=other_inspector,
        other_department_handler=other_handler,
    )


def make_shop(
    session: Session,
    world: World,
    merchant: User | None,
    row: int = 0,
    col: int = 0,
    name: str = "好运来小吃店",
) -> Shop:
    """A shop under 门前三包 in world's community, at the middle of lattice cell (row, col),
    with ``merchant`` responsible for its frontage (None: nobody signed the pledge yet)."""
    lat, lon = grid_data.cell_centre(row, col)
    shop = create_shop(
        session,
        name=name,
        address=f"中山路 {row * 3 + col + 1} 号",
        community_id=world.community.id,
        lat=lat,
        lon=lon,
        merchant_id=merchant.id if merchant else None,
    )
    session.commit()
    return shop


def square_zone(lat: float, lon: float, half: float = 0.0003) -> dict:
    """A GeoJSON square of ``2 * half`` degrees around the point (a frontage zone)."""
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def make_merchant(session: Session, world: World) -> User:
    """Another merchant of world's community."""
    merchant = factories.make_user(session, "merchant", world.community)
    session.commit()
    return merchant


def photo(kind: str = "problem") -> dict:
    """A photo reference; its bytes need not have arrived (the photo stays pending)."""
    photo_id = uuid.uuid4()
    return {
        "photo_id": str(photo_id),
        "sha256": hashlib.sha256(photo_id.bytes).hexdigest(),
        "kind": kind,
    }


def cell(row: int, col: int) -> dict:
    lat, lon = grid_data.cell_centre(row, col)
    return {"lat": lat, "lon": lon, "crs": "wgs84"}


def report_body(category: Category, **overrides) -> dict:
    body = {
        "id": str(uuid.uuid4()),
        "category_id": category.id,
        "description": "路边暴露垃圾",
        "address": "中山路 1 号",
        "location": cell(0, 0),
        "photos": [photo("problem")],
    }
    body.update(overrides)
    return body


def report(client, headers: dict, category: Category, expect: int = 201, **overrides) -> dict:
    response = client.post(
        "/api/v1/cases", json=report_body(category, **overrides), headers=headers
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def act(client, headers: dict, case_id: str, action: str, expect: int = 200, **body) -> dict:
    response = client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": action, **body}, headers=headers
    )
    assert response.status_code == expect, (action, response.get_json())
    return response.get_json()


def try_act(client, headers: dict, case_id: str, action: str, **body):
    """A move whose answer the test looks at itself (a refusal, say)."""
    return client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": action, **body}, headers=headers
    )


def refused(response, status: int, reason: str) -> None:
    """``response`` refused with ``status`` and the stable ``reason``."""
    assert response.status_code == status, response.get_json()
    assert response.get_json()["errors"]["reason"] == reason, response.get_json()


def case(client, headers: dict, case_id: str, expect: int = 200) -> dict:
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def open_task(detail: dict, kind: str) -> dict:
    tasks = [task for task in detail["open_tasks"] if task["kind"] == kind]
    assert len(tasks) == 1, detail["open_tasks"]
    return tasks[0]


def task_post(client, headers: dict, task_id: str, verb: str, expect: int = 200, **body) -> dict:
    response = client.post(f"/api/v1/tasks/{task_id}/{verb}", json=body, headers=headers)
    assert response.status_code == expect, (verb, response.get_json())
    return response.get_json()


def request(client, headers: dict, case_id: str, kind: str, expect: int = 201, **body) -> dict:
    response = client.post(
        f"/api/v1/cases/{case_id}/requests", json={"kind": kind, **body}, headers=headers
    )
    assert response.status_code == expect, (kind, response.get_json())
    return response.get_json()


def decide(
    client, headers: dict, request_id: str, approve: bool = True, expect: int = 200, **body
) -> dict:
    response = client.post(
        f"/api/v1/case-requests/{request_id}/decision",
        json={"approve": approve, **body},
        headers=headers,
    )
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
