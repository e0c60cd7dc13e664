"""Sign in, sign out, and the home page that sends each role where it works."""

from __future__ import annotations

from flask import redirect, request, url_for

from app.accounts.models import Role
from app.console import web
from app.console.schemas import SignInSchema, load_form
from app.console.web import blp, page, render

HOMES = {
    Role.DISPATCHER: "console.queues",
    Role.ADMIN: "console.admin_users",
    Role.STREET_CHIEF: "console.board",
    Role.ROAD_CHIEF: "console.board",
}


@blp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form (GET) and the sign-in (POST, the API's login and throttle)."""
    target = web.safe_next(request.values.get("next"))
    if request.method == "GET":
        if web.signed_in_user() is not None:
            return redirect(target)
        return render("login.html", next=target, error=None)
    form, errors = load_form(SignInSchema())
    if errors:
        return render("login.html", next=target, error="请输入用户名和密码。"), 422
    error = web.sign_in(form["username"], form["password"])
    if error:
        status = 429 if "过多" in error else 401
        return render("login.html", next=target, error=error, username=form["username"]), status
    return redirect(target, code=303)


@blp.route("/logout", methods=["POST"])
@page()
def logout():
    """Sign out: this browser's token is revoked; the user's phones stay signed in."""
    web.sign_out()
    return redirect(url_for("console.login"), code=303)


@blp.route("/")
@page()
def home():
    """Each role's first page; a role without console pages yet sees what it may do."""
    endpoint = HOMES.get(web.signed_in_user().role)
    if endpoint:
        return redirect(url_for(endpoint))
    return render("home.html")
