"""Cases (案卷): report, read, correct, move through the workflow, ask and decide requests,
merge, comment; and their tasks (verify, check, handle, rectify) as phones work on them."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from app.accounts.models import Role
from app.cases import (
    comments,
    edits,
    intake,
    merge,
    moves,
    queries,
    reading,
    requests,
    routing,
    services,
    tasks,
)
from app.cases.duplicates import duplicates_of
from app.cases.reports import NewReport
from app.cases.requests import NewRequest
from app.cases.schemas import (
    ActionSchema,
    AttachedSchema,
    CaseCreateSchema,
    CaseDetailSchema,
    CaseEditSchema,
    CaseQuerySchema,
    CaseSchema,
    CommentCreateSchema,
    CommentSchema,
    DecisionSchema,
    DuplicateSchema,
    MergeSchema,
    PhotosAttachSchema,
    RequestCreateSchema,
    RequestQuerySchema,
    RequestSchema,
    RoutingSchema,
    TaskCompleteSchema,
    TaskNoteSchema,
    TaskQuerySchema,
    TaskReassignSchema,
    TaskSchema,
)
from app.cases.task_progress import TaskUpdate, update_task
from app.core.auth import current_device, current_user, require_login, require_roles
from app.core.clock import utcnow
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.core.replica import reader
from app.core.schemas import Schema
from app.extensions import db
from app.photos.backends import media

blp = Blueprint(
    "cases",
    __name__,
    url_prefix="/api/v1",
    description="Cases (案卷): intake, filing, dispatch, handling, check and close",
)

tasks_blp = Blueprint(
    "tasks",
    __name__,
    url_prefix="/api/v1",
    description="Tasks: verify (核实), check (核查), handle (处置), rectify (整改)",
)
blueprints = (blp, tasks_blp)

REPORTERS = (Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.MERCHANT, Role.DISPATCHER)
MOVERS = (Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.DISPATCHER, Role.HANDLER)
REQUESTERS = (*MOVERS, Role.MERCHANT)  # a merchant may say "not my frontage"
WORKERS = (Role.INSPECTOR, Role.STREET_CHIEF, Role.ROAD_CHIEF, Role.HANDLER, Role.MERCHANT)


def _policy() -> services.CasePolicy:
    return services.CasePolicy.from_config(current_app.config)


def _device_id() -> str:
    return current_device().device_id


@blp.route("/cases")
class CasesView(MethodView):
    @require_roles(*REPORTERS)
    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseDetailSchema, description="Reported")
    @blp.alt_response(200, schema=CaseDetailSchema, description="The same report again")
    @blp.alt_response(409, description="The case id exists with other content")
    def post(self, body):
        """Report a case (上报); routed by its location, never rejected for it."""
        user = current_user()
        report = NewReport(
            case_id=body["id"],
            category=body["category_id"] if "category_id" in body else body["category"],
            description=body["description"],
            address=body["address"],
            location=body["location"],
            urgency=body["urgency"],
            photos=body["photos"],
            client_ts=body.get("client_ts"),
            origin=body.get("origin"),
        )
        reported = intake.report_case(
            db.session,
            media(),
            user,
            _device_id(),
            report,
            source=body.get("source"),
            policy=_policy(),
        )
        detail = reading.case_detail(db.session, user, reported.case.id)
        return detail, 201 if reported.created else 200

    @require_login
    @blp.arguments(CaseQuerySchema, location="query")
    @blp.response(200, CaseSchema(many=True))
    @blp.alt_response(422, description="Too many cases to light for a green/yellow filter")
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List the cases the caller may see, filtered as a command centre needs (from the
        read replica when one is configured: ``app.core.replica``)."""
        now = utcnow()
        source = reader(db.session, current_user().id)
        stmt = queries.cases_query(current_user(), queries.CaseFilters(**query), now)
        stmt = reading.refine_light(source, stmt, query.get("traffic_light"), now)
        page = paginate_select(source, stmt, pagination_parameters)
        return reading.summaries(source, page, now)


@blp.route("/cases/<uuid:case_id>")
class CaseView(MethodView):
    @require_login
    @blp.response(200, CaseDetailSchema)
    def get(self, case_id):
        """One case: photos by kind, flow log, open tasks, pending requests, duplicates."""
        return reading.case_detail(db.session, current_user(), case_id)

    @require_roles(Role.DISPATCHER)
    @blp.arguments(CaseEditSchema)
    @blp.response(200, CaseDetailSchema)
    @blp.alt_response(
        409,
        description="Changed since version (concurrent_change), merged "
        "into another case (edit_after_delete) or closed (wrong_state)",
    )
    @blp.alt_response(422, description="A bad value (an ambiguous code: ambiguous_category)")
    def patch(self, body, case_id):
        """Correct description, address, location (re-routed) or category of an open case."""
        user = current_user()
        edits.edit_case(
            db.session,
            user,
            _device_id(),
            case_id,
            version=body["version"],
            fields=body["fields"],
            policy=_policy(),
            category_hint={
                "kind": body.get("category_kind"),
                "edition": body.get("category_edition"),
            },
        )
        return reading.case_detail(db.session, user, case_id)


