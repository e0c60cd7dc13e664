"""Sync in front of people: the conflict queue and one conflict's two sides with the
dispatcher's decision (``app.sync_api.resolution.resolve_conflict``), rejected mutations
marked reviewed (``app.sync_api.rejects.review_rejected``) and each phone queue's health
(``app.sync_api.devices``). Roles as the API's routes: dispatchers and admins read
conflicts and rejects, only a dispatcher decides; phone queues are the admin's."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, flash, redirect, request, url_for

from app.accounts.models import Role
from app.cases.services import CasePolicy
from app.console import syncpages
from app.console import web as console_web
from app.console.schemas import FormSchema, load_form
from app.console.web import blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.extensions import db
from app.photos.backends import media
from app.sync_api import rejects
from app.sync_api.resolution import DECISIONS, SIDES, Resolution, resolve_conflict

READERS = (Role.DISPATCHER, Role.ADMIN)
DECIDERS = (Role.DISPATCHER,)
PHONE_KEEPERS = (Role.ADMIN,)
PICK_PREFIX = "pick_"


class ConflictListSchema(FormSchema):
    status = ma.fields.String(
        load_default="open", validate=ma.validate.OneOf(("open", "resolved", "all"))
    )
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class RejectedListSchema(FormSchema):
    reviewed = ma.fields.String(load_default="no", validate=ma.validate.OneOf(("no", "yes", "all")))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class DeviceListSchema(FormSchema):
    hours = ma.fields.Integer(validate=ma.validate.Range(1, 24 * 365))
    show = ma.fields.String(load_default="all", validate=ma.validate.OneOf(("all", "quiet")))
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(1, 100_000))


class ResolveFormSchema(FormSchema):
    decision = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(DECISIONS),
        error_messages={"required": "请选择处理方式"},
    )
    opinion = ma.fields.String(validate=ma.validate.Length(max=4000))


class ReviewFormSchema(FormSchema):
    note = ma.fields.String(validate=ma.validate.Length(max=4000))


def _query(schema: ma.Schema) -> dict:
    """The page's query string; a bad one is said and the defaults shown."""
    query, errors = load_form(schema, request.args)
    if errors:
        flash("筛选条件有误，已忽略：" + "；".join(sorted(errors)), "error")
        query, _ = load_form(schema, {})
    return query


# -- conflicts -------------------------------------------------------------------------------


@blp.route("/sync/conflicts")
@page(*READERS)
def sync_conflicts():
    """The conflict queue: open (or resolved) conflicts, newest first."""
    query = _query(ConflictListSchema())
    status = None if query["status"] == "all" else query["status"]
    shown = syncpages.conflict_page(db.session, status, query["page"])
    return render("sync_conflicts.html", shown=shown, query=query, tab="conflicts")


@blp.route("/sync/conflicts/<conflict_id>")
@page(*READERS)
def sync_conflict(conflict_id: str):
    """One conflict: the phone's side and the server's side by side, the field evidence,
    and (for a dispatcher, while it is open) the decision forms."""
    view = syncpages.conflict_detail(db.session, conflict_id)
    return render(
        "sync_conflict.html",
        conflict=view,
        may_decide=signed_in_user().role in DECIDERS and view["status"] == "open",
        decision_names=syncpages.DECISION_NAMES,
        tab="conflicts",
    )


def _picks() -> tuple[dict[str, str] | None, list[str]]:
    """The merge form's side per clashing field (``pick_<field>``: field or server)."""
    picks, bad = {}, []
    for key in request.form:
        if key.startswith(PICK_PREFIX):
            value = request.form.get(key, "")
            name = key.removeprefix(PICK_PREFIX)
            if value not in SIDES:
                bad.append(syncpages.FIELD_NAMES.get(name, name))
            picks[name] = value
    return picks or None, bad


