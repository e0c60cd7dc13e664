"""The work calendar: read by every signed-in user, set by an admin; deadlines on it."""

import datetime as dt

from flask.views import MethodView

from app.accounts.models import Role
from app.core.auth import require_login, require_roles
from app.core.errors import ValidationFailed
from app.core.inbound import Blueprint
from app.extensions import db
from app.workcalendar import services
from app.workcalendar.schemas import (
    CalendarQuerySchema,
    CalendarSchema,
    CalendarSettingsSchema,
    DayOverrideSchema,
    DeadlineQuerySchema,
    DeadlineSchema,
)

blp = Blueprint(
    "workcalendar",
    __name__,
    url_prefix="/api/v1",
    description="Work calendar: work periods, holidays, swapped working days, deadlines",
)


def _path_date(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ValidationFailed(
            f"{value!r} is not a date", {"date": ["expected YYYY-MM-DD"]}
        ) from None


@blp.route("/calendar")
class CalendarView(MethodView):
    @require_login
    @blp.arguments(CalendarQuerySchema, location="query")
    @blp.response(200, CalendarSchema)
    def get(self, query):
        """Work periods, time zone, and each day of a range: workday or not, and why."""
        return services.calendar_range(db.session, query.get("from_"), query.get("to"))


@blp.route("/calendar/deadline")
class DeadlineView(MethodView):
    @require_login
    @blp.arguments(DeadlineQuerySchema, location="query")
    @blp.response(200, DeadlineSchema)
    def get(self, query):
        """The deadline of a time limit starting at a given moment, on the city's calendar."""
        return services.compute_deadline(db.session, **query)


@blp.route("/admin/calendar")
class AdminCalendarView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(CalendarSettingsSchema)
    @blp.response(200, CalendarSettingsSchema)
    def put(self, body):
        """Set the city's time zone and daily work periods."""
        return services.update_calendar_settings(db.session, **body)


@blp.route("/admin/calendar/days/<day>")
class AdminCalendarDayView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(DayOverrideSchema)
    @blp.response(200, DayOverrideSchema)
    def put(self, body, day):
        """Make a day (YYYY-MM-DD) a workday or a day off for the city."""
        return services.set_day_override(db.session, _path_date(day), **body)

    @require_roles(Role.ADMIN)
    @blp.response(204)
    @blp.alt_response(422, description="The day is not a date (YYYY-MM-DD)")
    def delete(self, day):
        """Drop the city's override of a day; the national calendar applies again."""
        services.remove_day_override(db.session, _path_date(day))
