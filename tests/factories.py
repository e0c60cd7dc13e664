"""Plain functions that build test data through the services, never through raw rows."""

from __future__ import annotations

import dataclasses
import itertools
import json

from sqlalchemy.orm import Session

from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.grids.models import Road
from app.orgunits import services as orgunits
from app.orgunits.models import OrgUnit

PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)


@dataclasses.dataclass
class World:
    district: OrgUnit
    street: OrgUnit
    community: OrgUnit
    department: OrgUnit
    road: Road
    users: dict[str, User]


def make_road(session: Session, street: OrgUnit, code: str = "R001") -> Road:
    line = {"type": "LineString", "coordinates": [[118.08, 24.47], [118.09, 24.47]]}
    road = Road(
        code=code,
        name="中山路",
        street_id=street.id,
        geometry=json.dumps(line),
        buffer_m=20.0,
        min_lon=118.08,
        min_lat=24.47,
        max_lon=118.09,
        max_lat=24.47,
    )
    session.add(road)
    session.flush()
    return road


def make_user(
    session: Session,
    role: str,
    org_unit: OrgUnit | None,
    road: Road | None = None,
    username: str | None = None,
    duty: str | None = None,
) -> User:
    return accounts.add_user(
        session,
        username=username or f"{role}_{next(_serial)}",
        password=PASSWORD,
        role=role,
        org_unit_id=org_unit.id if org_unit else None,
        road_id=road.id if road else None,
        duty=duty,
    )


def make_world(session: Session) -> World:
    district = orgunits.add_org_unit(session, "district", "350203", "思明区")
    street = orgunits.add_org_unit(session, "street", "350203001", "中华街道", "350203")
    community = orgunits.add_org_unit(session, "community", "350203001001", "中山社区", "350203001")
    department = orgunits.add_org_unit(session, "department", "D-SZ", "市政园林局", "350203")
    road = make_road(session, street)
    ties = {
        Role.INSPECTOR: (community, None),
        Role.STREET_CHIEF: (street, None),
        Role.ROAD_CHIEF: (street, road),
        Role.DISPATCHER: (district, None),
        Role.HANDLER: (department, None),
        Role.MERCHANT: (community, None),
        Role.ADMIN: (None, None),
    }
    users = {
        role.value: make_user(session, role.value, unit, road_, username=f"t_{role.value}")
        for role, (unit, road_) in ties.items()
    }
    session.commit()
    return World(district, street, community, department, road, users)


def login_headers(
    client, username: str, password: str = PASSWORD, device_id: str = "test-phone"
) -> dict:
    response = client.post(
        "/api/v1/auth/login",
        json={
            "username": username,
            "password": password,
            "device_id": device_id,
            "device_name": "pytest",
        },
    )
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}
