"""Unbound extension objects; create_app binds them with init_app."""

from flask_smorest import Api

from app.core.db import Database

db = Database()
api = Api()
