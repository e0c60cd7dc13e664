"""Signals of the case workflow; sent after the change is committed."""

from blinker import Namespace

_signals = Namespace()

#: ``case_id`` — a new case was reported (duplicates are looked for on it).
case_reported = _signals.signal("case-reported")
#: ``case_id``, ``photo_ids``, ``kind`` — photos were attached to a case.
case_photos_added = _signals.signal("case-photos-added")
#: ``case_id``, ``action``, ``from_state``, ``to_state`` — a workflow move was applied.
case_moved = _signals.signal("case-moved")
#: ``case_id``, ``task_id`` — a task was given to someone by hand (reassigned); tasks opened
#: by a move are announced by ``case_moved``.
task_assigned = _signals.signal("task-assigned")
