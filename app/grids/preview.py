"""Previewing an import of unit grids or roads (``app.grids.importing``): what it would
do, or why it would be refused, with nothing written."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app.grids.importing import ImportReport


def preview_import(
    session: Session, add: Callable[..., ImportReport], feature_collection: dict, **options
) -> ImportReport:
    """What an import would do, with nothing written: ``add`` (``add_unit_grids`` or
    ``add_roads``, with its ``options``) checks and writes in a savepoint that is rolled
    back, and the session's transaction is ended. The same report, or the same
    ValidationFailed with its per-feature problems, as the import itself would give."""
    savepoint = session.begin_nested()
    try:
        return add(session, feature_collection, **options)
    finally:
        savepoint.rollback()
        session.rollback()
