"""API shapes of the work calendar."""

import datetime as dt

import marshmallow as ma

from app.core.schemas import Schema
from app.workcalendar.services import MAX_RANGE_DAYS
from app.workcalendar.worktime import LIMIT_TYPES

# The moments a deadline is computed for: before 1901 the city's zone has no whole-minute
# offset (local mean time), which no RFC 3339 time can carry, and past 2100 lie overflows.
CALENDAR_FROM = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CALENDAR_TO = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)

_hh_mm = ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="HH:MM, 00:00–23:59")


class PeriodSchema(Schema):
    start = ma.fields.String(required=True, validate=_hh_mm)
    end = ma.fields.String(required=True, validate=_hh_mm)


class DaySchema(Schema):
    date = ma.fields.Date(dump_only=True)
    is_workday = ma.fields.Boolean(dump_only=True)
    source = ma.fields.String(
        dump_only=True, metadata={"description": "override, national or weekday"}
    )
    note = ma.fields.String(dump_only=True, allow_none=True)


class CalendarSettingsSchema(Schema):
    timezone = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    periods = ma.fields.List(
        ma.fields.Nested(PeriodSchema), required=True, validate=ma.validate.Length(1, 6)
    )
    workday_hours = ma.fields.Float(dump_only=True)


class CalendarSchema(CalendarSettingsSchema):
    days = ma.fields.List(ma.fields.Nested(DaySchema), dump_only=True)


class CalendarQuerySchema(Schema):
    from_ = ma.fields.Date(data_key="from", metadata={"description": "default: today"})
    to = ma.fields.Date(
        metadata={"description": f"default: a month on; at most {MAX_RANGE_DAYS} days"}
    )


class DayOverrideSchema(Schema):
    date = ma.fields.Date(dump_only=True, attribute="day")
    is_workday = ma.fields.Boolean(required=True)
    note = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=200))


class DeadlineQuerySchema(Schema):
    start = ma.fields.AwareDateTime(
        required=True,
        validate=ma.validate.Range(CALENDAR_FROM, CALENDAR_TO, max_inclusive=False),
        metadata={
            "description": "ISO 8601 with an offset, e.g. …T09:00:00+08:00 (send + as %2B); "
            f"from {CALENDAR_FROM.year} to {CALENDAR_TO.year - 1}"
        },
    )
    amount = ma.fields.Float(
        required=True, validate=ma.validate.Range(min=0, min_inclusive=False, max=1000)
    )
    limit_type = ma.fields.String(required=True, validate=ma.validate.OneOf(LIMIT_TYPES))


class DeadlineSchema(Schema):
    start = ma.fields.AwareDateTime()
    amount = ma.fields.Float()
    limit_type = ma.fields.String()
    deadline = ma.fields.AwareDateTime(metadata={"description": "UTC"})
    deadline_local = ma.fields.AwareDateTime(metadata={"description": "in the city's time zone"})
    timezone = ma.fields.String()
