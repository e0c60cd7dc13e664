"""Pressing (三级督办): escalation of overdue cases to street, district and city."""
