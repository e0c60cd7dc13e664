"""Signals of pressing; sent after the pressing is committed."""

from blinker import Namespace

_signals = Namespace()

#: ``case_id``, ``level``, ``automatic`` — a case was pressed (督办), by hand or by level.
case_pressed = _signals.signal("case-pressed")
