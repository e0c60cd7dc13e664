"""Offline sync over HTTP: the push and pull routes, and the SQLAlchemy store behind ``sync/``."""
