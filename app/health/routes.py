"""``/healthz``: 200 with the database's state, 503 when the database is unreachable."""

from __future__ import annotations

import sqlalchemy as sa
from flask.views import MethodView

from app.core.inbound import Blueprint
from app.extensions import db
from app.health.schemas import HealthSchema

blp = Blueprint("health", __name__, description="Service health")


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[], **{"x-roles": ["public"]})
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database is unreachable")
    def get(self):
        """Report whether the service and its database answer."""
        try:
            with db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            return {"status": "ok", "database": {"backend": db.engine.dialect.name, "ok": True}}
        except sa.exc.SQLAlchemyError as error:
            body = {
                "status": "degraded",
                "database": {
                    "backend": db.engine.dialect.name,
                    "ok": False,
                    "error": type(error).__name__,
                },
            }
            return body, 503
