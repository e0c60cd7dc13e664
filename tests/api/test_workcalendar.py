"""The work calendar over HTTP: reading days, setting periods, overriding days, deadlines."""

import datetime as dt

from app.workcalendar import services

CAL = "/api/v1/calendar"
ADMIN = "/api/v1/admin/calendar"
DEADLINE = "/api/v1/calendar/deadline"


def _days(client, headers, start, end):
    response = client.get(CAL, query_string={"from": start, "to": end}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_defaults_and_national_days(client, auth):
    body = _days(client, auth("handler"), "2026-09-30", "2026-10-11")
    assert body["timezone"] == "Asia/Shanghai"
    assert body["periods"] == [
        {"start": "08:00", "end": "12:00"},
        {"start": "14:00", "end": "18:00"},
    ]
    assert body["workday_hours"] == 8
    days = {d["date"]: d for d in body["days"]}
    assert len(days) == 12
    assert days["2026-09-30"]["is_workday"] is True
    assert all(days[f"2026-10-0{n}"]["is_workday"] is False for n in range(1, 8))
    assert days["2026-10-10"] == {
        "date": "2026-10-10",
        "is_workday": True,
        "source": "national",
        "note": None,
    }
    assert days["2026-10-11"]["is_workday"] is False


def test_years_without_national_data_fall_back_to_weekdays(client, auth):
    days = _days(client, auth("inspector"), "2027-01-01", "2027-01-03")["days"]
    assert [(d["is_workday"], d["source"]) for d in days] == [
        (True, "weekday"),
        (False, "weekday"),
        (False, "weekday"),
    ]


def test_range_is_checked(client, auth):
    headers = auth("inspector")
    too_long = client.get(
        CAL, query_string={"from": "2026-01-01", "to": "2027-02-05"}, headers=headers
    )
    assert too_long.status_code == 422
    backwards = client.get(
        CAL, query_string={"from": "2026-03-02", "to": "2026-03-01"}, headers=headers
    )
    assert backwards.status_code == 422
    assert client.get(CAL, query_string={"from": "tomorrow"}, headers=headers).status_code == 422
    default = client.get(CAL, headers=headers)
    assert default.status_code == 200 and len(default.get_json()["days"]) == 31
    assert client.get(CAL).status_code == 401


def test_admin_overrides_a_day_and_removes_it(client, auth):
    url = f"{ADMIN}/days/2026-10-08"
    response = client.put(
        url, json={"is_workday": False, "note": "台风停工"}, headers=auth("admin")
    )
    assert response.status_code == 200
    assert response.get_json() == {"date": "2026-10-08", "is_workday": False, "note": "台风停工"}
    day = _days(client, auth("inspector"), "2026-10-08", "2026-10-08")["days"][0]
    assert (day["is_workday"], day["source"], day["note"]) == (False, "override", "台风停工")
    # The override moves deadlines: Sep 30 17:00 + 2 working hours skips Oct 8 too.
    due = client.get(
        DEADLINE,
        query_string={
            "start": "2026-09-30T17:00:00+08:00",
            "amount": 2,
            "limit_type": "working_hours",
        },
        headers=auth("dispatcher"),
    )
    assert due.get_json()["deadline_local"] == "2026-10-09T09:00:00+08:00"
    # Setting it again replaces it.
    again = client.put(url, json={"is_workday": True}, headers=auth("admin"))
    assert again.get_json() == {"date": "2026-10-08", "is_workday": True, "note": None}
    assert client.delete(url, headers=auth("admin")).status_code == 204
    day = _days(client, auth("inspector"), "2026-10-08", "2026-10-08")["days"][0]
    assert day["source"] == "national"
    assert client.delete(url, headers=auth("admin")).status_code == 404


def test_day_overrides_are_for_admins_with_a_valid_date_and_body(client, auth):
    url = f"{ADMIN}/days/2026-10-08"
    assert (
        client.put(url, json={"is_workday": False}, headers=auth("dispatcher")).status_code == 403
    )
    assert client.put(url, json={"is_workday": False}).status_code == 401
    assert client.delete(url, headers=auth("inspector")).status_code == 403
    headers = auth("admin")
    bad_date = client.put(f"{ADMIN}/days/2026-13-01", json={"is_workday": False}, headers=headers)
    assert bad_date.status_code == 422
    assert client.put(url, json={}, headers=headers).status_code == 422
    assert client.put(url, json={"is_workday": "nope"}, headers=headers).status_code == 422
    assert client.put(url, json={"is_workday": True, "x": 1}, headers=headers).status_code == 422
    malformed = client.put(url, data="{oops", content_type="application/json", headers=headers)
    assert malformed.status_code in (400, 422)


def test_admin_sets_periods_and_time_zone(client, auth, session):
    body = {
        "timezone": "Asia/Shanghai",
        "periods": [{"start": "08:30", "end": "12:00"}, {"start": "14:30", "end": "17:30"}],
    }
    response = client.put(ADMIN, json=body, headers=auth("admin"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {**body, "workday_hours": 6.5}
    assert services.get_calendar(session).workday_seconds == 6.5 * 3600
    due = client.get(
        DEADLINE,
        query_string={
            "start": "2026-03-10T11:00:00+08:00",
            "amount": 2,
            "limit_type": "working_hours",
        },
        headers=auth("inspector"),
    )
    assert due.get_json()["deadline_local"] == "2026-03-10T15:30:00+08:00"
    assert (
        _days(client, auth("inspector"), "2026-03-10", "2026-03-10")["periods"] == body["periods"]
    )


def test_bad_periods_and_zones_are_422(client, auth):
    headers = auth("admin")

    def put(periods, timezone="Asia/Shanghai"):
        return client.put(ADMIN, json={"timezone": timezone, "periods": periods}, headers=headers)

    morning, afternoon = {"start": "08:00", "end": "12:00"}, {"start": "14:00", "end": "18:00"}
    assert put([afternoon, morning]).status_code == 422  # out of order
    assert put([morning, {"start": "11:00", "end": "18:00"}]).status_code == 422  # overlap
    assert put([{"start": "12:00", "end": "08:00"}]).status_code == 422  # backwards
    assert put([{"start": "8:00", "end": "12:00"}]).status_code == 422  # not HH:MM
    assert put([{"start": "08:00", "end": "24:00"}]).status_code == 422
    assert put([]).status_code == 422
    assert put([morning], timezone="Mars/Olympus").status_code == 422
    assert client.put(ADMIN, json={"periods": [morning]}, headers=headers).status_code == 422
    assert (
        client.put(
            ADMIN,
            json={"timezone": "Asia/Shanghai", "periods": [morning]},
            headers=auth("inspector"),
        ).status_code
        == 403
    )


def test_deadline_endpoint(client, auth):
    headers = auth("merchant")

    def deadline(start, amount, limit_type):
        query = {"start": start, "amount": amount, "limit_type": limit_type}
        return client.get(DEADLINE, query_string=query, headers=headers)

    friday = deadline("2026-03-13T16:00:00+08:00", 4, "working_hours")
    assert friday.status_code == 200
    body = friday.get_json()
    assert body["deadline"] == "2026-03-16T02:00:00+00:00"
    assert body["deadline_local"] == "2026-03-16T10:00:00+08:00"
    assert body["timezone"] == "Asia/Shanghai"
    in_utc = deadline("2026-09-28T02:00:00Z", 15, "working_days")
    assert in_utc.get_json()["deadline_local"] == "2026-10-23T10:00:00+08:00"
    urgent = deadline("2026-10-01T22:00:00+08:00", 6, "urgent_hours")
    assert urgent.get_json()["deadline_local"] == "2026-10-02T04:00:00+08:00"


def test_deadline_endpoint_rejects_bad_queries(client, auth):
    headers = auth("inspector")

    def status(**query):
        return client.get(DEADLINE, query_string=query, headers=headers).status_code

    good = {"start": "2026-03-10T09:00:00+08:00", "amount": 4, "limit_type": "working_hours"}
    assert status(**good) == 200
    assert status(**{**good, "start": "2026-03-10T09:00:00"}) == 422  # no offset
    assert status(**{**good, "limit_type": "fortnights"}) == 422
    assert status(**{**good, "amount": "four"}) == 422
    assert status(**{**good, "amount": 0}) == 422
    assert status(**{**good, "amount": -3}) == 422
    assert status(start=good["start"], amount=4) == 422
    assert client.get(DEADLINE, query_string=good).status_code == 401


def test_set_day_command(app, session):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["workcalendar", "set-day", "2026-10-12", "--holiday", "--note", "台风停工"]
    )
    assert result.exit_code == 0, result.output
    assert "2026-10-12 is a day off" in result.output
    calendar = services.get_calendar(session)
    assert calendar.day_status(dt.date(2026, 10, 12)) == (False, "override")
    assert runner.invoke(args=["workcalendar", "set-day", "2026-10-12"]).exit_code != 0
    assert runner.invoke(args=["workcalendar", "remove-day", "2026-10-12"]).exit_code == 0
    assert runner.invoke(args=["workcalendar", "remove-day", "2026-10-12"]).exit_code != 0


def test_a_session_holding_reference_data_reads_the_calendar_once_and_sees_its_own_changes(
    session,
):
    """A push's session holds the calendar it read (``hold_reference_data``): read once,
    however many moves need it; a change made through the calendar's own services in that
    session is seen at once. A session not holding reads it every time."""
    from sqlalchemy import event

    from app.core.db import hold_reference_data
    from app.workcalendar.models import CalendarDay

    day = dt.date(2027, 3, 1)  # a Monday
    reads: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "calendar_days" in statement and statement.lstrip().upper().startswith("SELECT"):
            reads.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        services.get_calendar(session), services.get_calendar(session)
        assert len(reads) == 2  # not holding: read each time
        hold_reference_data(session)
        first = services.get_calendar(session)
        assert services.get_calendar(session) is first and len(reads) == 3
        assert first.is_workday(day)
        services.set_day_override(session, day, False, "调休")
        assert not services.get_calendar(session).is_workday(day)
        services.remove_day_override(session, day)
        assert services.get_calendar(session).is_workday(day)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        session.info.clear()
        session.rollback()
        session.query(CalendarDay).filter(CalendarDay.day == day).delete()
        session.commit()
