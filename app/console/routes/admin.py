"""系统管理: the admin's users (create, change, deactivate, reset a password, give an
inspector responsibility grids) and the devices users signed in from (revoke one). The
same services and role as the API's /admin/users and /admin/devices."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for

from app.accounts import services as accounts
from app.accounts.models import ROLE_VALUES, Role, User
from app.console import admin
from app.console.schemas import (
    DeviceQuerySchema,
    PasswordSchema,
    ResponsibilityGridsSchema,
    UserCreateSchema,
    UserQuerySchema,
    UserUpdateSchema,
    load_form,
)
from app.console.web import blp, flash_error, page, render, safe_next, signed_in_user
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.extensions import db
from app.grids import responsibility

ADMINS = (Role.ADMIN,)
PAGE_SIZE = 30


def _form_errors(errors: dict) -> dict[str, str]:
    """A form schema's errors, one message per field."""
    return {field: "；".join(messages) for field, messages in errors.items()}


def _users_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    query, query_errors = load_form(UserQuerySchema(), request.args)
    if query_errors:
        flash("筛选条件有误，已忽略。", "error")
        query, _ = load_form(UserQuerySchema(), {})
    filters = {key: query[key] for key in ("q", "role", "org_unit_id") if key in query}
    shown = admin.paged(db.session, accounts.users_query(**filters), query["page"], PAGE_SIZE)
    body = render(
        "admin_users.html",
        shown=shown,
        rows=admin.user_rows(db.session, shown.rows),
        query=query,
        roles=ROLE_VALUES,
        choices=admin.user_choices(db.session),
        form=form or {},
        errors=errors or {},
        grids=admin.responsibility_grid_choices(db.session),
    )
    return body, status


@blp.route("/admin/users")
@page(*ADMINS)
def admin_users():
    """Users, searched by name and filtered by role and unit, and the form to add one."""
    return _users_page()


@blp.route("/admin/users", methods=["POST"])
@page(*ADMINS)
def admin_user_create():
    """Add a user (``accounts.services.create_user``); a refusal is shown on the form."""
    form, errors = load_form(UserCreateSchema())
    if not errors:
        grid_ids = set(form.pop("grid_ids"))
        try:
            user = accounts.create_user(db.session, **form)
        except DomainError as error:
            errors = admin.user_errors(error, form.get("role"))
        else:
            flash(f"已创建用户 {user.display_name}（{user.username}）。", "success")
            if grid_ids and user.role == Role.INSPECTOR:
                _give_grids(user, grid_ids)
            return redirect(url_for("console.admin_user", user_id=user.id), code=303)
    else:
        errors = _form_errors(errors)
    shown = request.form.to_dict()
    shown.pop("password", None)
    return _users_page(shown, errors, 422)


def _give_grids(user: User, wanted: set[int]) -> None:
    """The responsibility grids ``wanted`` become the inspector's, and those of theirs not
    wanted are left without one (``grids.responsibility.update_responsibility_grid``)."""
    try:
        for grid in admin.responsibility_grid_choices(db.session):
            if grid.id in wanted and grid.inspector_id != user.id:
                change = {"inspector_id": user.id}
            elif grid.id not in wanted and grid.inspector_id == user.id:
                change = {"inspector_id": None}
            else:
                continue
            responsibility.update_responsibility_grid(db.session, grid.id, change)
    except DomainError as error:
        flash_error(error)
    else:
        flash("责任网格已保存。", "success")


def _user_page(user: User, errors: dict | None = None, status: int = 200):
    body = render(
        "admin_user.html",
        row=admin.user_rows(db.session, [user])[0],
        roles=ROLE_VALUES,
        choices=admin.user_choices(db.session),
        grids=admin.responsibility_grid_choices(db.session),
        errors=errors or {},
    )
    return body, status


