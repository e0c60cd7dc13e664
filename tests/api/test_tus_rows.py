"""The ``tus_uploads`` row of a disk-backend upload (issues 15 and 16): the shared upload
directory is what every host asks while the bytes arrive, so neither the creation nor a
PATCH touches the database; the completion writes the row in the blob's own transaction
(one commit for the whole completion). Termination removes it; purge keeps the rows in
step with the shared directory."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Session

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
    """The SQL statements the app's engine runs inside the block, with ``"COMMIT"`` where
    a session commits (in these tests a commit releases a savepoint)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def committed(_session):
        seen.append("COMMIT")

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    sa.event.listen(Session, "after_commit", committed)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
        sa.event.remove(Session, "after_commit", committed)


def _on_rows(seen: list[str]) -> list[str]:
    return [statement for statement in seen if "tus_uploads" in statement]


def _complete(client, headers, data: bytes) -> str:
    path = _create(client, headers, data)
    assert _patch(client, headers, path, 0, data).status_code == 204
    return path


def test_disk_rows_are_written_by_the_completion_only(app, client, auth, session, world):
    headers = auth("inspector")
    data = pictures.encode(pictures.scene(640, 480, seed=21), "JPEG")
    with _statements(app) as seen:
        path = _create(client, headers, data)
    assert not _on_rows(seen), seen
    upload_id = path.rsplit("/", 1)[1]
    assert session.get(TusUpload, upload_id) is None

    half = len(data) // 2
    with _statements(app) as seen:
        assert _patch(client, headers, path, 0, data[:half]).status_code == 204
    assert not _on_rows(seen), seen

    with _statements(app) as seen:
        assert _patch(client, headers, path, half, data[half:]).status_code == 204
    # One statement on the row, in the transaction that inserts the blob: the completion
    # commits once, and that commit carries the blob, its holder, the photos and the row.
    # (The commits after it are the photo's processing, which tests run inline.)
    (upsert,) = _on_rows(seen)
    assert upsert.startswith("INSERT INTO tus_uploads"), upsert
    first_commit = seen.index("COMMIT")
    assert seen.index(upsert) < first_commit, seen
    assert any(statement.startswith("INSERT INTO blobs") for statement in seen[:first_commit])

    session.expire_all()
    row = session.get(TusUpload, upload_id)
    sha = hashlib.sha256(data).hexdigest()
    assert (row.backend, row.length, row.upload_offset) == ("disk", len(data), len(data))
    assert (row.completed_sha256, row.device_id) == (sha, "test-phone")
    assert row.owner_id == world.users["inspector"].id
    assert "owner_device" not in row.upload_metadata
    assert row.expires_at > dt.datetime.now(dt.UTC) + dt.timedelta(hours=23)
    assert session.get(Blob, sha) is not None

    head = client.head(path, headers={**headers, "Tus-Resumable": "1.0.0"})
    assert head.headers["Upload-Offset"] == str(len(data))
    # The server's own metadata (owner, device) is never shown to the client.
    assert head.headers["Upload-Metadata"].split(" ")[0] == "sha256", head.headers


def test_a_row_written_at_creation_by_an_older_release_is_finished(
    app, client, auth, session, world
):
    headers = auth("inspector")
    data = pictures.encode(pictures.scene(640, 480, seed=22), "JPEG")
    path = _create(client, headers, data)
    upload_id = path.rsplit("/", 1)[1]
    now = dt.datetime.now(dt.UTC)
    session.add(
        TusUpload(
            id=upload_id,
            owner_id=world.users["inspector"].id,
            device_id="older",
            backend="disk",
            length=len(data),
            upload_offset=0,
            upload_metadata={},
            state={},
            created_at=now,
            expires_at=now + dt.timedelta(hours=1),
            expires_in_seconds=3600,
        )
    )
    session.flush()
    assert _patch(client, headers, path, 0, data).status_code == 204
    session.expire_all()
    row = session.get(TusUpload, upload_id)
    assert (row.completed_sha256, row.upload_offset) == (
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    assert row.device_id == "older"  # the row's own columns stay; the completion's advance


def test_termination_removes_the_row(client, auth, session):
    headers = auth("inspector")
    data = pictures.encode(pictures.scene(320, 240, seed=23), "JPEG")
    path = _complete(client, headers, data)
    assert session.get(TusUpload, path.rsplit("/", 1)[1]) is not None
    deleted = client.delete(path, headers={**headers, "Tus-Resumable": "1.0.0"})
    assert deleted.status_code == 204
    session.expire_all()
    assert session.get(TusUpload, path.rsplit("/", 1)[1]) is None


def test_purge_deletes_rows_of_gone_uploads_and_moves_live_ones_forward(app, client, auth, session):
    headers = auth("inspector")
    gone = _complete(client, headers, pictures.encode(pictures.scene(320, 240, seed=24), "JPEG"))
    alive = _complete(client, headers, pictures.encode(pictures.scene(320, 240, seed=25), "JPEG"))
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
