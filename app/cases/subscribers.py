"""Reactions of the cases domain to other domains' signals: a self-check marked with a
problem opens a case on the frontage (``selfcheck_cases``). ``register`` connects them;
``create_app`` calls it.

The subscriber works in a session of its own and never raises into the sender: the
self-check stands even if its case cannot be opened (the failure is logged).
"""

from __future__ import annotations

import logging
import uuid

from flask import current_app

from app.cases.selfcheck_cases import open_selfcheck_case
from app.cases.services import CasePolicy
from app.extensions import db
from app.merchants.events import selfcheck_issue_found
from app.photos.backends import media

log = logging.getLogger(__name__)


def on_selfcheck_issue_found(_sender, selfcheck_id: uuid.UUID) -> None:
    config = current_app.config
    try:
        with db.new_session() as session:
            open_selfcheck_case(
                session,
                media(),
                selfcheck_id,
                config["SELFCHECK_ISSUE_CATEGORIES"],
                CasePolicy.from_config(config),
            )
    except Exception:
        log.exception("no case opened for self-check %s", selfcheck_id)


def register() -> None:
    selfcheck_issue_found.connect(on_selfcheck_issue_found)