@blp.route("/admin/users/<int:user_id>")
@page(*ADMINS)
def admin_user(user_id: int):
    """One user: change them, deactivate them, reset their password, give grids."""
    return _user_page(accounts.get_user(db.session, user_id))


@blp.route("/admin/users/<int:user_id>", methods=["POST"])
@page(*ADMINS)
def admin_user_update(user_id: int):
    """Change a user (``accounts.services.update_user``); deactivating revokes their devices."""
    user = accounts.get_user(db.session, user_id)
    form, errors = load_form(UserUpdateSchema())
    if errors:
        return _user_page(user, _form_errors(errors), 422)
    # Blank fields clear what they are about: a unit, road, duty or phone no longer held.
    changes = {key: form.get(key) for key in ("org_unit_id", "road_id", "duty", "phone")}
    changes.update(role=form["role"], is_active=form["is_active"])
    if "display_name" in form:
        changes["display_name"] = form["display_name"]
    if user.id == signed_in_user().id and not form["is_active"]:
        return _user_page(user, {"is_active": "不能停用自己的账号"}, 422)
    try:
        accounts.update_user(db.session, user_id, changes)
    except DomainError as error:
        db.session.expire_all()
        return _user_page(user, admin.user_errors(error, form["role"]), 422)
    flash("用户信息已保存。", "success")
    return redirect(url_for("console.admin_user", user_id=user_id), code=303)


@blp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@page(*ADMINS)
def admin_user_password(user_id: int):
    """Set a new password; every device of the user is signed out."""
    user = accounts.get_user(db.session, user_id)
    form, errors = load_form(PasswordSchema())
    if errors:
        return _user_page(user, {"password": "请输入新密码"}, 422)
    try:
        accounts.update_user(db.session, user_id, {"password": form["password"]})
    except DomainError as error:
        return _user_page(user, admin.user_errors(error, user.role), 422)
    flash("密码已重置，该用户的所有设备需重新登录。", "success")
    if user_id == signed_in_user().id:
        return redirect(url_for("console.login"), code=303)
    return redirect(url_for("console.admin_user", user_id=user_id), code=303)


@blp.route("/admin/users/<int:user_id>/grids", methods=["POST"])
@page(*ADMINS)
def admin_user_grids(user_id: int):
    """The responsibility grids an inspector walks: those ticked are theirs, those
    unticked that were theirs are left without an inspector."""
    user = accounts.get_user(db.session, user_id)
    form, errors = load_form(ResponsibilityGridsSchema())
    if errors:
        return _user_page(user, {"grid_ids": "所选责任网格有误"}, 422)
    _give_grids(user, set(form["grid_ids"]))
    return redirect(url_for("console.admin_user", user_id=user_id), code=303)


@blp.route("/admin/devices")
@page(*ADMINS)
def admin_devices():
    """The devices users signed in from, with their phone queue's health; revoke one."""
    query, errors = load_form(DeviceQuerySchema(), request.args)
    if errors:
        flash("筛选条件有误，已忽略。", "error")
        query, _ = load_form(DeviceQuerySchema(), {})
    stmt = admin.devices_stmt(query.get("q"), query.get("active"))
    shown = admin.paged(db.session, stmt, query["page"], PAGE_SIZE)
    return render(
        "admin_devices.html",
        shown=shown,
        rows=admin.device_rows(db.session, shown.rows, utcnow()),
        query=query,
        current=g.current_device.id,
    )


@blp.route("/admin/devices/<int:device_pk>/revoke", methods=["POST"])
@page(*ADMINS)
def admin_device_revoke(device_pk: int):
    """Revoke one device's token (``accounts.services.revoke_device``): a lost phone."""
    try:
        device = accounts.revoke_device(db.session, device_pk)
    except DomainError as error:
        flash_error(error)
    else:
        flash(f"已注销设备 {device.name}，该设备需重新登录。", "success")
    return redirect(safe_next(request.form.get("next") or url_for("console.admin_devices")), 303)
