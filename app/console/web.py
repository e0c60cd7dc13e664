"""The console's plumbing: its blueprint, sign-in state, the role check of every page and
action, CSRF on every form, and the assets it serves itself (no CDN: a city intranet has
no internet).

A signed-in browser is one of the user's devices (``accounts``' login, with the API's
throttle): the session cookie holds that device's bearer token, checked on every request
by ``accounts.services.authenticate`` exactly as an API call's, so revoking the device or
deactivating the user signs the browser out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import secrets
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import xstatic.pkg.leaflet as xstatic_leaflet
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from app.accounts import services as accounts
from app.accounts.models import Role
from app.core.errors import DomainError, TooManyRequests, Unauthorized
from app.extensions import db
from app.workcalendar.services import get_calendar

HERE = Path(__file__).resolve().parent
LEAFLET_DIR = Path(xstatic_leaflet.BASE_DIR)
LEAFLET_VERSION = xstatic_leaflet.VERSION
BROWSER_COOKIE = "console_browser"
BROWSER_COOKIE_DAYS = 400
TOKEN_KEY = "console_token"

blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
csrf = CSRFProtect()

# Who works at the console; chiefs and admins get pages of their own (see the nav).
DISPATCHERS = (Role.DISPATCHER,)
CASE_READERS = (Role.DISPATCHER, Role.ADMIN, Role.STREET_CHIEF, Role.ROAD_CHIEF)

ROLE_NAMES = {
    Role.INSPECTOR: "监督员",
    Role.STREET_CHIEF: "街长",
    Role.ROAD_CHIEF: "路长",
    Role.DISPATCHER: "指挥中心",
    Role.HANDLER: "处置人员",
    Role.MERCHANT: "商户",
    Role.ADMIN: "系统管理员",
}


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session; Secure whenever the request came over TLS (or
    ``SESSION_COOKIE_SECURE`` says always). HttpOnly and SameSite=Lax come from config."""

    def get_cookie_secure(self, app: Flask) -> bool:
        over_tls = has_request_context() and request.is_secure
        return bool(super().get_cookie_secure(app) or over_tls)


def init_app(app: Flask) -> None:
    """Cookie settings, CSRF (checked by the console's own before_request only: the API
    takes bearer tokens, not cookies) and the session interface."""
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_NAME"] = "console_session"
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # as long as the session lasts
    app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)


@blp.before_request
def _protect_forms() -> None:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()


@blp.after_request
def _no_caching_of_pages(response):
    if not request.path.startswith("/console/static/") and "/assets/" not in request.path:
        response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; img-src 'self' data: blob: {_tile_origin()}; style-src 'self' "
        "'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    )
    return response


def _tile_origin() -> str:
    url = current_app.config.get("CONSOLE_TILE_URL") or ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# -- signing in and out -----------------------------------------------------------------


def _browser_id() -> str:
    """This browser's lasting id (a phone's device_id): the throttle's "known device"."""
    known = request.cookies.get(BROWSER_COOKIE, "")
    if known.startswith("console:") and len(known) <= 64:
        return known
    g.new_browser_id = f"console:{secrets.token_hex(16)}"
    return g.new_browser_id


@blp.after_request
def _remember_browser(response):
    new = g.pop("new_browser_id", None)
    if new:
        response.set_cookie(
            BROWSER_COOKIE,
            new,
            max_age=BROWSER_COOKIE_DAYS * 86400,
            httponly=True,
            samesite="Lax",
            secure=current_app.session_interface.get_cookie_secure(current_app),
            path="/console/",
        )
    return response


def sign_in(username: str, password: str) -> str | None:
    """Log the user in as the API does (same accounts, same throttle); None when signed in,
    else the message to show. Raises nothing the sign-in page cannot show."""
    try:
        login = accounts.login(
            db.session,
            username=username,
            password=password,
            device_id=_browser_id(),
            device_name=f"控制台 {request.user_agent.string[:100]}",
            remote_addr=request.remote_addr or "unknown",
            policy=accounts.LoginPolicy.from_config(current_app.config),
        )
    except TooManyRequests:
        return "登录失败次数过多，请稍后再试。"
    except Unauthorized:
        return "用户名或密码错误。"
    session.clear()
    session.permanent = False
    session[TOKEN_KEY] = login.token
    g.current_user, g.current_device = login.user, login.device
    return None


