"""The case workflow's outbox topics (``app.core.outbox``): published in the change's own
transaction, so their subscribers' work is not lost if the process dies after the commit.
Payloads are JSON (ids as strings)."""

#: ``case_id``, ``photo_ids``, ``kind`` (str or None) — as the ``case_photos_added`` signal.
PHOTOS_ADDED = "case.photos_added"
#: ``case_id``, ``action``, ``from_state``, ``to_state`` — a move ended the case (closed,
#: self-handled, rejected, cancelled): only then, so other moves add no row.
CASE_ENDED = "case.ended"
