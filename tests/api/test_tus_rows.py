"""The ``tus_uploads`` row of a disk-backend upload (issue 15): written when the upload is
created, completed and terminated, never by a PATCH in between (the disk path's PATCH is
one fsync and no database round trip); purge keeps the rows in step with the shared
directory."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib

import sqlalchemy as sa

from app.extensions import db
from app.photos import uploads
from app.photos.models import Blob, TusUpload
from tests.media import photos as pictures


def _create(client, headers, data: bytes) -> str:
    metadata = f"sha256 {base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()}"
    created = client.post(
        "/api/v1/uploads",
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata,
        },
    )
    assert created.status_code == 201, created.get_json()
    return "/api/v1/uploads/" + created.headers["Location"].rsplit("/", 1)[1]


def _patch(client, headers, path: str, offset: int, body: bytes):
    return client.patch(
        path,
        data=body,
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


@contextlib.contextmanager
def _statements(app):
    """The SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def test_a_patch_on_disk_touches_no_row_and_completion_records_it(app, client, auth, session):
    headers = auth("inspector")
    data = pictures.encode(pictures.scene(640, 480, seed=21), "JPEG")
    path = _create(client, headers, data)
    upload_id = path.rsplit("/", 1)[1]
    row = session.get(TusUpload, upload_id)
    assert (row.backend, row.upload_offset, row.length) == ("disk", 0, len(data))
    assert row.owner_id is not None and row.completed_sha256 is None

    half = len(data) // 2
    with _statements(app) as seen:
        assert _patch(client, headers, path, 0, data[:half]).status_code == 204
    assert not [statement for statement in seen if "tus_uploads" in statement], seen

    assert _patch(client, headers, path, half, data[half:]).status_code == 204
    session.expire_all()
    row = session.get(TusUpload, upload_id)
    sha = hashlib.sha256(data).hexdigest()
    assert (row.upload_offset, row.completed_sha256) == (len(data), sha)
    assert session.get(Blob, sha) is not None


def test_termination_removes_the_row(client, auth, session):
    headers = auth("inspector")
    path = _create(client, headers, b"x" * 100)
    deleted = client.delete(path, headers={**headers, "Tus-Resumable": "1.0.0"})
    assert deleted.status_code == 204
    assert session.get(TusUpload, path.rsplit("/", 1)[1]) is None


def test_purge_deletes_rows_of_gone_uploads_and_moves_live_ones_forward(app, client, auth, session):
    headers = auth("inspector")
    gone, alive = _create(client, headers, b"x" * 100), _create(client, headers, b"y" * 100)
    gone_id, alive_id = gone.rsplit("/", 1)[1], alive.rsplit("/", 1)[1]
    media = app.extensions["media"]
    media.uploads.terminate(gone_id)  # as a purge on another host would have
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    session.execute(sa.update(TusUpload).values(expires_at=past))
    session.flush()

    with app.app_context():
        uploads.purge_uploads(db.session, media)

    session.expire_all()
    assert session.get(TusUpload, gone_id) is None
    live = session.get(TusUpload, alive_id)
    assert live is not None and live.expires_at > dt.datetime.now(dt.UTC)
    media.uploads.terminate(alive_id)  # the app is shared: leave no upload behind
