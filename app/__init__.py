"""The Flask service. ``create_app`` reads like a checklist."""

from __future__ import annotations

import importlib

from flask import Flask

from app import config as app_config
from app.accounts import auth as accounts_auth
from app.core import outbox
from app.core.docs import register_docs_assets
from app.core.errors import register_error_handlers
from app.core.inbound import init_inbound
from app.core.logging import init_request_logging
from app.core.metrics import METRICS, init_metrics
from app.core.replica import init_replica
from app.extensions import api, db
from app.feed import capture
from app.feed.registry import FEED
from app.photos.backends import init_media

# Each domain folder offers `routes.blp` (or several in `routes.blueprints`) and, where it
# has commands, `cli.group`.
DOMAINS = (
    "health",
    "accounts",
    "orgunits",
    "grids",
    "categories",
    "workcalendar",
    "merchants",
    "photos",
    "evidence",
    "pressing",
    "cases",
    "ledger",
    "assessment",
    "sync_api",
    "open311",
    "notifications",
    "hotline",
    "cameras",
)
# Each of these offers `feed.register(registry)`. The order is behaviour: a snapshot of a
# user's scope runs the feed types in the order they were registered, reference data first
# (category, calendar, grid) so a phone can show its cases, then case, task, photo, comment,
# selfcheck, conflict, notification.
FEEDS = ("categories", "workcalendar", "grids", "cases", "merchants", "sync_api", "notifications")
# Each of these offers `register()`: a rule or reaction its domain lends another.
REACTIONS = (
    "cases.services",
    "merchants.selfchecks",
    "evidence.subscribers",
    "ledger.jobs",
    "cases.notices",
    "hotline.callbacks",
    "cases.selfcheck_cases",
)
# Each of these offers `metrics.register(gauges)`: the gauges it lends /metrics, read when
# scraped (queue depth and age, photo processing lag, feed lag).
METRICS_SOURCES = ("photos", "notifications", "feed")
CLI_MODULES = (
    "accounts",
    "orgunits",
    "grids",
    "categories",
    "workcalendar",
    "photos",
    "demo",
    "pressing",
    "cases",
    "sync_api",
    "notifications",
    "hotline",
    "evidence",
    "scheduler",
)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_mapping(app_config.from_environment())
    if config:
        app.config.update(config)

    register_extensions(app)
    register_authentication(app)
    register_feeds(app)
    register_reactions(app)
    register_metrics(app)
    register_blueprints(app)
    register_console(app)
    register_error_handlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    init_request_logging(app)
    init_inbound(app)
    init_metrics(app)
    db.init_app(app)
    init_replica(app)
    outbox.install(db.new_session)
    init_media(app)
    api.init_app(app)


def register_authentication(app: Flask) -> None:
    """The permission check every route uses asks accounts whose bearer token it is."""
    accounts_auth.register(app)


def register_feeds(app: Flask) -> None:
    """Hang the change feed's capture on the database events and enroll each domain's feed
    types. Process-wide and idempotent: every app of the process shares them."""
    capture.install()
    for name in FEEDS:
        importlib.import_module(f"app.{name}.feed").register(FEED)


def register_reactions(app: Flask) -> None:
    """Rules and reactions one domain lends another, declared by the domain that knows them:
    who else may see a photo (a case's or a self-check's readers), and the evidence checks
    that run when photos reach a case. Process-wide and idempotent."""
    for name in REACTIONS:
        importlib.import_module(f"app.{name}").register()


def register_metrics(app: Flask) -> None:
    """Enroll each domain's scrape-time gauges with the metrics, each read in a savepoint of
    its own. Process-wide and idempotent, as the feed registry."""
    METRICS.isolate_reads_with(lambda: db.session.begin_nested())
    for name in METRICS_SOURCES:
        importlib.import_module(f"app.{name}.metrics").register(METRICS)


def register_blueprints(app: Flask) -> None:
    register_docs_assets(app)
    for name in DOMAINS:
        routes = importlib.import_module(f"app.{name}.routes")
        for blueprint in getattr(routes, "blueprints", (routes.blp,)):
            api.register_blueprint(blueprint)


def register_console(app: Flask) -> None:
    """The command centre's HTML pages at /console/: on the Flask app, not the API, so they
    stay out of the OpenAPI document."""
    importlib.import_module("app.console.web").init_app(app)
    routes = importlib.import_module("app.console.routes")
    for blueprint in routes.blueprints:
        app.register_blueprint(blueprint)


def register_commands(app: Flask) -> None:
    for name in CLI_MODULES:
        cli = importlib.import_module(f"app.{name}.cli")
        for group in getattr(cli, "groups", (cli.group,)):
            app.cli.add_command(group)
