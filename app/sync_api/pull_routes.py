"""Offline sync, the other way: phones pull what changed in their scope."""

from __future__ import annotations

from flask import Response, json
from flask.views import MethodView

from app.core.auth import current_device, current_user, require_login
from app.core.inbound import Blueprint
from app.core.replica import replica_session
from app.extensions import db
from app.sync_api import pull
from app.sync_api.pull_schemas import PageSchema, PullArgsSchema

# Named "feed" as when the feed served it: the OpenAPI tag and the endpoint stay the same.
blp = Blueprint("feed", __name__, url_prefix="/api/v1/sync", description="Offline sync")


@blp.route("/pull")
class PullView(MethodView):
    @require_login
    @blp.arguments(PullArgsSchema, location="query", as_kwargs=True)
    @blp.doc(responses={"200": {"content": {"application/json": {"schema": PageSchema}}}})
    @blp.alt_response(422, description="Not a cursor of this server, or a bad limit")
    def get(self, cursor: str, limit: int):
        """The changes in the caller's scope after ``cursor``: upsert, revoke or delete."""
        page = pull.pull(
            db.session,
            current_user(),
            current_device().device_id,
            cursor,
            limit,
            replica=replica_session(),
        )
        # Encoded once, here: the page is built as plain JSON values (see bench/).
        return Response(json.dumps(page.as_json()), mimetype="application/json")
