"""``POST requests``: a service request becomes a case from source ``open311`` through
the same intake as every report (``cases.intake.report_case``), and is sent to the
responsible inspector to verify on site through the same move a dispatcher makes
(``send_verify``). Never registered on its own."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import uuid
from collections.abc import Mapping
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.cases.intake import report_case
from app.cases.models import Case
from app.cases.moves import move_case
from app.cases.reports import NewReport
from app.cases.services import CasePolicy
from app.cases.workflow import Action
from app.core.db import transaction
from app.core.errors import DomainError, ValidationFailed
from app.grids import geo
from app.open311 import services
from app.open311.models import Open311Client, Open311Request
from app.photos.backends import Media
from app.photos.services import receive_blob

CONTACT_FIELDS = ("email", "device_id", "account_id", "first_name", "last_name", "phone")
MAX_FIELD = 256
MAX_DESCRIPTION = 4000


@dataclasses.dataclass(frozen=True)
class Filed:
    request: Open311Request
    case: Case


@dataclasses.dataclass(frozen=True)
class Place:
    """Where the request says the problem is: a WGS-84 point, or only an address."""

    lat: float | None
    lon: float | None
    address: str

    @property
    def has_point(self) -> bool:
        return self.lat is not None


def _field(form: Mapping, name: str, limit: int = MAX_FIELD) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > limit:
        raise ValidationFailed(f"{name} is longer than {limit} characters")
    return value or None


def read_place(form: Mapping) -> Place:
    """``lat`` and ``long`` (WGS-84), or ``address_string``: one is required."""
    address = _field(form, "address_string") or ""
    lat, lon = form.get("lat"), form.get("long")
    if lat in (None, "") and lon in (None, ""):
        if not address:
            raise ValidationFailed("lat and long, or address_string, is required")
        return Place(None, None, address)
    try:
        point = float(lat), float(lon)
        geo.check_point(*point)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(f"lat and long are not a point: {error}") from None
    return Place(point[0], point[1], address)


def read_media_url(form: Mapping) -> str | None:
    """A link to the client's photo, kept as given: never fetched by us (no requests to
    arbitrary addresses from inside the city's network)."""
    url = _field(form, "media_url", 2048)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed("media_url is an http or https URL")
    return url


def read_attributes(form: Mapping, category) -> dict:
    """``attribute[code]=value``: only the service definition's, with its values."""
    given = {
        key[len("attribute[") : -1]: value
        for key, value in form.items()
        if key.startswith("attribute[") and key.endswith("]")
    }
    if not services.has_metadata(category):
        return {}
    hazard = given.get(services.HAZARD)
    if hazard not in (None, "", "yes", "no"):
        raise ValidationFailed(f"attribute[{services.HAZARD}] is yes or no")
    return {services.HAZARD: hazard} if hazard else {}


def _store_photo(session: Session, media: Media, account: User, data: bytes) -> dict:
    """The uploaded photo through the blob store's checks (a non-image is refused)."""
    sha256 = hashlib.sha256(data).hexdigest()
    receive_blob(session, media, account, io.BytesIO(data), sha256)
    return {"photo_id": uuid.uuid4(), "sha256": sha256, "kind": "problem"}


def file_request(
    session: Session,
    media: Media,
    client: Open311Client,
    form: Mapping,
    photo: bytes | None,
    *,
    policy: CasePolicy = CasePolicy(),
    fallback_point: tuple[float, float],
) -> Filed:
    """Check everything, then store the photo, take the report in and send it to verify.

    Bad input is a ``ValidationFailed`` (or the photo pipeline's error) before anything is
    written. A request without a point is placed at ``fallback_point`` and left
    ``reported`` with its routing to be confirmed by a dispatcher, who then sends it to
    verify; so is one on a grid boundary or in a grid without a responsible inspector.
    """
    code = _field(form, "service_code") or ""
    category = services.find_service(session, code)
    if category is None:
        raise ValidationFailed(f"service_code {code!r} is not a service of this endpoint")
    place = read_place(form)
    media_url = read_media_url(form)
    attributes = read_attributes(form, category)
    description = _field(form, "description", MAX_DESCRIPTION) or category.name
    contact = {name: _field(form, name) for name in CONTACT_FIELDS}
    account = session.get(User, client.user_id)
    photos = [_store_photo(session, media, account, photo)] if photo else []
    lat, lon = (place.lat, place.lon) if place.has_point else fallback_point
    report = NewReport(
        case_id=uuid.uuid4(),
        category=category.id,
        description=description,
        location={"lat": lat, "lon": lon, "crs": "wgs84"},
        address=place.address,
        urgency="urgent" if attributes.get(services.HAZARD) == "yes" else "normal",
        photos=photos,
    )
    device = f"open311:{client.id}"
    case = report_case(session, media, account, device, report, source="open311", policy=policy)
    case = case.case
    with transaction(session):
        filed = Open311Request(
            client_id=client.id,
            case_id=case.id,
            service_code=code,
            attributes=attributes,
            address_string=place.address or None,
            media_url=media_url,
            photo_id=photos[0]["photo_id"] if photos else None,
            **contact,
        )
        session.add(filed)
        if not place.has_point:
            case.routing = "needs_confirmation"
    _send_to_verify(session, media, account, device, case, policy)
    return Filed(filed, case)


def _send_to_verify(
    session: Session, media: Media, account: User, device: str, case: Case, policy: CasePolicy
) -> None:
    """The intake desk's ``send_verify`` to the inspector of the case's grid, when the case
    is routed and the grid has one; otherwise a dispatcher does it after confirming."""
    if case.routing != "routed":
        return
    try:
        move_case(session, media, account, device, case.id, Action.SEND_VERIFY, policy=policy)
    except DomainError:
        session.rollback()


def requests_of_client(session: Session, client: Open311Client) -> int:
    return session.scalar(sa.select(sa.func.count()).where(Open311Request.client_id == client.id))
