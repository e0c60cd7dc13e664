"""Unbound extension objects; create_app binds them with init_app."""

from app.core.db import Database
from app.core.docs import Api

db = Database()
api = Api()