def sign_out() -> None:
    device = getattr(g, "current_device", None)
    if device is not None:
        accounts.logout(db.session, device)
    session.clear()


def signed_in_user():
    """The signed-in user of this request, or None (an unknown, revoked or expired token
    clears the session)."""
    if "current_user" in g:
        return g.current_user
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    try:
        g.current_user, g.current_device = accounts.authenticate(db.session, token)
    except Unauthorized:
        session.clear()
        return None
    return g.current_user


def device_id() -> str:
    """The signed-in browser's device id, for the services' flow-log stamp."""
    return g.current_device.device_id


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path of this site."""
    if (
        target
        and target.startswith("/console/")
        and "\\" not in target
        and urlsplit(target).netloc == ""
    ):
        return target
    return url_for("console.home")


# -- the role check -------------------------------------------------------------------


def page(*roles: str) -> Callable:
    """A console page or action: signed in (else to the sign-in page), and of one of
    ``roles`` (else 403). No roles: any signed-in user."""
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = signed_in_user()
            if user is None:
                if request.method == "GET":
                    return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
                return redirect(url_for("console.login"))
            if allowed and user.role not in allowed:
                return render("error.html", status=403, message="您的角色无权访问此页面。"), 403
            return view(*args, **kwargs)

        wrapper.console_roles = allowed
        return wrapper

    return decorator


def render(template: str, **context) -> str:
    return render_template(f"console/{template}", **context)


def flash_error(error: DomainError) -> None:
    flash(f"操作未完成：{error.message}", "error")


@dataclasses.dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: frozenset[str]


# The nav, in order. An item shows for its roles once its endpoint exists, so pages still
# to come keep their place: sync (conflicts, rejected mutations, device health), the
# chiefs' board, the monthly ledger and assessment, admin.
NAV: list[NavItem] = [
    NavItem("工作队列", "console.queues", frozenset(DISPATCHERS)),
    NavItem("地图", "console.map_page", frozenset(CASE_READERS)),
    NavItem("同步", "console.sync_conflicts", frozenset({Role.DISPATCHER, Role.ADMIN})),
    NavItem("街长看板", "console.board", frozenset({Role.STREET_CHIEF, Role.ROAD_CHIEF})),
    NavItem("台账考评", "console.ledger", frozenset({*CASE_READERS, Role.HANDLER})),
    NavItem("系统管理", "console.admin_users", frozenset({Role.ADMIN})),
]


@blp.app_template_global()
def console_nav(user) -> list[dict]:
    views = current_app.view_functions
    return [
        {
            "label": item.label,
            "url": url_for(item.endpoint),
            "active": request.endpoint == item.endpoint,
        }
        for item in NAV
        if item.endpoint in views and user.role in item.roles
    ]


def city_zone() -> ZoneInfo:
    """The city's time zone (the work calendar's), once per request."""
    if "city_zone" not in g:
        g.city_zone = ZoneInfo(get_calendar(db.session).timezone)
    return g.city_zone


@blp.app_template_filter("localtime")
def localtime(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC instant as the city's local time."""
    return value.astimezone(city_zone()).strftime(fmt) if value is not None else ""


@blp.app_template_global()
def console_user():
    return g.get("current_user")


@blp.app_template_global()
def role_name(role: str) -> str:
    return ROLE_NAMES.get(role, role)


@blp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError):
    message = "表单已失效或缺少安全令牌，请刷新页面重试。"
    return render("error.html", status=400, message=message), 400


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    return render("error.html", status=error.status_code, message=error.message), error.status_code


@blp.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return render("error.html", status=error.code, message=error.description), error.code


# -- assets served by the app itself ----------------------------------------------------


@blp.route("/assets/leaflet/<path:filename>")
def leaflet_asset(filename: str):
    """Leaflet from the xstatic-leaflet package (no CDN)."""
    return send_from_directory(LEAFLET_DIR, filename, max_age=86400)