@blp.route("/cases/<uuid:case_id>/comments")
class CaseCommentsView(MethodView):
    @require_login
    @blp.response(200, CommentSchema(many=True))
    @blp.paginate()
    def get(self, case_id, pagination_parameters):
        """The comments on a case the caller may see, oldest first."""
        stmt = comments.case_comments(db.session, current_user(), case_id)
        return paginate_select(db.session, stmt, pagination_parameters)

    @require_login
    @blp.arguments(CommentCreateSchema)
    @blp.response(201, CommentSchema, description="Added")
    @blp.alt_response(200, schema=CommentSchema, description="The same comment again")
    @blp.alt_response(409, description="The comment id exists with other content")
    def post(self, body, case_id):
        """Add a comment to a case the caller may see (append-only, by the phone's UUID)."""
        added = comments.add_comment(
            db.session,
            current_user(),
            _device_id(),
            case_id,
            comment_id=body.get("id"),
            text=body["text"],
            client_ts=body.get("client_ts"),
        )
        return added.comment, 201 if added.created else 200


@blp.route("/cases/<uuid:case_id>/actions")
class CaseActionView(MethodView):
    @require_roles(*MOVERS)
    @blp.arguments(ActionSchema)
    @blp.response(200, CaseDetailSchema)
    @blp.alt_response(403, description="The role may not make this move (reason wrong_role)")
    @blp.alt_response(409, description="Not possible from this state, or a concurrent move won")
    @blp.alt_response(422, description="Evidence missing (reason missing_<evidence>)")
    def post(self, body, case_id):
        """Make a workflow move; it is written to the flow log with the caller's device."""
        user = current_user()
        action = body.pop("action")
        moves.move_case(
            db.session, media(), user, _device_id(), case_id, action, body, policy=_policy()
        )
        return reading.case_detail(db.session, user, case_id)


@blp.route("/cases/<uuid:case_id>/photos")
class CasePhotosView(MethodView):
    @require_roles(*REPORTERS, Role.HANDLER)
    @blp.arguments(PhotosAttachSchema)
    @blp.response(200, AttachedSchema)
    def post(self, body, case_id):
        """Attach photos (each with its kind) to a case the caller may see."""
        added = services.attach_photos(
            db.session, media(), current_user(), _device_id(), case_id, body["photos"]
        )
        return {"added": added}


@blp.route("/cases/<uuid:case_id>/routing")
class CaseRoutingView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(RoutingSchema)
    @blp.response(200, CaseDetailSchema)
    def post(self, body, case_id):
        """Confirm or correct a case's unit grid (boundary reports and routing gaps)."""
        user = current_user()
        routing.confirm_routing(db.session, user, _device_id(), case_id, body["grid_code"])
        return reading.case_detail(db.session, user, case_id)


@blp.route("/cases/<uuid:case_id>/duplicates")
class CaseDuplicatesView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.response(200, DuplicateSchema(many=True))
    def get(self, case_id):
        """Open cases of the same category nearby and recent, offered for merging."""
        return duplicates_of(db.session, current_user(), case_id)


@blp.route("/cases/<uuid:case_id>/merge")
class CaseMergeView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(MergeSchema)
    @blp.response(200, CaseDetailSchema)
    def post(self, body, case_id):
        """Merge this case into another; the other keeps every photo and reporter."""
        user = current_user()
        target = merge.merge_case(
            db.session, user, _device_id(), case_id, body["into"], body.get("opinion")
        )
        return reading.case_detail(db.session, user, target.id)


@blp.route("/cases/<uuid:case_id>/requests")
class CaseRequestsView(MethodView):
    @require_roles(*REQUESTERS)
    @blp.arguments(RequestCreateSchema)
    @blp.response(201, RequestSchema)
    @blp.alt_response(
        409, description="A request of the kind is pending, or the case was extended twice"
    )
    @blp.alt_response(422, description="Evidence missing, or an extension over the limit")
    def post(self, body, case_id):
        """Ask for a return, extension, suspension, cancellation or self-handling."""
        return requests.create_request(
            db.session, media(), current_user(), _device_id(), case_id, NewRequest(**body)
        )


