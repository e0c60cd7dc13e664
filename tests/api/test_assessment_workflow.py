"""考评 from cases walked through the real workflow (the API), this month so far.

``test_desk_steps_from_the_workflow`` reads only what the workflow records today (flow
steps, their actors and the case state). ``test_figures_from_the_workflow`` also needs
the case record fields (``valid``, ``closed_on_time``, ``handled_on_time``, the steps'
``duty`` and ``overdue``) that the workflow fills (app/cases/step_clocks.py and the move
effects).
"""

from __future__ import annotations

import pytest

from app.core.clock import utcnow
from app.workcalendar.periods import local_today
from tests import case_factories as cf
from tests.api.test_assessment import figures, get, row_of

pytestmark = pytest.mark.usefixtures("app")


@pytest.fixture
def cw(session, world):
    return cf.make_case_world(session, world)


def this_month() -> str:
    return local_today(utcnow(), "Asia/Shanghai").strftime("%Y-%m")


def walk(client, auth, cw) -> dict:
    """X: reported, filed, dispatched, handled, reworked once, handled again, checked and
    closed. Y: reported, filed, dispatched to the wrong department, returned, dispatched
    again, still open. Z: reported and rejected."""
    dispatcher, handler, inspector = auth("dispatcher"), auth("handler"), auth("inspector")
    department = cw.world.department.id
    x = cf.report(client, inspector, cw.category)["id"]
    cf.act(client, dispatcher, x, "register")
    cf.act(client, dispatcher, x, "dispatch", department_id=department)
    for round_ in range(2):
        cf.act(client, handler, x, "accept")
        cf.act(client, handler, x, "submit_closure", opinion="已清理", photos=[cf.photo("closure")])
        cf.act(client, dispatcher, x, "send_check")
        if round_ == 0:
            cf.act(client, inspector, x, "check_fail", opinion="未清理", photos=[cf.photo("check")])
    cf.act(client, inspector, x, "check_pass", photos=[cf.photo("check")])
    assert cf.act(client, dispatcher, x, "close")["state"] == "closed"

    y = cf.report(client, inspector, cw.category)["id"]
    cf.act(client, dispatcher, y, "register")
    other = cw.other_department_handler.org_unit_id
    cf.act(client, dispatcher, y, "dispatch", department_id=other)
    request = cf.request(
        client, cf_login(client, cw.other_department_handler), y, "return", reason="不属我单位"
    )
    cf.decide(client, dispatcher, request["id"], opinion="同意回退")
    cf.act(client, dispatcher, y, "dispatch", department_id=department)

    z = cf.report(client, inspector, cw.category)["id"]
    cf.act(client, dispatcher, z, "reject", opinion="重复上报")
    return {"X": x, "Y": y, "Z": z}


def cf_login(client, user) -> dict:
    from tests import factories

    return factories.login_headers(client, user.username, device_id="other-phone")


def test_desk_steps_from_the_workflow(client, auth, cw):
    walk(client, auth, cw)
    answer = get(client, auth("dispatcher"), "dispatcher", this_month())
    me = cw.users["dispatcher"].username
    leader = figures(row_of(answer, me, "shift_leader"))
    assert leader["accurate_filing_rate"] == (2, 2, 100.0)  # X and Y filed, none cancelled
    assert leader["on_time_closing_rate"][1] == 1  # X closed
    desk = figures(row_of(answer, me, "dispatcher"))
    # X dispatched once (the rework goes back without a dispatch), Y twice, the first
    # one returned: a wrong dispatch.
    assert desk["accurate_dispatch_rate"] == (2, 3, 66.67)


def test_figures_from_the_workflow(client, auth, cw):
    walk(client, auth, cw)
    month = this_month()
    street = row_of(get(client, auth("dispatcher"), "street", month), cw.world.street.code)
    # Due so far: X (closed this month); Y's deadline is still ahead. X closed on time,
    # reworked once. Filed: X and Y; none from a public channel.
    assert figures(street) == {
        "closure_rate": (1, 1, 100.0),
        "on_time_closure_rate": (1, 1, 100.0),
        "rework_rate": (1, 1, 100.0),
        "public_report_rate": (0, 2, 0.0),
        "selfcheck_rate": (0, 0, None),
    }
    department = row_of(get(client, auth("dispatcher"), "department", month), "D-SZ")
    assert figures(department)["on_time_handling_rate"] == (1, 1, 100.0)
    inspector = row_of(
        get(client, auth("dispatcher"), "inspector", month), cw.users["inspector"].username
    )
    assert figures(inspector)["valid_report_rate"] == (2, 3, 66.67)  # Z was rejected
    desk = get(client, auth("dispatcher"), "dispatcher", month)
    me = cw.users["dispatcher"].username
    assert figures(row_of(desk, me, "dispatcher"))["on_time_dispatch_rate"] == (3, 3, 100.0)
    assert figures(row_of(desk, me, "shift_leader"))["on_time_filing_rate"] == (2, 2, 100.0)
