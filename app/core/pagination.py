"""Pagination on a SQLAlchemy select, for flask-smorest's ``@blp.paginate()``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.core.errors import ValidationFailed

# The largest row offset a database takes (a signed 64-bit integer).
MAX_OFFSET = 2**63 - 1


def paginate_select(session: Session, stmt: sa.Select, pagination_parameters) -> list:
    """Run ``stmt`` for one page and tell flask-smorest the total item count."""
    if pagination_parameters.first_item > MAX_OFFSET:
        raise ValidationFailed(
            "page is past any possible result", {"query": {"page": ["too large"]}}
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = total
    page = stmt.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(session.scalars(page))
