"""Offline sync over HTTP: the push route, and the SQLAlchemy store behind ``sync/``."""
