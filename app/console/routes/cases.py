"""The case page and the dispatcher's actions on it: each form calls the same service as
the API's route (app.cases moves, requests, merge, routing, tasks; app.pressing), then
comes back to the case page with what happened."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from flask import current_app, flash, jsonify, redirect, request, send_file, url_for

from app.accounts.models import Role
from app.cases import merge, moves, requests, routing, tasks
from app.cases.models import CaseRequest, Task
from app.cases.services import CasePolicy
from app.console import casepage, services
from app.console import web as console_web
from app.console.schemas import (
    DecisionFormSchema,
    MergeFormSchema,
    MoveFormSchema,
    PressFormSchema,
    ReassignFormSchema,
    RoutingFormSchema,
    ThumbnailQuerySchema,
    load_form,
)
from app.console.web import CASE_READERS, DISPATCHERS, blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.core.errors import DomainError, NotFound
from app.extensions import db
from app.hotline import services as hotline_services
from app.photos import services as photos
from app.photos.backends import media
from app.pressing import services as pressing

PRESSERS = (Role.DISPATCHER, Role.STREET_CHIEF, Role.ROAD_CHIEF)
MOVE_NAMES = {
    "send_verify": "派核实",
    "register": "立案",
    "reject": "不予受理",
    "dispatch": "派遣",
    "send_check": "派核查",
    "close": "结案",
    "resume": "恢复处置",
    "approve_cancellation": "作废",
}


@blp.route("/cases/<uuid:case_id>")
@page(*CASE_READERS)
def case_page(case_id: uuid.UUID):
    """One case: facts, photos side by side, the flow log, the map and the actions."""
    user = signed_in_user()
    view = casepage.case_view(db.session, user, case_id, utcnow())
    choices = {}
    if casepage.is_dispatcher(user):
        choices = {
            "departments": services.units_of_kind(db.session, "department"),
            "categories": services.categories(db.session),
            "inspectors": services.people(db.session, Role.INSPECTOR),
        }
        hotline_order = hotline_services.order_of_case(db.session, case_id)
        choices["hotline"] = hotline_order and hotline_services.order_view(
            hotline_order, None, full=True
        )
    return render(
        "case.html",
        case=view,
        choices=choices,
        move_names=MOVE_NAMES,
        tile_url=current_app.config["CONSOLE_TILE_URL"],
    )


@blp.route("/cases/<uuid:case_id>/map")
@page(*CASE_READERS)
def case_map(case_id: uuid.UUID):
    """The case map's layers (GeoJSON)."""
    return jsonify(casepage.case_map(db.session, signed_in_user(), case_id, utcnow()))


@blp.route("/photos/<uuid:photo_id>/thumbnail")
@page()
def photo_thumbnail(photo_id: uuid.UUID):
    """A photo's thumbnail, for whoever may see the photo (the API's rule)."""
    query, errors = load_form(ThumbnailQuerySchema(), request.args)
    if errors or query["size"] not in media().thumbnail_sizes:
        raise NotFound("no such thumbnail size")
    photo = photos.get_photo(db.session, signed_in_user(), photo_id)
    sha = photos.thumbnail_sha(db.session, photo, query["size"])
    response = send_file(
        photos.open_blob(media(), sha), mimetype="image/jpeg", etag=sha, max_age=86400
    )
    response.cache_control.private = True
    return response


def _done(case_id: uuid.UUID, work: Callable[[], object], message: str, follow: bool = False):
    """Run one action; say what happened; back to the case page (303), or with ``follow``
    to the case the action returned (a merge: the case merged into)."""
    try:
        result = work()
    except DomainError as error:
        console_web.flash_error(error)
    else:
        flash(message, "success")
        if follow:
            case_id = result.id
    return redirect(url_for("console.case_page", case_id=case_id), code=303)


def _refused_form(case_id: uuid.UUID, errors: dict):
    flash("表单填写有误：" + "；".join(f"{k}: {v}" for k, v in errors.items()), "error")
    return redirect(url_for("console.case_page", case_id=case_id), code=303)


