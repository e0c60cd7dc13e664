"""The admin's pages with the test client: users, devices, grid imports and the work
calendar, through the same services as the API; refusals shown in Chinese, nothing changed."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
import sqlalchemy as sa

from app.accounts.models import Device, User
from app.accounts.passwords import verify_password
from app.grids.models import ResponsibilityGrid, UnitGrid
from app.grids.responsibility import add_responsibility_grid
from app.workcalendar.models import CalendarDay
from tests import factories
from tests import grid_data as gd
from tests import push_factories as pf
from tests.console.support import csrf_token, post_form, sign_in

USERS = "/console/admin/users"


@pytest.fixture
def desk(client, world):
    sign_in(client, world.users["admin"].username)
    return client


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, response.get_data(as_text=True)[:3000]
    return response.get_data(as_text=True)


def _user(session, username: str) -> User | None:
    session.expire_all()
    return session.scalar(sa.select(User).where(User.username == username))


def _count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


# -- users ------------------------------------------------------------------------------


def test_the_user_list_searches_and_filters(desk, world):
    html = _html(desk.get(USERS))
    assert "t_inspector" in html and "t_handler" in html and "新建用户" in html
    assert "系统管理" in html  # the nav item
    html = _html(desk.get(f"{USERS}?q=insp"))
    assert "t_inspector" in html and "t_handler" not in html
    html = _html(desk.get(f"{USERS}?role=handler"))
    assert "t_handler" in html and "t_inspector" not in html
    html = _html(desk.get(f"{USERS}?org_unit_id={world.department.id}"))
    assert "t_handler" in html and "t_dispatcher" not in html
    html = _html(desk.get(f"{USERS}?role=emperor"))
    assert "筛选条件有误" in html


def test_an_admin_lands_on_the_user_list(desk):
    response = desk.get("/console/")
    assert response.status_code == 302 and response.headers["Location"].endswith(USERS)


def test_an_admin_creates_a_dispatcher_with_a_duty(desk, world, session):
    form = {
        "username": "zhang.san",
        "display_name": "张三",
        "role": "dispatcher",
        "duty": "shift_leader",
        "org_unit_id": world.district.id,
        "password": "a-good-long-password",
    }
    response = post_form(desk, USERS, form, USERS)
    assert response.status_code == 303
    user = _user(session, "zhang.san")
    assert (user.display_name, user.role, user.duty) == ("张三", "dispatcher", "shift_leader")
    assert user.org_unit_id == world.district.id
    assert verify_password(user.password_hash, "a-good-long-password")
    html = _html(desk.get(response.headers["Location"]))
    assert "已创建用户 张三" in html
    html = _html(desk.get(f"{USERS}?q=zhang"))
    assert "zhang.san" in html and "值班长" in html


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"username": "t_handler"}, "username", "该用户名已被使用"),
        ({"password": "short"}, "password", "密码至少 10 个字符"),
        ({"username": "x"}, "username", "3–64 个字母"),
        ({"org_unit_id": ""}, "org_unit_id", "该角色须属于街道或社区"),
        ({"duty": "dispatcher"}, "duty", "只有指挥中心人员有岗位"),
        ({"role": "road_chief", "org_unit_id": ""}, "org_unit_id", "该角色须属于街道或区"),
    ],
)
def test_a_refused_user_is_shown_on_the_form_and_nothing_is_created(
    desk, world, session, change, field, message
):
    users = _count(session, User)
    form = {
        "username": "li.si",
        "display_name": "李四",
        "role": "inspector",
        "org_unit_id": world.community.id,
        "password": "a-good-long-password",
        **change,
    }
    html = _html(post_form(desk, USERS, form, USERS), 422)
    assert "未创建" in html
    assert f'data-error="{field}">{message}' in html
    assert 'value="李四"' in html  # the form keeps what was typed, but never the password
    assert "a-good-long-password" not in html
    assert _count(session, User) == users


def test_an_admin_changes_deactivates_and_resets_a_user(desk, world, client, session):
    inspector = world.users["inspector"]
    headers = factories.login_headers(client, inspector.username)  # a phone signed in
    page = f"{USERS}/{inspector.id}"
    html = _html(desk.get(page))
    assert "重置密码" in html and "负责的责任网格" in html
    form = {
        "display_name": "王五",
        "role": "inspector",
        "org_unit_id": world.street.id,
        "is_active": "false",
    }
    assert post_form(desk, page, form, page).status_code == 303
    user = _user(session, inspector.username)
    assert (user.display_name, user.org_unit_id, user.is_active) == ("王五", world.street.id, False)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert "已停用" in _html(desk.get(page))

    assert (
        post_form(desk, f"{page}/password", {"password": "another-long-one"}, page).status_code
        == 303
    )
    assert verify_password(_user(session, inspector.username).password_hash, "another-long-one")


def test_a_refused_change_says_why_and_changes_nothing(desk, world, session):
    handler = world.users["handler"]
    page = f"{USERS}/{handler.id}"
    form = {"role": "street_chief", "org_unit_id": world.department.id, "is_active": "true"}
    html = _html(post_form(desk, page, form, page), 422)
    assert "未保存" in html and "该角色须属于街道" in html
    html = _html(post_form(desk, f"{page}/password", {"password": "short"}, page), 422)
    assert "密码至少 10 个字符" in html
    user = _user(session, handler.username)
    assert (user.role, user.org_unit_id) == ("handler", world.department.id)
    assert verify_password(user.password_hash, factories.PASSWORD)


def test_an_admin_cannot_deactivate_themselves(desk, world, session):
    admin = world.users["admin"]
    page = f"{USERS}/{admin.id}"
    html = _html(post_form(desk, page, {"role": "admin", "is_active": "false"}, page), 422)
    assert "不能停用自己的账号" in html
    assert _user(session, admin.username).is_active


def test_an_admin_gives_an_inspector_responsibility_grids(desk, world, session):
    from app.grids import importing

    importing.add_unit_grids(session, gd.lattice(1, 2))
    first = add_responsibility_grid(
        session, code="Z1", name="一号责任区", unit_grid_codes=["350203001001001"]
    )
    second = add_responsibility_grid(
        session, code="Z2", name="二号责任区", unit_grid_codes=["350203001001002"]
    )
    session.commit()
    inspector = world.users["inspector"]
    page = f"{USERS}/{inspector.id}"
    post_form(desk, f"{page}/grids", {"grid_ids": [str(first.id), str(second.id)]}, page)
    session.expire_all()
    assert session.get(ResponsibilityGrid, second.id).inspector_id == inspector.id
    post_form(desk, f"{page}/grids", {"grid_ids": [str(first.id)]}, page)
    session.expire_all()
    assert session.get(ResponsibilityGrid, first.id).inspector_id == inspector.id
    assert session.get(ResponsibilityGrid, second.id).inspector_id is None
    assert "一号责任区" in _html(desk.get(f"{USERS}?role=inspector"))

    form = {
        "username": "new.inspector",
        "role": "inspector",
        "org_unit_id": world.community.id,
        "password": "a-good-long-password",
        "grid_ids": [str(second.id)],
    }
    assert post_form(desk, USERS, form, USERS).status_code == 303
    session.expire_all()
    assert (
        session.get(ResponsibilityGrid, second.id).inspector_id
        == _user(session, "new.inspector").id
    )


# -- devices ----------------------------------------------------------------------------


def test_an_admin_revokes_a_lost_phone(desk, world, client, session):
    inspector = world.users["inspector"]
    headers = factories.login_headers(client, inspector.username, device_id="lost-phone")
    html = _html(desk.get("/console/admin/devices?q=t_inspector"))
    assert "lost-phone" in html and "t_dispatcher" not in html and "有效" in html
    device = session.scalar(sa.select(Device).where(Device.device_id == "lost-phone"))
    page = "/console/admin/devices"
    response = post_form(desk, f"{page}/{device.id}/revoke", {"next": f"{page}?q=t_insp"}, page)
    assert response.status_code == 303 and response.headers["Location"] == f"{page}?q=t_insp"
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    html = _html(desk.get(f"{page}?active=false"))
    assert "lost-phone" in html and "已注销" in html
    html = _html(desk.get(f"{page}?active=true"))
    assert "lost-phone" not in html


def test_revoking_sends_nowhere_outside_the_console(desk, world, client, session):
    factories.login_headers(client, world.users["handler"].username, device_id="p2")
    device = session.scalar(sa.select(Device).where(Device.device_id == "p2"))
    page = "/console/admin/devices"
    response = post_form(
        desk, f"{page}/{device.id}/revoke", {"next": "https://evil.example/"}, page
    )
    assert response.headers["Location"] == "/console/"


# -- grid imports -----------------------------------------------------------------------

GRIDS = "/console/admin/grids"


def _upload(client, content: bytes, kind: str = "grids", name: str = "grids.geojson"):
    return client.post(
        f"{GRIDS}/preview",
        data={
            "csrf_token": csrf_token(client, GRIDS),
            "kind": kind,
            "file": (io.BytesIO(content), name),
        },
        content_type="multipart/form-data",
    )


def _token(html: str) -> str:
    return html.split('name="token" value="', 1)[1].split('"', 1)[0]


def test_a_grid_file_is_previewed_then_imported(desk, world, session):
    fc = gd.lattice(2, 2, community="350203001002", community_name="新社区")
    html = _html(_upload(desk, json.dumps(fc).encode()))
    assert "预览（尚未写入）" in html and 'data-fact="created">4<' in html
    assert "350203001002" in html and 'data-fact="errors">0<' in html
    assert _count(session, UnitGrid) == 0
    token = _token(html)
    response = post_form(desk, f"{GRIDS}/import", {"token": token}, GRIDS)
    assert response.status_code == 303
    assert _count(session, UnitGrid) == 4
    html = _html(desk.get(GRIDS))
    assert "已导入 4 个单元网格" in html and "350203001002004" in html and "新社区" in html
    assert "中华街道" in html
    # the file is gone: importing it again is refused
    response = post_form(desk, f"{GRIDS}/import", {"token": token}, GRIDS)
    assert "没有待导入的文件" in _html(desk.get(response.headers["Location"]))
    assert _count(session, UnitGrid) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "不是有效的 JSON 文件"),
        (b'{"type": "Feature"}', "不是 GeoJSON FeatureCollection"),
        (
            json.dumps(gd.collection([gd.feature(gd.square(118.08, 24.47), code="12")])).encode(),
            "第 1 个要素",
        ),
    ],
)
def test_a_bad_grid_file_is_refused_and_nothing_is_imported(desk, session, content, message):
    html = _html(_upload(desk, content), 422)
    assert "未导入" in html and message in html
    assert 'name="token"' not in html
    assert _count(session, UnitGrid) == 0


def test_a_road_file_is_imported(desk, session, world):
    road = gd.road([[118.08, 24.47], [118.09, 24.471]], code="R9", name="湖滨路")
    html = _html(_upload(desk, json.dumps(gd.collection([road])).encode(), kind="roads"))
    assert 'data-fact="created">1<' in html
    post_form(desk, f"{GRIDS}/import", {"token": _token(html)}, GRIDS)
    assert "已导入 1 个道路" in _html(desk.get(GRIDS))


def test_an_upload_past_the_limit_is_refused_unread(desk, app, session):
    limit = app.config["GRID_IMPORT_MAX_BYTES"]
    app.config["GRID_IMPORT_MAX_BYTES"] = 2048
    try:
        fc = gd.lattice(3, 3)
        response = _upload(desk, json.dumps(fc).encode() + b" " * 4096)
        html = _html(response, 413)
        assert "上传的内容过大" in html
    finally:
        app.config["GRID_IMPORT_MAX_BYTES"] = limit
    assert _count(session, UnitGrid) == 0


# -- the work calendar ------------------------------------------------------------------

CALENDAR = "/console/admin/calendar"


def test_the_calendar_lists_holidays_and_working_days_by_month(desk):
    html = _html(desk.get(f"{CALENDAR}?year=2026"))
    assert "2026 年工作日历" in html
    assert 'data-day="2026-10-01"' in html and "国庆节" in html
    assert 'data-day="2026-01-04"' in html and "调休上班" in html  # a Sunday worked
    assert 'data-day="2026-03-10"' not in html


def test_an_admin_adds_and_removes_a_day_of_the_city(desk, session):
    form = {"day": "2026-03-10", "is_workday": "false", "note": "台风停工"}
    response = post_form(desk, f"{CALENDAR}/days", form, CALENDAR)
    assert response.status_code == 303
    html = _html(desk.get(response.headers["Location"]))
    assert "已设为本市休息日" in html and 'data-day="2026-03-10"' in html and "台风停工" in html
    day = session.scalar(sa.select(CalendarDay).where(CalendarDay.day == dt.date(2026, 3, 10)))
    assert day.is_workday is False
    post_form(desk, f"{CALENDAR}/days/remove", {"day": "2026-03-10"}, CALENDAR)
    assert _count(session, CalendarDay) == 0
    response = post_form(desk, f"{CALENDAR}/days/remove", {"day": "2026-03-10"}, CALENDAR)
    assert "没有本市的调整" in _html(desk.get(response.headers["Location"]))


def test_a_bad_date_is_refused(desk, session):
    for day in ("2026-02-30", "tomorrow", ""):
        form = {"day": day, "is_workday": "true"}
        html = _html(post_form(desk, f"{CALENDAR}/days", form, CALENDAR), 422)
        assert "未保存" in html and "日期" in html
    assert _count(session, CalendarDay) == 0


# -- who may, and CSRF ------------------------------------------------------------------


@pytest.mark.parametrize("role", ["dispatcher", "inspector", "street_chief"])
def test_other_roles_may_not_see_the_admin_pages(client, world, role):
    sign_in(client, world.users[role].username)
    for path in (USERS, "/console/admin/devices", GRIDS, CALENDAR):
        response = client.get(path)
        assert response.status_code == 403 and "无权访问" in response.get_data(as_text=True)


def test_admin_forms_without_a_csrf_token_are_refused_and_change_nothing(
    desk, world, client, session
):
    factories.login_headers(client, world.users["handler"].username, device_id="p3")
    device = session.scalar(sa.select(Device).where(Device.device_id == "p3"))
    handler = world.users["handler"]
    posts = {
        USERS: {"username": "csrf.user", "role": "admin", "password": "a-good-long-password"},
        f"{USERS}/{handler.id}": {"role": "handler", "is_active": "false"},
        f"{USERS}/{handler.id}/password": {"password": "another-long-one"},
        f"/console/admin/devices/{device.id}/revoke": {},
        f"{CALENDAR}/days": {"day": "2026-03-10", "is_workday": "false"},
    }
    for path, data in posts.items():
        response = client.post(path, data={**data, "csrf_token": "forged"})
        assert response.status_code == 400, path
        assert "安全令牌" in response.get_data(as_text=True)
    response = client.post(
        f"{GRIDS}/preview",
        data={"file": (io.BytesIO(json.dumps(gd.lattice(1, 1)).encode()), "g.geojson")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert _user(session, "csrf.user") is None
    user = _user(session, handler.username)
    assert user.is_active and verify_password(user.password_hash, factories.PASSWORD)
    session.refresh(device)
    assert device.active
    assert _count(session, CalendarDay) == 0 and _count(session, UnitGrid) == 0


def test_the_devices_show_their_phone_queue_and_not_a_revoke_of_this_browser(desk, world, client):
    headers = factories.login_headers(
        client, world.users["inspector"].username, device_id="phone-9"
    )
    answer = pf.push(client, headers, "phone-9", pf.mutation(1, "no.such_type", uuid.uuid4(), {}))
    assert pf.outcomes(answer)[0][0] == "rejected"
    html = _html(desk.get("/console/admin/devices?q=t_inspector"))
    assert "拒收 1" in html and "待传照片 0" in html and "最近上传 20" in html
    html = _html(desk.get("/console/admin/devices?q=t_admin"))
    assert "本浏览器" in html and "注销</button>" not in html
