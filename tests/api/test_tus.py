"""Resumable uploads (tus 1.0.0) through a real HTTP server, driven by the tuspy client."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import os
import re
import urllib.parse
import uuid

import pytest
from tusclient import client as tus_client

from tests.media import photos as pictures


@pytest.fixture
def server(live_server):
    return live_server


def _photo_bytes(seed: int) -> bytes:
    # Noise so the JPEG is big enough for several chunks (~1 MB).
    from PIL import Image

    noise = Image.frombytes("RGB", (900, 700), os.urandom(900 * 700 * 3))
    base = pictures.scene(900, 700, seed=seed)
    return pictures.encode(Image.blend(base, noise, 0.5), "JPEG", quality=95)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tus(server, headers):
    return tus_client.TusClient(f"{server}/api/v1/uploads", headers=dict(headers))


def test_tuspy_uploads_a_photo_which_becomes_available(server, auth, app):
    data = _photo_bytes(1)
    headers = auth("inspector")
    photo_id = str(uuid.uuid4())
    with app.test_client() as client:
        body = {"id": photo_id, "sha256": _sha(data), "kind": "problem"}
        assert client.post("/api/v1/photos", json=body, headers=headers).status_code == 201
    uploader = _tus(server, headers).uploader(
        file_stream=io.BytesIO(data),
        chunk_size=256 * 1024,
        upload_checksum=True,
        metadata={"sha256": _sha(data), "filename": "../../etc/passwd"},
    )
    uploader.upload()
    with app.test_client() as client:
        photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
        assert photo["status"] == "available"
        original = client.get(f"/api/v1/photos/{photo_id}/original", headers=headers)
        assert original.data == data
    # The hostile filename is metadata only: nothing outside the uploads root was written,
    # and nothing inside it is named after it.
    uploads_root = app.extensions["media"].uploads.root
    assert not any("passwd" in path.name for path in uploads_root.rglob("*"))
    assert not (uploads_root.parent.parent / "etc").exists()


def _raw_patch(server, headers, path, offset, body: bytes, claimed_length: int):
    """Send a PATCH that promises ``claimed_length`` bytes and delivers ``body``, then hangs up."""
    url = urllib.parse.urlsplit(server)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.putrequest("PATCH", path)
    for key, value in {
        **headers,
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(claimed_length),
    }.items():
        connection.putheader(key, value)
    connection.endheaders()
    connection.send(body)
    connection.sock.shutdown(2)
    connection.close()


def test_an_interrupted_transfer_resumes_from_the_servers_offset(server, auth, app):
    data = _photo_bytes(2)
    headers = auth("inspector")
    first = _tus(server, headers).uploader(
        file_stream=io.BytesIO(data), chunk_size=len(data), metadata={"sha256": _sha(data)}
    )
    upload_url = first.create_url()
    path = urllib.parse.urlsplit(upload_url).path
    # The link drops after a third of the body.
    _raw_patch(server, headers, path, 0, data[: len(data) // 3], claimed_length=len(data))

    import time

    offset = 0
    for _ in range(50):  # the server notices the hang-up asynchronously
        offset = _tus(server, headers).uploader(file_stream=io.BytesIO(data), url=upload_url).offset
        if offset:
            break
        time.sleep(0.1)
    assert 0 < offset <= len(data) // 3

    resumed = _tus(server, headers).uploader(
        file_stream=io.BytesIO(data), url=upload_url, chunk_size=200 * 1024
    )
    assert resumed.offset == offset
    resumed.upload()
    with app.test_client() as client:
        assert client.head(f"/api/v1/blobs/{_sha(data)}", headers=headers).status_code == 200
    assert app.extensions["media"].store.open(_sha(data)).read() == data


def _create(client, headers, length, sha, **extra):
    metadata = f"sha256 {base64.b64encode(sha.encode()).decode()}"
    return client.post(
        "/api/v1/uploads",
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(length),
            "Upload-Metadata": metadata,
            **extra,
        },
    )


def test_tus_protocol_errors(client, auth, app):
    headers = auth("inspector")
    data = _photo_bytes(3)
    sha = _sha(data)
    options = client.options("/api/v1/uploads")
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert "checksum" in options.headers["Tus-Extension"]

    no_version = client.post("/api/v1/uploads", headers={**headers, "Upload-Length": "10"})
    assert no_version.status_code == 412 and no_version.headers["Tus-Version"] == "1.0.0"
    no_length = client.post("/api/v1/uploads", headers={**headers, "Tus-Resumable": "1.0.0"})
    assert no_length.status_code == 400
    no_sha = client.post(
        "/api/v1/uploads", headers={**headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    )
    assert no_sha.status_code == 422
    bad_metadata = _create(client, headers, 10, sha, **{"Upload-Metadata": "sha256 !!!"})
    assert bad_metadata.status_code == 400
    too_big = _create(client, headers, app.extensions["media"].max_bytes + 1, sha)
    assert too_big.status_code == 413

    created = _create(client, headers, len(data), sha)
    assert created.status_code == 201
    path = urllib.parse.urlsplit(created.headers["Location"]).path
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    patch = {**tus, "Content-Type": "application/offset+octet-stream"}

    head = client.head(path, headers=tus)
    assert head.headers["Upload-Offset"] == "0" and head.headers["Cache-Control"] == "no-store"
    assert (
        client.patch(path, data=data[:10], headers={**patch, "Upload-Offset": "5"}).status_code
        == 409
    )
    assert (
        client.patch(path, data=data[:10], headers={**tus, "Upload-Offset": "0"}).status_code == 415
    )
    assert client.patch(path, data=data[:10], headers=patch).status_code == 400
    wrong_sum = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    mismatch = client.patch(
        path,
        data=data[:10],
        headers={**patch, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {wrong_sum}"},
    )
    assert mismatch.status_code == 460
    assert client.head(path, headers=tus).headers["Upload-Offset"] == "0"
    odd_algorithm = client.patch(
        path,
        data=data[:10],
        headers={**patch, "Upload-Offset": "0", "Upload-Checksum": "crc32 AAAA"},
    )
    assert odd_algorithm.status_code == 400

    # Another user cannot see or touch this upload.
    other = {**auth("handler"), "Tus-Resumable": "1.0.0"}
    assert client.head(path, headers=other).status_code == 404
    assert client.delete(path, headers=other).status_code == 404
    assert client.head("/api/v1/uploads/not-an-id", headers=tus).status_code == 404
    assert client.head("/api/v1/uploads/..%2F..%2Fetc", headers=tus).status_code == 404

    assert client.delete(path, headers=tus).status_code == 204
    assert client.head(path, headers=tus).status_code == 404


def test_a_completed_upload_with_the_wrong_bytes_keeps_nothing(client, auth, app):
    headers = auth("inspector")
    data = _photo_bytes(4)
    claimed = "1" * 64
    created = _create(client, headers, len(data), claimed)
    path = urllib.parse.urlsplit(created.headers["Location"]).path
    response = client.patch(
        path,
        data=data,
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 422
    store = app.extensions["media"].store
    assert not store.exists(claimed) and not store.exists(_sha(data))
    assert client.head(path, headers={**headers, "Tus-Resumable": "1.0.0"}).status_code == 404


def test_a_completed_upload_that_is_not_an_image_is_415(client, auth, app):
    headers = auth("inspector")
    data = b"%PDF-1.4 not a photo " * 100
    created = _create(client, headers, len(data), _sha(data))
    path = urllib.parse.urlsplit(created.headers["Location"]).path
    response = client.patch(
        path,
        data=data,
        headers={
            **headers,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert response.status_code == 415
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert not app.extensions["media"].store.exists(_sha(data))


def test_purge_command_removes_expired_uploads(app, client, auth, monkeypatch):
    import datetime as dt

    headers = auth("inspector")
    created = _create(client, headers, 100, "2" * 64)
    assert created.status_code == 201
    uploads = app.extensions["media"].uploads
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    monkeypatch.setattr(uploads, "_clock", lambda: later)
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    assert (uploads.root / upload_id).exists()
    result = app.test_cli_runner().invoke(args=["photos", "purge-uploads"])
    assert result.exit_code == 0, result.output
    # Completed uploads of earlier tests, kept for a lost last answer, go the same way.
    assert re.search(r"purged [1-9]\d* expired", result.output), result.output
    assert not (uploads.root / upload_id).exists()
    assert uploads.expired(later) == []


def test_a_client_that_lost_the_last_answer_learns_from_head_that_the_upload_is_complete(
    client, auth, app
):
    headers = auth("inspector")
    data = _photo_bytes(6)
    created = _create(client, headers, len(data), _sha(data))
    path = urllib.parse.urlsplit(created.headers["Location"]).path
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    patch = {**tus, "Content-Type": "application/offset+octet-stream"}
    last = client.patch(path, data=data, headers={**patch, "Upload-Offset": "0"})
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(data))
    # The 204 was lost: the client asks where it stands, as tuspy's resume does.
    head = client.head(path, headers=tus)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == head.headers["Upload-Length"] == str(len(data))
    again = client.patch(path, data=b"", headers={**patch, "Upload-Offset": str(len(data))})
    assert again.status_code == 204 and again.headers["Upload-Offset"] == str(len(data))
    stale = client.patch(path, data=data, headers={**patch, "Upload-Offset": "0"})
    assert stale.status_code == 409
    assert app.extensions["media"].store.exists(_sha(data))
    # Its bytes are gone from the upload area; only the state is kept, then purged.
    uploads = app.extensions["media"].uploads
    upload_id = path.rsplit("/", 1)[1]
    assert not (uploads.root / upload_id / "data").exists()
    assert client.delete(path, headers=tus).status_code == 204
    assert client.head(path, headers=tus).status_code == 404


def test_a_completion_the_server_fails_is_not_left_complete_for_the_client(
    client, auth, app, monkeypatch
):
    """Issue 11, row 3: a 500 while recording the finished upload left it at full length,
    so a client's HEAD said "done" and the photo waited for bytes it would never resend.
    Now the upload is dropped (HEAD 404: start again) and keeps nothing."""
    from app.photos import services

    real = services._record_blob
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_record_blob", fails_once)
    headers = auth("inspector")
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    patch = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    data = _photo_bytes(7)
    store, uploads = app.extensions["media"].store, app.extensions["media"].uploads
    path = urllib.parse.urlsplit(
        _create(client, headers, len(data), _sha(data)).headers["Location"]
    ).path
    assert client.patch(path, data=data, headers=patch).status_code == 500
    assert client.head(path, headers=tus).status_code == 404
    assert not store.exists(_sha(data))
    assert not (uploads.root / path.rsplit("/", 1)[1]).exists()
    again = urllib.parse.urlsplit(
        _create(client, headers, len(data), _sha(data)).headers["Location"]
    ).path
    assert client.patch(again, data=data, headers=patch).status_code == 204
    assert store.exists(_sha(data))


def test_a_finished_upload_is_linked_into_the_blob_store_and_a_twin_leaves_one_copy(
    client, auth, app
):
    """Completion hard-links the upload's fsynced file into the content-addressed tree
    (no copy); a second upload of the same bytes finds the blob there and leaves nothing
    of its own behind: one file, one link."""
    headers = auth("inspector")
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    patch = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    data = _photo_bytes(8)
    store, uploads = app.extensions["media"].store, app.extensions["media"].uploads
    ids = []
    for _ in range(2):
        path = urllib.parse.urlsplit(
            _create(client, headers, len(data), _sha(data)).headers["Location"]
        ).path
        ids.append(path.rsplit("/", 1)[1])
        answer = client.patch(path, data=data, headers=patch)
        assert answer.status_code == 204, answer.get_json()
        assert client.head(path, headers=tus).headers["Upload-Offset"] == str(len(data))
    blob = store.path_of(_sha(data))
    assert blob.read_bytes() == data
    assert blob.stat().st_nlink == 1
    assert not any((uploads.root / upload_id / "data").exists() for upload_id in ids)
    assert not list(store.root.joinpath("tmp").iterdir())


def test_a_finish_killed_after_the_last_byte_is_done_by_the_next_purge(
    client, auth, app, session, monkeypatch
):
    """The process finishing an upload is killed between the last byte's fsync and the
    blob's commit (no handler runs): HEAD says complete, so the client sends nothing more,
    and the photo waits. The next purge past STALLED_FINISH, on any host sharing the
    upload directory, makes the blob, the photo available and the upload retired; before
    that, and after it, it finishes nothing."""
    import datetime as dt

    from sqlalchemy import select

    from app.extensions import db
    from app.photos import uploads as tus_uploads
    from app.photos.models import TusUpload

    headers = auth("inspector")
    tus = {**headers, "Tus-Resumable": "1.0.0"}
    patch = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    data = _photo_bytes(11)
    photo_id = str(uuid.uuid4())
    body = {"id": photo_id, "sha256": _sha(data), "kind": "problem"}
    assert client.post("/api/v1/photos", json=body, headers=headers).status_code == 201
    path = urllib.parse.urlsplit(
        _create(client, headers, len(data), _sha(data)).headers["Location"]
    ).path
    monkeypatch.setattr(tus_uploads, "_complete_upload", lambda *_args: None)  # killed
    assert client.patch(path, data=data, headers=patch).status_code == 204
    monkeypatch.undo()
    assert client.head(path, headers=tus).headers["Upload-Offset"] == str(len(data))
    assert client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()["status"] == (
        "pending"
    )
    media = app.extensions["media"]
    upload_id = path.rsplit("/", 1)[1]
    with app.app_context():
        assert tus_uploads.finish_stalled_uploads(db.session, media) == 0  # not stalled yet
        later = dt.datetime.now(dt.UTC) + tus_uploads.STALLED_FINISH
        assert media.uploads.stalled(tus_uploads.STALLED_FINISH, later) == [upload_id]
        tus_uploads.purge_uploads(db.session, media, now=later)
        assert tus_uploads.finish_stalled_uploads(db.session, media, now=later) == 0  # done

    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["status"] == "available"
    assert media.store.open(_sha(data)).read() == data
    assert not (media.uploads.root / upload_id / "data").exists()  # retired
    assert client.head(path, headers=tus).headers["Upload-Offset"] == str(len(data))
    row = session.scalars(select(TusUpload).where(TusUpload.id == upload_id)).one()
    assert row.completed_sha256 == _sha(data)
