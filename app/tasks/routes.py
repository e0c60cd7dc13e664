"""Tasks: what lands on a phone (verify, check, handle, rectify) and a dispatcher's changes."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from app.accounts.models import Role
from app.cases.services import CasePolicy
from app.core.auth import current_device, current_user, require_login, require_roles
from app.core.clock import utcnow
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.core.schemas import Schema
from app.extensions import db
from app.photos.backends import media
from app.tasks import services
from app.tasks.schemas import TaskCompleteSchema, TaskQuerySchema, TaskReassignSchema, TaskSchema

blp = Blueprint(
    "tasks",
    __name__,
    url_prefix="/api/v1",
    description="Tasks: verify (核实), check (核查), handle (处置), rectify (整改)",
)

WORKERS = (Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.HANDLER, Role.MERCHANT)


def _update(task_id, action: str, **fields):
    task = services.update_task(
        db.session,
        media(),
        current_user(),
        current_device().device_id,
        task_id,
        action,
        policy=CasePolicy.from_config(current_app.config),
        **fields,
    )
    return services.task_view(db.session, task)


@blp.route("/tasks")
class TasksView(MethodView):
    @require_login
    @blp.arguments(TaskQuerySchema, location="query")
    @blp.response(200, TaskSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """The caller's tasks (a handler: their department's), newest first."""
        now = utcnow()
        page = paginate_select(
            db.session, services.tasks_query(current_user(), **query), pagination_parameters
        )
        return services.task_views(db.session, page, now)


@blp.route("/tasks/<uuid:task_id>")
class TaskView(MethodView):
    @require_login
    @blp.response(200, TaskSchema)
    def get(self, task_id):
        """One task with its case in brief and its traffic light."""
        return services.task_view(
            db.session, services.get_task(db.session, current_user(), task_id)
        )


@blp.route("/tasks/<uuid:task_id>/accept")
class TaskAcceptView(MethodView):
    @require_roles(*WORKERS)
    @blp.arguments(Schema)
    @blp.response(200, TaskSchema)
    def post(self, _body, task_id):
        """Take the task (a handle task: the handler accepts the case, 接收)."""
        return _update(task_id, "accept")


@blp.route("/tasks/<uuid:task_id>/complete")
class TaskCompleteView(MethodView):
    @require_roles(*WORKERS)
    @blp.arguments(TaskCompleteSchema)
    @blp.response(200, TaskSchema)
    def post(self, body, task_id):
        """Finish the task: closure (handle), pass or fail (check), the finding (verify)."""
        return _update(task_id, "complete", **body)


@blp.route("/tasks/<uuid:task_id>/reassign")
class TaskReassignView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(TaskReassignSchema)
    @blp.response(200, TaskSchema, description="The new task")
    def post(self, body, task_id):
        """Give the task to someone else; the old one is marked reassigned."""
        task = services.reassign_task(
            db.session, current_user(), current_device().device_id, task_id, body["assignee_id"]
        )
        return services.task_view(db.session, task)


@blp.route("/tasks/<uuid:task_id>/cancel")
class TaskCancelView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(Schema)
    @blp.response(200, TaskSchema)
    def post(self, _body, task_id):
        """Withdraw an open task."""
        task = services.cancel_task(db.session, current_user(), current_device().device_id, task_id)
        return services.task_view(db.session, task)
