"""HTTP routes of workcalendar."""

from flask_smorest import Blueprint

blp = Blueprint("workcalendar", __name__, url_prefix="/api/v1")
