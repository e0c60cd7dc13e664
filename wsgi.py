"""Builds the app once. Production: ``gunicorn -c gunicorn.conf.py wsgi:app`` (docs/deploy.md)."""

from app import create_app

app = create_app()
