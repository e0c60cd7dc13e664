"""Signals of the merchants' domain; sent after the change is committed."""

from blinker import Namespace

_signals = Namespace()

#: ``selfcheck_id`` — a merchant's self-check marked a problem (an ``issue``) was stored.
selfcheck_issue_found = _signals.signal("selfcheck-issue-found")
