"""The GeoReport v2 wire formats: JSON and XML as the specification writes them, w3c
dates with their offset, and the error array. No database."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

FORMATS = ("json", "xml")
# Characters XML 1.0 cannot carry (and a NUL no text column can): refused in what a client
# sends, left out of what we write.
UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}


def w3c(moment: dt.datetime | None, zone: ZoneInfo) -> str | None:
    """``2026-03-09T09:00:00+08:00``: the city's local time with its offset."""
    if moment is None:
        return None
    return moment.astimezone(zone).replace(microsecond=0).isoformat()


def parse_w3c(text: str) -> dt.datetime:
    """A w3c date-time (``Z`` or an offset; a bare date is its midnight UTC); ValueError
    for anything else or one without a zone."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "+"))
    if value.tzinfo is None:
        if len(text.strip()) == 10:
            return value.replace(tzinfo=dt.UTC)
        raise ValueError(f"{text!r} has no time zone")
    return value


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return UNSAFE.sub("", str(value))


def _element(parent: ET.Element, name: str, value) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _element(child, key, item)
    elif isinstance(value, list | tuple):
        # A list inside an item (keywords, values): the specification nests one element per
        # member, named by the list's singular (``values`` → ``value``).
        singular = name[:-1] if name.endswith("s") else name
        for item in value:
            _element(child, singular, item)
    else:
        child.text = _text(value)


def to_xml(root: str, item: str, rows: Sequence[Mapping]) -> bytes:
    """``<root><item>…</item>…</root>`` with the XML declaration."""
    top = ET.Element(root)
    for row in rows:
        node = ET.SubElement(top, item)
        for key, value in row.items():
            _element(node, key, value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def to_xml_object(root: str, row: Mapping) -> bytes:
    """One object as ``<root>…</root>`` (discovery, a service definition)."""
    top = ET.Element(root)
    for key, value in row.items():
        _element(top, key, value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def to_json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def unsafe_fields(pairs) -> list[str]:
    """The names of the ``(name, value)`` pairs with a character ``UNSAFE`` matches."""
    return sorted({name for name, value in pairs if UNSAFE.search(name) or UNSAFE.search(value)})


def error_rows(status: int, description: str) -> list[dict]:
    """The specification's error body: an array of ``{code, description}``."""
    return [{"code": status, "description": description}]


def render_errors(fmt: str, status: int, description: str) -> bytes:
    rows = error_rows(status, description)
    if fmt == "xml":
        return to_xml("errors", "error", rows)
    return to_json(rows)
