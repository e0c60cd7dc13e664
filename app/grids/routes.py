"""HTTP routes of grids."""

from flask_smorest import Blueprint

blp = Blueprint("grids", __name__, url_prefix="/api/v1")
