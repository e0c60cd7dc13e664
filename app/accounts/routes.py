"""Login, logout, the caller's profile, and the admin's users and devices."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from app.accounts import services
from app.accounts.models import Role
from app.accounts.schemas import (
    DeviceQuerySchema,
    DeviceSchema,
    LoginResultSchema,
    LoginSchema,
    UserCreateSchema,
    UserQuerySchema,
    UserSchema,
    UserUpdateSchema,
)
from app.core.auth import current_device, current_user, require_login, require_roles
from app.core.inbound import Blueprint
from app.core.pagination import paginate_select
from app.extensions import db

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Login, users and devices")


def _login_policy() -> services.LoginPolicy:
    return services.LoginPolicy.from_config(current_app.config)


@blp.route("/auth/login")
class LoginView(MethodView):
    @blp.doc(security=[], **{"x-roles": ["public"]})
    @blp.arguments(LoginSchema)
    @blp.response(200, LoginResultSchema)
    @blp.alt_response(401, description="Wrong user name or password")
    @blp.alt_response(429, description="Too many failed logins")
    def post(self, body):
        """Log in on one device; the token is valid for that device only."""
        result = services.login(
            db.session, remote_addr=request.remote_addr or "unknown", policy=_login_policy(), **body
        )
        return {
            "access_token": result.token,
            "token_type": "Bearer",
            "expires_at": result.device.expires_at,
            "user": result.user,
        }


@blp.route("/auth/logout")
class LogoutView(MethodView):
    @require_login
    @blp.response(204)
    def post(self):
        """Revoke the calling device's token; other devices stay logged in."""
        services.logout(db.session, current_device())


@blp.route("/auth/me")
class MeView(MethodView):
    @require_login
    @blp.response(200, UserSchema)
    def get(self):
        """The calling user."""
        return current_user()


@blp.route("/admin/users")
class UsersView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(UserQuerySchema, location="query")
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List users, filtered by role, org unit or a name fragment."""
        return paginate_select(db.session, services.users_query(**query), pagination_parameters)

    @require_roles(Role.ADMIN)
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    @blp.alt_response(404, description="The org unit or road named does not exist")
    @blp.alt_response(409, description="The user name is taken")
    def post(self, body):
        """Create a user tied to the org unit (and road) its role needs."""
        return services.create_user(db.session, **body)


@blp.route("/admin/users/<int:user_id>")
class UserView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, UserSchema)
    def get(self, user_id):
        """One user."""
        return services.get_user(db.session, user_id)

    @require_roles(Role.ADMIN)
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, body, user_id):
        """Change a user; deactivating or a new password revokes all their devices."""
        return services.update_user(db.session, user_id, body)


@blp.route("/admin/devices")
class DevicesView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.arguments(DeviceQuerySchema, location="query")
    @blp.response(200, DeviceSchema(many=True))
    @blp.paginate()
    def get(self, query, pagination_parameters):
        """List devices, by user and by whether their token is active."""
        return paginate_select(db.session, services.devices_query(**query), pagination_parameters)


@blp.route("/admin/devices/<int:device_pk>/revoke")
class DeviceRevokeView(MethodView):
    @require_roles(Role.ADMIN)
    @blp.response(200, DeviceSchema)
    def post(self, device_pk):
        """Revoke one device's token (a lost or stolen phone)."""
        return services.revoke_device(db.session, device_pk)
