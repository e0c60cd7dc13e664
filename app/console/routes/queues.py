"""The dispatcher's home: the queues (待受理, 待立案, 待派遣 …) with their counts, filters,
pages and traffic lights; new cases appear without a reload (the page polls ``live``)."""

from __future__ import annotations

import dataclasses

from flask import current_app, flash, jsonify, render_template, request

from app.console import services
from app.console.queries import QUEUES
from app.console.schemas import QueueQuerySchema, load_form
from app.console.web import DISPATCHERS, blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.extensions import db

PAGE_SIZE = 20
FILTER_FIELDS = [f.name for f in dataclasses.fields(services.QueueFilters)]


def _query() -> tuple[dict, services.QueueFilters]:
    query, errors = load_form(QueueQuerySchema(), request.args)
    if errors:
        flash("筛选条件有误，已忽略：" + "；".join(sorted(errors)), "error")
        query, _ = load_form(QueueQuerySchema(), {})
    filters = services.QueueFilters(**{k: query[k] for k in FILTER_FIELDS if k in query})
    return query, filters


def _page(query: dict, filters: services.QueueFilters) -> services.QueuePage:
    return services.queue_page(
        db.session,
        signed_in_user(),
        query["queue"],
        filters,
        query["page"],
        PAGE_SIZE,
        utcnow(),
    )


@blp.route("/queues")
@page(*DISPATCHERS)
def queues():
    """One queue's page of cases with every tab's count and the filter form."""
    query, filters = _query()
    shown = _page(query, filters)
    return render(
        "queues.html",
        shown=shown,
        queues=QUEUES,
        query=query,
        filters=filters,
        choices=services.filter_choices(db.session),
        poll_seconds=current_app.config["CONSOLE_POLL_SECONDS"],
    )


@blp.route("/queues/live")
@page(*DISPATCHERS)
def queues_live():
    """The rows and counts of the page being looked at, for the page to refresh itself."""
    query, filters = _query()
    shown = _page(query, filters)
    rows = render_template("console/_queue_rows.html", shown=shown)
    return jsonify(
        counts=shown.counts,
        total=shown.total,
        more=shown.more,
        ids=[str(row["id"]) for row in shown.rows],
        rows=rows,
    )
