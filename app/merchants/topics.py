"""The merchants' outbox topics (``app.core.outbox``): published in the change's own
transaction, so their subscribers' work is not lost if the process dies after the commit."""

#: ``selfcheck_id`` (str) — a self-check marked a problem (an ``issue``) was stored.
SELFCHECK_ISSUE = "merchants.selfcheck_issue"
