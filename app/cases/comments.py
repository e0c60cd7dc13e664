"""Comments on cases: notes anyone who may see a case adds to it (``comment.add``).

Append-only and keyed by the phone's UUID (API.md, conflict rule 4): the same comment sent
again — a retry, a re-send under a new mid, a second phone — returns the stored one; the
same UUID with other content is a 409. A comment is not a workflow move: it writes no flow
entry and leaves the case's version alone, so it never makes a field edit ``merged``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.models import Case, CaseComment
from app.cases.queries import visible_to
from app.cases.services import get_case
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, ValidationFailed
from app.feed import capture

MAX_TEXT = 2000


@dataclasses.dataclass(frozen=True)
class Commented:
    comment: CaseComment
    created: bool


def add_comment(
    session: Session,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    *,
    comment_id: uuid.UUID | None = None,
    text: str,
    client_ts: dt.datetime | None = None,
) -> Commented:
    """Add a comment to a case ``user`` may see (any other case is a 404 for them).

    ``comment_id`` is the phone's UUID (a new one when absent). Sent again with the same
    case, author and text it returns the stored comment (``created`` False); the same UUID
    with other content is a 409 without a reason (the sync push answers ``id_reused``).
    """
    case = get_case(session, user, case_id)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("a comment needs text", {"text": ["must not be empty"]})
    if len(text) > MAX_TEXT:
        raise ValidationFailed("a comment is too long", {"text": [f"at most {MAX_TEXT}"]})
    comment_id = comment_id or uuid.uuid4()
    existing = session.get(CaseComment, comment_id)
    if existing is not None:
        return _replayed(existing, case.id, user, text)
    comment = CaseComment(
        id=comment_id,
        case_id=case.id,
        author_id=user.id,
        device_id=device_id,
        text=text,
        client_ts=client_ts,
        created_at=utcnow(),
    )
    try:
        with transaction(session):
            session.add(comment)
    except sa.exc.IntegrityError:
        # A concurrent twin (the same comment from another phone) won the primary key.
        existing = session.get(CaseComment, comment_id)
        if existing is None:
            raise
        return _replayed(existing, case.id, user, text)
    return Commented(comment, True)


def _replayed(comment: CaseComment, case_id: uuid.UUID, user: User, text: str) -> Commented:
    if (comment.case_id, comment.author_id, comment.text) != (case_id, user.id, text):
        raise Conflict(f"comment {comment.id} exists with other content", {"id": ["already used"]})
    return Commented(comment, False)


def comments_query(case_id: uuid.UUID) -> sa.Select:
    """A case's comments, oldest first (the order they are read in)."""
    return (
        sa.select(CaseComment)
        .where(CaseComment.case_id == case_id)
        .order_by(CaseComment.created_at, CaseComment.id)
    )


def case_comments(session: Session, user: User, case_id: uuid.UUID) -> sa.Select:
    """The comments of a case ``user`` may see, as a select to paginate; 404 otherwise."""
    case = get_case(session, user, case_id)
    return comments_query(case.id)


@dataclasses.dataclass(frozen=True)
class NewComment:
    """A ``comment.add`` as the push's batch path hands it over."""

    comment_id: uuid.UUID
    case_id: uuid.UUID
    text: str
    client_ts: dt.datetime | None = None


def add_comments(
    session: Session, user: User, device_id: str | None, comments: list[NewComment]
) -> int:
    """Add the longest prefix of ``comments`` that are plain new comments, set-wise; how
    many (the caller takes the next one the one-by-one way, ``add_comment``).

    Stops before the first that ``add_comment`` would not simply store: empty or too long
    text, a case ``user`` may not see, an id already used (a replay or a 409) or used twice
    in the run. Writes with Core in the session's transaction and commits nothing; the
    feed is told of the rows as a flush would tell it. ``created_at`` is the moment of the
    batch, a microsecond apart in the order sent, so they list in that order."""
    ready: list[tuple[NewComment, str]] = []
    for comment in comments:
        text = (comment.text or "").strip() if isinstance(comment.text, str) else ""
        if not text or len(text) > MAX_TEXT:
            break
        ready.append((comment, text))
    if not ready:
        return 0
    case_ids = {comment.case_id for comment, _ in ready}
    visible = set(
        session.scalars(sa.select(Case.id).where(Case.id.in_(case_ids), visible_to(user)))
    )
    ids = [comment.comment_id for comment, _ in ready]
    used = set(session.scalars(sa.select(CaseComment.id).where(CaseComment.id.in_(ids))))
    now = utcnow()
    rows: list[dict] = []
    for comment, text in ready:
        if comment.case_id not in visible or comment.comment_id in used:
            break
        used.add(comment.comment_id)
        rows.append(
            {
                "id": comment.comment_id,
                "case_id": comment.case_id,
                "author_id": user.id,
                "device_id": device_id,
                "text": text,
                "client_ts": comment.client_ts,
                "created_at": now + dt.timedelta(microseconds=len(rows)),
            }
        )
    if rows:
        connection = session.connection()
        connection.execute(sa.insert(CaseComment.__table__), rows)
        capture.inserted(connection, CaseComment, rows)
    return len(rows)