@blp.route("/sync/conflicts/<conflict_id>/resolve", methods=["POST"])
@page(*DECIDERS)
def sync_conflict_resolve(conflict_id: str):
    """Decide a conflict: accept the field's action, keep the server's, or merge fields."""
    back = redirect(url_for("console.sync_conflict", conflict_id=conflict_id), code=303)
    form, errors = load_form(ResolveFormSchema())
    picks, bad = _picks()
    if errors or bad:
        problems = ["请选择处理方式"] if "decision" in errors else []
        problems += ["备注过长"] if "opinion" in errors else []
        problems += [f"{name}：请选择现场值或服务器值" for name in bad]
        flash("表单填写有误：" + "；".join(problems), "error")
        return back
    decision = form["decision"]
    try:
        resolve_conflict(
            db.session,
            media(),
            signed_in_user(),
            console_web.device_id(),
            conflict_id,
            Resolution(decision, picks if decision == "merge" else None, form.get("opinion")),
            policy=CasePolicy.from_config(current_app.config),
        )
    except DomainError as error:
        db.session.rollback()
        flash(syncpages.refusal_message(error), "error")
        return back
    flash(f"冲突已处理：{syncpages.DECISION_NAMES[decision]}", "success")
    return back


# -- rejected mutations --------------------------------------------------------------------


@blp.route("/sync/rejected")
@page(*READERS)
def sync_rejected():
    """Rejected mutations with payload and reason; those not yet reviewed first of all."""
    query = _query(RejectedListSchema())
    reviewed = {"no": False, "yes": True, "all": None}[query["reviewed"]]
    shown = syncpages.rejected_page(db.session, reviewed, query["page"])
    return render(
        "sync_rejected.html",
        shown=shown,
        query=query,
        may_review=signed_in_user().role in DECIDERS,
        tab="rejected",
    )


@blp.route("/sync/rejected/<int:mutation_id>/review", methods=["POST"])
@page(*DECIDERS)
def sync_rejected_review(mutation_id: int):
    """Mark a rejected mutation as looked at, with a note of what was done about it."""
    back = redirect(console_web.safe_next(_referrer_path()), code=303)
    form, errors = load_form(ReviewFormSchema())
    if errors:
        flash("表单填写有误：备注最多 4000 字", "error")
        return back
    try:
        rejects.review_rejected(db.session, signed_in_user(), mutation_id, form.get("note"))
    except DomainError as error:
        db.session.rollback()
        flash(syncpages.refusal_message(error), "error")
        return back
    flash(f"已标记为已复核（记录 {mutation_id}）", "success")
    return back


def _referrer_path() -> str:
    """Back to the list the form was on (its filters and page), else the rejects."""
    referrer = request.referrer or ""
    root = request.host_url.rstrip("/")
    if referrer.startswith(root + "/console/sync/rejected"):
        return referrer[len(root) :]
    return url_for("console.sync_rejected")


# -- phone queues' health ----------------------------------------------------------------


def _hours(query: dict) -> int:
    return query.get("hours") or current_app.config["CONSOLE_QUIET_HOURS"]


@blp.route("/sync/devices")
@page(*PHONE_KEEPERS)
def sync_devices():
    """Each user's queue on each phone: quiet for N hours, pending photos, open conflicts,
    rejects, last push and pull."""
    query = _query(DeviceListSchema())
    hours = _hours(query)
    shown, quiet = syncpages.device_page(
        db.session, hours, query["show"] == "quiet", query["page"], utcnow()
    )
    return render(
        "sync_devices.html", shown=shown, query=query, hours=hours, quiet=quiet, tab="devices"
    )


@blp.route("/sync/devices/<int:device_pk>")
@page(*PHONE_KEEPERS)
def sync_device(device_pk: int):
    """One phone queue: its health, recent mutations, undecided failures, open conflicts."""
    hours = _hours(_query(DeviceListSchema()))
    view = syncpages.device_view(db.session, device_pk, hours, utcnow())
    return render(
        "sync_device.html",
        device=view,
        hours=hours,
        status_names=syncpages.MUTATION_STATUS_NAMES,
        tab="devices",
    )
