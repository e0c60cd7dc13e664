"""How a ledger row reads in print: time used in the limit's unit, missing facts, names."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from app.ledger import render
from app.ledger.queries import Scope
from app.workcalendar.periods import period_of_days


def test_time_used_is_shown_in_the_limits_unit():
    assert render.time_used(12600, "working_hours", 28800) == "3.5 工作时"
    assert render.time_used(57600, "working_days", 28800) == "2.0 工作日"
    assert render.time_used(129600, "calendar_days", 28800) == "1.5 自然日"
    assert render.time_used(21600, "urgent_hours", 28800) == "6.0 小时"
    assert render.time_used(None, "working_hours", 28800) == "—"


def test_on_time_and_local_time():
    assert [render.on_time(v) for v in (True, False, None)] == ["是", "否", "—"]
    zone = render.ZoneInfo("Asia/Shanghai")
    moment = dt.datetime(2026, 10, 31, 15, 30, tzinfo=dt.UTC)
    assert render.local_time(moment, zone) == "2026-10-31 23:30"


def test_file_names_are_ascii_with_a_utf8_twin():
    scope = Scope("street", 3, "350203001", "中华街道", 3)
    heading = render.Heading(
        scope, period_of_days(dt.date(2026, 11, 1), dt.date(2026, 11, 30), "Asia/Shanghai")
    )
    ascii_name, name = render.filenames(heading, "xlsx")
    assert ascii_name == "ledger-street-350203001-2026-11.xlsx"
    assert name == "两图一表-中华街道-2026-11.xlsx"
    header = render.content_disposition(ascii_name, name)
    assert header.startswith('attachment; filename="ledger-street-350203001-2026-11.xlsx"; ')
    assert unquote(header.split("filename*=UTF-8''")[1]) == name
    assert heading.title == "两图一表  街道：中华街道  2026-11-01 至 2026-11-30"
