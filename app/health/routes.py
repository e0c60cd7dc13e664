"""``/healthz``: 200 with the database's state, 503 when the database is unreachable.
``/readyz``: 200 when the database, the job queue and the blob store all answer, else 503
naming the ones that do not (a load balancer takes the server out of rotation)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from flask.views import MethodView

from app.core.inbound import Blueprint
from app.extensions import db
from app.health import readiness
from app.health.schemas import HealthSchema, ReadySchema
from app.photos.backends import media

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


@blp.route("/readyz")
class Ready(MethodView):
    @blp.doc(security=[], **{"x-roles": ["public"]})
    @blp.response(200, ReadySchema)
    @blp.alt_response(503, schema=ReadySchema, description="A dependency does not answer")
    def get(self):
        """Report whether this server may take traffic: database, job queue, blob store."""
        timeout = current_app.config["READY_TIMEOUT_SECONDS"]
        tools = media()
        checks = {
            "database": readiness.database(db.engine),
            "queue": readiness.job_queue(tools.queue),
            "store": readiness.blob_store(tools.store),
        }
        results = readiness.run_all(checks, timeout)
        failing = sorted(name for name, result in results.items() if not result.ok)
        body = {
            "status": "ready" if not failing else "unready",
            "failing": failing,
            "checks": {name: result.as_json() for name, result in results.items()},
        }
        return (body, 503) if failing else body
