"""HTTP routes of merchants."""

from flask_smorest import Blueprint

blp = Blueprint("merchants", __name__, url_prefix="/api/v1")
