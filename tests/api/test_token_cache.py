"""The few seconds' memory of resolved bearer tokens (app.accounts.token_cache)."""

from __future__ import annotations

import sqlalchemy as sa

from app.accounts import token_cache
from app.accounts.models import Device, User
from tests.factories import login_headers


def _statements(session):
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_):
        seen.append(statement)

    return seen, count


def test_a_token_seen_a_moment_ago_is_answered_without_a_query(client, world, session):
    phone = login_headers(client, "t_inspector", device_id="phone")
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 200
    engine = session.get_bind().engine
    seen, count = _statements(session)
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        answer = client.get("/api/v1/auth/me", headers=phone)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 200
    assert answer.get_json()["username"] == "t_inspector"
    assert not [s for s in seen if "devices" in s and "token_hash" in s]


def test_a_deactivation_here_takes_effect_at_once(client, world, auth):
    phone = login_headers(client, "t_inspector", device_id="phone")
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 200  # remembered
    user_id = world.users["inspector"].id
    changed = client.patch(
        f"/api/v1/admin/users/{user_id}", json={"is_active": False}, headers=auth("admin")
    )
    assert changed.status_code == 200, changed.get_json()
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401


def test_a_revocation_by_another_process_bites_within_the_ttl(client, world, session, monkeypatch):
    phone = login_headers(client, "t_inspector", device_id="phone")
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 200
    # Another process revokes it: a plain UPDATE, no flush of this process's ORM.
    user_id = world.users["inspector"].id
    session.execute(
        sa.update(Device)
        .where(Device.user_id == user_id)
        .values(token_hash=None, revoked_at=sa.func.now())
    )
    session.execute(sa.update(User).where(User.id == user_id).values(is_active=True))
    session.commit()
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 200  # remembered
    later = token_cache._clock() + token_cache.TTL + 0.1
    monkeypatch.setattr(token_cache, "_clock", lambda: later)
    assert client.get("/api/v1/auth/me", headers=phone).status_code == 401
