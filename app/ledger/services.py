"""Use cases of the 两图一表 ledger: ask for it (scope and period checked), write it as a
file, and run an export in the background on the photo pipeline's job queue.

A finished export is stored in the blob store, like the photos and their thumbnails: the
store is content-addressed and takes any bytes through its streaming ``put_stream``, on
disk and on S3 alike, so an export needs no storage of its own and a second app server
finds the file the worker made. No ``blobs`` row is written for it, so no photo route
ever serves it; only ``GET /exports/{id}/file`` does, to its requester.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.core.clock import utcnow
from app.core.db import transaction
from app.core.errors import Conflict, NotFound
from app.ledger import pdf, render, scopes, xlsx
from app.ledger.models import Export
from app.ledger.queries import Scope, count_rows, iter_batches
from app.ledger.thumbnails import Thumbnails
from app.photos.backends import Media
from app.workcalendar.periods import Period, date_range, period_of_days
from app.workcalendar.services import get_calendar

log = logging.getLogger(__name__)

FILE_FORMATS = ("xlsx", "pdf")
JOB_NAME = "ledger_export"


@dataclasses.dataclass(frozen=True)
class LedgerSettings:
    sync_max_rows: int = 200
    thumbnail_size: int = 1024
    max_file_bytes: int = 8 * 1024**3
    work_dir: str | None = None

    @classmethod
    def from_config(cls, config) -> LedgerSettings:
        return cls(
            sync_max_rows=config["LEDGER_SYNC_MAX_ROWS"],
            thumbnail_size=config["LEDGER_THUMBNAIL_SIZE"],
            max_file_bytes=config["LEDGER_EXPORT_MAX_BYTES"],
            work_dir=config["LEDGER_WORK_DIR"] or None,
        )


@dataclasses.dataclass(frozen=True)
class LedgerQuery:
    """A checked request: what the ledger covers."""

    scope: Scope
    period: Period

    @property
    def heading(self) -> render.Heading:
        return render.Heading(self.scope, self.period)

    def params(self, fmt: str) -> dict:
        return {
            "format": fmt,
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "scope": dataclasses.asdict(self.scope),
        }


def ask(session: Session, user: User, args: dict, now: dt.datetime) -> LedgerQuery:
    """The ledger ``user`` asks for with ``args`` (``first``, ``last``, one scope filter):
    403 for a scope not theirs, 422 for a bad period or filter."""
    scope = scopes.resolve(session, user, args)
    timezone = get_calendar(session).timezone
    period = date_range(args["first"], args["last"], timezone, now)
    return LedgerQuery(scope, period)


def _from_params(session: Session, params: dict) -> LedgerQuery:
    timezone = get_calendar(session).timezone
    first = dt.date.fromisoformat(params["from"])
    last = dt.date.fromisoformat(params["to"])
    return LedgerQuery(Scope(**params["scope"]), period_of_days(first, last, timezone))


def write_file(
    session: Session,
    media: Media,
    query: LedgerQuery,
    fmt: str,
    target: Path,
    settings: LedgerSettings,
    progress=None,
) -> int:
    """Write the ledger to the file ``target`` (in a work folder of the caller's, which
    also takes XlsxWriter's row files and thumbnails copied from an object store)."""
    calendar = get_calendar(session)
    batches = iter_batches(session, query.period, query.scope, settings.thumbnail_size)
    ledger = render.LedgerFile(
        query.heading,
        batches,
        Thumbnails(media.store, target.parent),
        calendar.zone,
        calendar.workday_seconds,
        progress,
    )
    if fmt == "xlsx":
        return xlsx.write_xlsx(target, ledger)
    with target.open("wb") as out:
        return pdf.write_pdf(out, ledger)


def work_dir(settings: LedgerSettings) -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="ledger-", dir=settings.work_dir)


@dataclasses.dataclass
class WrittenFile:
    """A ledger file written to a work folder of its own, to be streamed once: the folder
    goes when the stream ends (or is dropped)."""

    path: Path
    folder: tempfile.TemporaryDirectory
    ascii_name: str
    name: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def chunks(self, size: int = 256 * 1024) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as source:
                while data := source.read(size):
                    yield data
        finally:
            self.folder.cleanup()


