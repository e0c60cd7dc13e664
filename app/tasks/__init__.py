"""Tasks: what lands on a phone (verify, check, handle, rectify)."""