@blp.route("/case-requests")
class RequestsView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(RequestQuerySchema, location="query")
    @blp.response(200, RequestSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """Requests awaiting (or past) a dispatcher's decision, oldest first."""
        return paginate_select(db.session, requests.requests_query(**query), pagination_parameters)


@blp.route("/case-requests/<uuid:request_id>/decision")
class RequestDecisionView(MethodView):
    @require_roles(Role.DISPATCHER)
    @blp.arguments(DecisionSchema)
    @blp.response(200, RequestSchema)
    @blp.alt_response(
        409,
        description="Decided already, the case moved on, or a third extension "
        "(too_many_extensions)",
    )
    @blp.alt_response(422, description="Evidence missing, or an extension over the limit")
    def post(self, body, request_id):
        """Approve (the request's move is applied) or refuse a request."""
        return requests.decide_request(
            db.session,
            current_user(),
            _device_id(),
            request_id,
            approve=body["approve"],
            opinion=body.get("opinion"),
            policy=_policy(),
        )


def _update_task(task_id, update: TaskUpdate) -> dict:
    task = update_task(
        db.session,
        media(),
        current_user(),
        _device_id(),
        task_id,
        update,
        policy=_policy(),
    )
    return tasks.task_view(db.session, task)


@tasks_blp.route("/tasks")
class TasksView(MethodView):
    @require_login
    @tasks_blp.arguments(TaskQuerySchema, location="query")
    @tasks_blp.response(200, TaskSchema(many=True))
    @tasks_blp.paginate()
    def get(self, query, pagination_parameters):
        """The caller's tasks (a handler: their department's), newest first."""
        now = utcnow()
        source = reader(db.session, current_user().id)
        page = paginate_select(
            source, tasks.tasks_query(current_user(), **query), pagination_parameters
        )
        return tasks.task_views(source, page, now)


@tasks_blp.route("/tasks/<uuid:task_id>")
class TaskView(MethodView):
    @require_login
    @tasks_blp.response(200, TaskSchema)
    def get(self, task_id):
        """One task with its case in brief and its traffic light."""
        return tasks.task_view(db.session, tasks.get_task(db.session, current_user(), task_id))


@tasks_blp.route("/tasks/<uuid:task_id>/accept")
class TaskAcceptView(MethodView):
    @require_roles(*WORKERS)
    @tasks_blp.arguments(Schema)
    @tasks_blp.response(200, TaskSchema)
    def post(self, _body, task_id):
        """Take the task (a handle task: the handler accepts the case, 接收)."""
        return _update_task(task_id, TaskUpdate("accept"))


@tasks_blp.route("/tasks/<uuid:task_id>/complete")
class TaskCompleteView(MethodView):
    @require_roles(*WORKERS)
    @tasks_blp.arguments(TaskCompleteSchema)
    @tasks_blp.response(200, TaskSchema)
    def post(self, body, task_id):
        """Finish the task: closure (handle), pass or fail (check), the finding (verify)."""
        return _update_task(task_id, TaskUpdate("complete", **body))


@tasks_blp.route("/tasks/<uuid:task_id>/make_safe")
class TaskMakeSafeView(MethodView):
    @require_roles(*WORKERS)
    @tasks_blp.arguments(TaskNoteSchema)
    @tasks_blp.response(200, TaskSchema)
    @tasks_blp.alt_response(409, description="The first stage was already done (stage_done)")
    @tasks_blp.alt_response(422, description="The case has one stage (no_stage)")
    def post(self, body, task_id):
        """A two-stage case's first stage done (到场 / 处置安全 / 停工), before the fix."""
        return _update_task(task_id, TaskUpdate("make_safe", note=body.get("note")))


@tasks_blp.route("/tasks/<uuid:task_id>/reassign")
class TaskReassignView(MethodView):
    @require_roles(Role.DISPATCHER)
    @tasks_blp.arguments(TaskReassignSchema)
    @tasks_blp.response(200, TaskSchema, description="The new task")
    def post(self, body, task_id):
        """Give the task to someone else; the old one is marked reassigned."""
        task = tasks.reassign_task(
            db.session, current_user(), _device_id(), task_id, body["assignee_id"]
        )
        return tasks.task_view(db.session, task)


@tasks_blp.route("/tasks/<uuid:task_id>/cancel")
class TaskCancelView(MethodView):
    @require_roles(Role.DISPATCHER)
    @tasks_blp.arguments(Schema)
    @tasks_blp.response(200, TaskSchema)
    def post(self, _body, task_id):
        """Withdraw an open task."""
        task = tasks.cancel_task(db.session, current_user(), _device_id(), task_id)
        return tasks.task_view(db.session, task)
