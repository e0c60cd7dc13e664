"""Field edits of a case: description, address, location and category (``case.edit``).

A phone edits offline against the values it last saw, so an edit names each field's
``base`` (the value the phone started from) and ``new``. The three-way merge is the pure
``sync.conflicts.merge_fields`` (API.md, conflict rule 3): a field the server still holds
at ``base`` takes ``new``; a field the server already holds at ``new`` is left alone; a
field changed on both sides to different values keeps the server's value, and the caller
opens a conflict with both values. The dispatcher's REST edit is the same merge with the
server's own values as ``base``, guarded by the case's version instead.

Who edits: the reporter before the case is filed (reported, verifying), a dispatcher in
any open state. A location change re-routes the case as intake does; a category change
resolves the code as intake does (it leaves a running deadline where it is).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.cases import queries, workflow
from app.cases.models import Case
from app.cases.reports import REPORTER_ROLES, check_location
from app.cases.routing import record_routing_gap, routing_of, settle_routing_gaps
from app.cases.services import CasePolicy, Stamp, append_flow, moving, resolve_category
from app.categories.models import Category
from app.core.clock import utcnow
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.grids import geo
from app.grids.services import locate
from sync.conflicts import Edit, FieldConflict, Refused, check_target, edit_status, merge_fields
from sync.outcomes import Status

EDITABLE = ("description", "address", "location", "category_code")
# Filing (立案) fixes what was reported; before it the reporter may still correct it.
BEFORE_FILING = frozenset({workflow.State.REPORTED, workflow.State.VERIFYING})
# Two points closer than this are one place: a phone's GCJ-02 ``base`` converted back to
# WGS-84 lands within centimetres of the point the server stored from it.
SAME_PLACE_M = 1.0
MAX_ADDRESS = 256


@dataclasses.dataclass(frozen=True)
class FieldEdits:
    """An edit of a case's fields: each field's ``Edit(base, new)``, the case's version and
    the time the edit was made against (a phone's), and the ``kind`` / ``edition`` of the
    category a new code means, where the phone gave them."""

    fields: Mapping[str, Edit]
    base_version: int | None = None
    client_ts: dt.datetime | None = None
    category_hint: Mapping[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class CaseEdit:
    """What an edit did. ``status`` is ``applied``, ``merged`` or ``conflict`` (see
    ``sync.conflicts.edit_status``); ``changed`` maps each written field to its old and
    new value; ``conflicts`` holds the fields left as the server has them."""

    case: Case
    status: Status
    changed: dict[str, dict[str, Any]]
    conflicts: dict[str, FieldConflict]
    unchanged: frozenset[str]

    def conflict_errors(self) -> dict[str, Any]:
        """The clashing fields with both values (and the phone's base), for the conflict
        record a dispatcher decides from."""
        return {
            "fields": {
                name: {"server": c.server, "base": c.base, "new": c.new}
                for name, c in self.conflicts.items()
            },
            "applied": sorted(self.changed),
        }


def edit_case_fields(
    session: Session,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    edits: FieldEdits,
    *,
    policy: CasePolicy = CasePolicy(),
) -> CaseEdit:
    """Merge a phone's field edits (``{field: Edit(base, new)}``) into a case.

    Fields that merge are written in one transaction with a flow entry ``edit`` (old and
    new values) and the case's version bumped; clashing fields stay as they are and come
    back in ``conflicts``. Refusals: a case the user may not see 404; a case merged into
    another 409 ``edit_after_delete``; a case past the editor's states 409 ``wrong_state``;
    neither its reporter nor a dispatcher 403; a bad value 422 (an ambiguous category code
    ``ambiguous_category``, unless ``category_hint`` gives its ``kind`` / ``edition``).
    """
    case = _editable(session, user, case_id)
    return _edit(session, user, device_id, case, edits, policy)


def edit_case(
    session: Session,
    user: User,
    device_id: str | None,
    case_id: uuid.UUID,
    *,
    version: int,
    fields: Mapping[str, Any],
    policy: CasePolicy = CasePolicy(),
    category_hint: Mapping[str, str] | None = None,
) -> CaseEdit:
    """The command centre's edit (PATCH): plain new values over the case at ``version``.

    A case changed since ``version`` is a 409 ``concurrent_change`` (reload and edit
    again), as is one changed while this edit is written. Otherwise the refusals of
    ``edit_case_fields``.
    """
    case = _editable(session, user, case_id)
    if case.version != version:
        raise Conflict(
            f"case {case.number} is at version {case.version}, not {version}; reload it",
            {"reason": "concurrent_change", "version": case.version},
        )
    server = _server_values(session, case)
    edits = {name: Edit(server.get(name), value) for name, value in fields.items()}
    return _edit(
        session,
        user,
        device_id,
        case,
        FieldEdits(edits, base_version=version, category_hint=category_hint),
        policy,
    )


def _editable(session: Session, user: User, case_id: uuid.UUID) -> Case:
    case = session.scalar(queries.visible_case(user, case_id))
    try:
        check_target(exists=case is not None, deleted=_merged_away(case))
    except Refused as refusal:
        if refusal.reason == "edit_after_delete":
            raise Conflict(
                f"case {case.number} was merged into another case",
                {"reason": refusal.reason, "merged_into_id": str(case.merged_into_id)},
            ) from None
        raise NotFound(f"case {case_id} does not exist") from None
    if user.role == Role.DISPATCHER:
        allowed = workflow.OPEN
    elif case.reporter_id == user.id and user.role in REPORTER_ROLES:
        allowed = BEFORE_FILING
    else:
        raise Forbidden("only its reporter (before it is filed) or a dispatcher edits a case")
    if case.state not in allowed:
        raise Conflict(
            f"case {case.number} is {case.state}: no longer editable by a {user.role}",
            {"reason": "wrong_state"},
        )
    return case


def _merged_away(case: Case | None) -> bool:
    # Cases are never deleted; one merged into another is gone as itself (its tombstone).
    return case is not None and case.merged_into_id is not None


def _server_values(session: Session, case: Case) -> dict[str, Any]:
    category = session.get(Category, case.category_id)
    return {
        "description": case.description,
        "address": case.address,
        "location": {"lat": case.lat, "lon": case.lon},
        "category_code": category.code,
    }


def _edit(
    session: Session,
    user: User,
    device_id: str | None,
    case: Case,
    edit: FieldEdits,
    policy: CasePolicy,
) -> CaseEdit:
    edits = edit.fields
    unknown = sorted(set(edits) - set(EDITABLE))
    if unknown or not edits:
        raise ValidationFailed(
            f"editable fields are {', '.join(EDITABLE)}",
            {"fields": {name: ["not editable"] for name in unknown} or ["at least one"]},
        )
    server = _server_values(session, case)
    normal = {name: _normalised(name, edit, server[name]) for name, edit in edits.items()}
    merge = merge_fields(server, normal)
    status = edit_status(merge, base_version=edit.base_version, server_version=case.version)
    changed: dict[str, dict[str, Any]] = {}
    if merge.applied:
        # Everything that can refuse is resolved before the transaction.
        category = _category(session, merge.applied.get("category_code"), edit.category_hint)
        located = None
        if "location" in merge.applied:
            lat, lon, crs = check_location(edits["location"].new)
            located = locate(session, lat, lon, crs, policy.boundary_buffer_m)
        now = utcnow()
        # One UPDATE of the case at the commit, so its version moves by exactly one.
        with moving(session), session.no_autoflush:
            for name in ("description", "address"):
                if name in merge.applied:
                    changed[name] = {"from": server[name], "to": merge.applied[name]}
                    setattr(case, name, merge.applied[name])
            if category is not None:
                changed["category_code"] = {
                    "from": server["category_code"],
                    "to": category.code,
                    "category_from": case.category_id,
                    "category_to": category.id,
                }
                case.category_id = category.id
            if located is not None:
                changed["location"] = {
                    "from": server["location"],
                    "to": {"lat": located.lat, "lon": located.lon},
                    "input": located.input,
                }
                _reroute(session, case, user, located, now)
            case.updated_at = now
            append_flow(
                session,
                case,
                Stamp(user, device_id, now),
                "edit",
                case.state,
                data={
                    "fields": changed,
                    "kept_server": sorted(merge.conflicts),
                    "base_version": edit.base_version,
                    "client_ts": edit.client_ts.isoformat() if edit.client_ts else None,
                },
            )
    return CaseEdit(case, status, changed, dict(merge.conflicts), merge.unchanged)


def _normalised(name: str, edit: Edit, server: Any) -> Edit:
    """The edit in the server's terms, so ``merge_fields`` compares like with like."""
    if name == "description":
        new = edit.new.strip() if isinstance(edit.new, str) else edit.new
        if not new:
            raise ValidationFailed("describe the problem", {"description": ["required"]})
        base = edit.base.strip() if isinstance(edit.base, str) else edit.base
        return Edit(base, new)
    if name == "address":
        if not isinstance(edit.new, str) or len(edit.new) > MAX_ADDRESS:
            raise ValidationFailed("an address is text", {"address": [f"at most {MAX_ADDRESS}"]})
        return edit
    if name == "location":
        return Edit(_place(edit.base, server, strict=False), _place(edit.new, server))
    if not isinstance(edit.new, str):
        raise ValidationFailed("a category code is text", {"category_code": ["digits"]})
    return edit


def _place(value: Any, server: dict, *, strict: bool = True) -> Any:
    """A point as WGS-84 ``{lat, lon}``; the server's own point when within
    ``SAME_PLACE_M`` of it. A ``base`` the server cannot read matches nothing."""
    if value is None:
        return None
    try:
        lat, lon, crs = check_location(value)
        lat, lon = geo.to_wgs84(lat, lon, crs)
    except (ValidationFailed, ValueError):
        if strict:
            raise ValidationFailed(
                "location needs lat, lon and a known crs", {"location": ["lat, lon, crs"]}
            ) from None
        return value
    per_lat, per_lon = geo.metres_per_degree(lat)
    apart = math.hypot((lat - server["lat"]) * per_lat, (lon - server["lon"]) * per_lon)
    return server if apart <= SAME_PLACE_M else {"lat": lat, "lon": lon}


def _category(
    session: Session, code: str | None, hint: Mapping[str, str] | None = None
) -> Category | None:
    if code is None:
        return None
    wanted = {"code": code, **{k: v for k, v in (hint or {}).items() if v}}
    try:
        return resolve_category(session, wanted)
    except ValidationFailed as error:
        # Keep the service's reason (ambiguous_category); name the field the phone sent.
        errors = {"category_code": (error.errors or {}).get("category", ["unknown"])}
        if (error.errors or {}).get("reason"):
            errors["reason"] = error.errors["reason"]
        raise ValidationFailed(error.message, errors) from None


def _reroute(session: Session, case: Case, user: User, located, now: dt.datetime) -> None:
    """The case moves to where the point now falls, as intake routes a report; gaps of the
    old point are settled, a new one recorded if the new point needs a dispatcher."""
    case.lat, case.lon = located.lat, located.lon
    case.input_crs = located.input_crs
    for name, value in routing_of(located).items():
        setattr(case, name, value)
    settle_routing_gaps(session, case, user, now)
    record_routing_gap(session, case, located, now)
