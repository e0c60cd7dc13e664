"""Pagination on a SQLAlchemy select, for flask-smorest's ``@blp.paginate()``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session


def paginate_select(session: Session, stmt: sa.Select, pagination_parameters) -> list:
    """Run ``stmt`` for one page and tell flask-smorest the total item count."""
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    pagination_parameters.item_count = total
    page = stmt.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
    return list(session.scalars(page))