def written_file(
    session: Session, media: Media, query: LedgerQuery, fmt: str, settings: LedgerSettings
) -> WrittenFile:
    """The ledger of ``query`` as a file (``fmt`` xlsx or pdf), answered at once by the API
    and the console for a ledger of at most ``settings.sync_max_rows`` rows."""
    ascii_name, name = render.filenames(query.heading, fmt)
    folder = work_dir(settings)
    path = Path(folder.name) / ascii_name
    try:
        write_file(session, media, query, fmt, path, settings)
    except BaseException:
        folder.cleanup()
        raise
    return WrittenFile(path, folder, ascii_name, name)


# -- exports -------------------------------------------------------------------------------


def request_export(
    session: Session,
    media: Media,
    user: User,
    args: dict,
    fmt: str,
    now: dt.datetime,
    settings: LedgerSettings,
) -> Export:
    """Check the request, record the export and start it: a small one (no more rows than
    answered at once) runs here, a larger one is queued for the worker."""
    query = ask(session, user, args, now)
    with transaction(session):
        export = Export(
            format=fmt,
            params=query.params(fmt),
            requested_by=user.id,
            status="queued",
            rows_total=count_rows(session, query.period, query.scope),
        )
        session.add(export)
    if export.rows_total <= settings.sync_max_rows:
        run_export(session, media, export.id, settings)
    else:
        media.queue.enqueue(JOB_NAME, {"export_id": str(export.id), "app": media.app_token})
    session.refresh(export)
    return export


def _progress(session: Session, export: Export):
    def tell(rows: int) -> None:
        with transaction(session):
            export.rows_done = rows

    return tell


def _store(media: Media, path: Path, settings: LedgerSettings):
    with path.open("rb") as stream:
        return media.store.put_stream(stream, None, settings.max_file_bytes)


def run_export(
    session: Session, media: Media, export_id: uuid.UUID, settings: LedgerSettings
) -> None:
    """Make an export's file and store it; a failure is recorded on the export (asking
    again makes a new one) rather than retried."""
    export = session.get(Export, export_id)
    if export is None or export.status in ("done", "failed"):
        return
    with transaction(session):
        export.status = "running"
    query = _from_params(session, export.params)
    ascii_name, name = render.filenames(query.heading, export.format)
    try:
        with work_dir(settings) as folder:
            target = Path(folder) / ascii_name
            rows = write_file(
                session, media, query, export.format, target, settings, _progress(session, export)
            )
            stored = _store(media, target, settings)
    except Exception as error:
        log.exception("export %s failed", export_id)
        session.rollback()
        with transaction(session):
            export.status = "failed"
            export.error = f"{type(error).__name__}: {error}"[:2000]
            export.finished_at = utcnow()
        return
    with transaction(session):
        export.status = "done"
        export.rows_done = rows
        export.rows_total = max(export.rows_total, rows)
        export.filename = name
        export.sha256 = stored.sha256
        export.size = stored.size
        export.finished_at = utcnow()


def get_export(session: Session, user: User, export_id: uuid.UUID) -> Export:
    """The export, for its requester and admins; anyone else learns nothing (404)."""
    export = session.get(Export, export_id)
    if export is None or (export.requested_by != user.id and user.role != Role.ADMIN):
        raise NotFound(f"export {export_id} does not exist")
    return export


def finished_file(session: Session, user: User, export_id: uuid.UUID) -> Export:
    export = get_export(session, user, export_id)
    if export.status != "done":
        raise Conflict(
            f"export {export_id} is {export.status}, not done: its file is not there",
            {"status": [export.status]},
        )
    return export


def ascii_filename(export: Export) -> str:
    query_scope = export.params["scope"]
    heading = render.Heading(
        Scope(**query_scope),
        period_of_days(
            dt.date.fromisoformat(export.params["from"]),
            dt.date.fromisoformat(export.params["to"]),
            "UTC",
        ),
    )
    return render.filenames(heading, export.format)[0]