@blp.route("/cases/<uuid:case_id>/move", methods=["POST"])
@page(*DISPATCHERS)
def case_move(case_id: uuid.UUID):
    """A workflow move (立案, 不予受理, 派遣, 派核查, 结案, 作废 …): app.cases.moves."""
    form, errors = load_form(MoveFormSchema())
    if errors:
        return _refused_form(case_id, errors)
    action = form.pop("action")

    def work():
        return moves.move_case(
            db.session,
            media(),
            signed_in_user(),
            console_web.device_id(),
            case_id,
            action,
            form,
            policy=CasePolicy.from_config(current_app.config),
        )

    return _done(case_id, work, f"已{MOVE_NAMES[action]}")


@blp.route("/cases/<uuid:case_id>/routing", methods=["POST"])
@page(*DISPATCHERS)
def case_routing(case_id: uuid.UUID):
    """Put the case in the grid clicked on the map (app.cases.routing.confirm_routing)."""
    form, errors = load_form(RoutingFormSchema())
    if errors:
        return _refused_form(case_id, errors)
    grid = casepage.grid_by_id(db.session, form["grid_id"])
    if grid is None:
        return _refused_form(case_id, {"grid_id": "没有这个网格"})
    user = signed_in_user()

    def work():
        return routing.confirm_routing(
            db.session, user, console_web.device_id(), case_id, grid.code
        )

    return _done(case_id, work, f"已确认定位到网格 {grid.code}")


@blp.route("/cases/<uuid:case_id>/merge", methods=["POST"])
@page(*DISPATCHERS)
def case_merge(case_id: uuid.UUID):
    """Merge this case into a duplicate (app.cases.merge)."""
    form, errors = load_form(MergeFormSchema())
    if errors:
        return _refused_form(case_id, errors)

    def work():
        return merge.merge_case(
            db.session,
            signed_in_user(),
            console_web.device_id(),
            case_id,
            form["into"],
            form.get("opinion"),
        )

    return _done(case_id, work, "已合并", follow=True)


@blp.route("/cases/<uuid:case_id>/press", methods=["POST"])
@page(*PRESSERS)
def case_press(case_id: uuid.UUID):
    """Press the case (督办, app.pressing)."""
    form, errors = load_form(PressFormSchema())
    if errors:
        return _refused_form(case_id, errors)

    def work():
        return pressing.press_case(db.session, signed_in_user(), case_id, form.get("note"))

    return _done(case_id, work, "已督办")


@blp.route("/requests/<uuid:request_id>/decision", methods=["POST"])
@page(*DISPATCHERS)
def request_decision(request_id: uuid.UUID):
    """Approve or refuse a pending request (app.cases.requests.decide_request)."""
    found = db.session.get(CaseRequest, request_id)
    if found is None:
        raise NotFound("没有这个申请")
    form, errors = load_form(DecisionFormSchema())
    if errors:
        return _refused_form(found.case_id, errors)

    def work():
        return requests.decide_request(
            db.session,
            signed_in_user(),
            console_web.device_id(),
            request_id,
            approve=form["approve"],
            opinion=form.get("opinion"),
            policy=CasePolicy.from_config(current_app.config),
        )

    return _done(found.case_id, work, "已批准申请" if form["approve"] else "已驳回申请")


@blp.route("/tasks/<uuid:task_id>/reassign", methods=["POST"])
@page(*DISPATCHERS)
def task_reassign(task_id: uuid.UUID):
    """Give an open task to the person chosen by name (app.cases.tasks.reassign_task)."""
    found = db.session.get(Task, task_id)
    if found is None:
        raise NotFound("没有这个任务")
    form, errors = load_form(ReassignFormSchema())
    if errors:
        return _refused_form(found.case_id, errors)

    def work():
        return tasks.reassign_task(
            db.session, signed_in_user(), console_web.device_id(), task_id, form["assignee_id"]
        )

    return _done(found.case_id, work, "已改派任务")
