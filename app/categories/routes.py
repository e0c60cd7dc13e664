"""HTTP routes of categories."""

from flask_smorest import Blueprint

blp = Blueprint("categories", __name__, url_prefix="/api/v1")
