"""Masking the caller's personal data wherever it is not the dispatcher's case page."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**; a one-character name is kept as ``*``."""
    if not name:
        return name
    if len(name) == 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678; a short number keeps only its last two digits."""
    if not phone:
        return phone
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * max(len(phone) - 2, 0) + phone[-2:]
