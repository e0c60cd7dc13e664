"""Photo intake through the API: whole-file PUT, photo records, processing, reading back."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from app.photos.backends import Media
from tests.media import photos as pictures


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def media(app) -> Media:
    return app.extensions["media"]


def _jpeg(seed: int = 1, **exif) -> bytes:
    return pictures.encode(
        pictures.scene(640, 480, seed=seed),
        "JPEG",
        pictures.exif(**exif) if exif else None,
        quality=90,
    )


def _put(client, headers, data: bytes, sha: str | None = None):
    return client.put(
        f"/api/v1/blobs/{sha or _sha(data)}", data=data, headers=headers, content_type="image/jpeg"
    )


def test_put_stores_once_and_head_tells_the_phone_to_skip(client, auth, media):
    data = _jpeg(seed=2)
    sha = _sha(data)
    headers = auth("inspector")
    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 404
    first = _put(client, headers, data)
    assert first.status_code == 201, first.get_json()
    assert first.get_json() == {
        "sha256": sha,
        "size": len(data),
        "media_type": "image/jpeg",
        "width": 640,
        "height": 480,
        "created": True,
    }
    again = _put(client, headers, data)
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 200
    with media.store.open(sha) as stored:
        assert stored.read() == data


BAD_BYTES = {
    "text_as_jpeg": (b"this is not a picture at all, just text" * 10, 415),
    "truncated_jpeg": (None, 422),
    "png_bomb": (pictures.png_bomb_header(), 422),
    "png_bogus_chunk": (pictures.png_with_bogus_chunk(), 422),
    "png_bad_crc": (pictures.png_with_bad_crc(), 422),
    # A PNG signature and nothing Pillow can identify: its error names the open file.
    "png_unidentifiable": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDX" + b"\x00" * 40, 422),
}


@pytest.mark.parametrize("name", sorted(BAD_BYTES))
def test_bad_images_are_4xx_and_leave_nothing(client, auth, media, name):
    data, status = BAD_BYTES[name]
    if data is None:
        whole = _jpeg(seed=3)
        data = whole[: len(whole) // 2]
    sha = _sha(data)
    response = _put(client, auth("inspector"), data)
    assert response.status_code == status, response.get_json()
    message = response.get_json()["message"]
    assert message
    # Messages name no server path (issue 11, row 15).
    assert not re.search(r"/\w+/", message) and "name=" not in message, message
    assert not media.store.exists(sha)
    assert client.head(f"/api/v1/blobs/{sha}", headers=auth("inspector")).status_code == 404


def test_wrong_hash_empty_body_and_bad_names(client, auth, media):
    data = _jpeg(seed=4)
    wrong = "0" * 64
    response = _put(client, auth("inspector"), data, sha=wrong)
    assert response.status_code == 422
    assert not media.store.exists(wrong) and not media.store.exists(_sha(data))
    empty = _put(client, auth("inspector"), b"", sha=_sha(b""))
    assert empty.status_code == 400
    assert _put(client, auth("inspector"), data, sha="abc").status_code == 400
    traversal = client.put(
        "/api/v1/blobs/..%2F..%2Fetc%2Fpasswd", data=data, headers=auth("inspector")
    )
    assert traversal.status_code in (400, 404)


def test_oversize_photo_is_413_and_leaves_nothing(client, auth, media, monkeypatch):
    data = _jpeg(seed=5)
    monkeypatch.setattr(media, "max_bytes", len(data) - 1)
    response = _put(client, auth("inspector"), data)
    assert response.status_code == 413
    assert not media.store.exists(_sha(data))


def test_garbage_gps_is_kept_as_a_warning_not_an_error(client, auth):
    from PIL.TiffImagePlugin import IFDRational

    gps = pictures.gps_ifd(24.47, 118.08)
    gps[2] = (IFDRational(123, 1), IFDRational(75, 1), IFDRational(1, 0))
    data = _jpeg(seed=6, gps=gps)
    assert _put(client, auth("inspector"), data).status_code == 201
    photo_id = uuid.uuid4()
    body = {"id": str(photo_id), "sha256": _sha(data), "kind": "problem"}
    created = client.post("/api/v1/photos", json=body, headers=auth("inspector")).get_json()
    assert created["exif"]["lat"] is None
    assert "gps_invalid" in created["exif"]["warnings"]


def test_photo_is_pending_until_its_bytes_arrive_then_available(app, client, auth, media):
    import datetime as dt

    from PIL import ExifTags

    taken = {
        ExifTags.Base.DateTimeOriginal: "2026:11:22 08:00:12",
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
    }
    data = _jpeg(
        seed=7,
        gps=pictures.gps_ifd(24.4798, 118.0894),
        taken=taken,
        make="HUAWEI",
        model="P60",
        orientation=6,
    )
    photo_id = uuid.uuid4()
    body = {
        "id": str(photo_id),
        "sha256": _sha(data),
        "kind": "problem",
        "taken_at": "2026-11-22T08:00:12+08:00",
        "lat": 24.48,
        "lon": 118.09,
    }
    headers = auth("inspector")
    from app.photos.events import photos_available

    seen = []

    def on_available(_sender, photo_ids, sha256):
        seen.append((photo_ids, sha256))

    photos_available.connect(on_available)
    try:
        created = client.post("/api/v1/photos", json=body, headers=headers)
        assert created.status_code == 201
        assert created.get_json()["status"] == "pending"
        retry = client.post("/api/v1/photos", json=body, headers=headers)
        assert retry.status_code == 200 and retry.get_json()["status"] == "pending"
        assert client.get(f"/api/v1/photos/{photo_id}/original", headers=headers).status_code == 404
        assert _put(client, headers, data).status_code in (200, 201)
    finally:
        photos_available.disconnect(on_available)
    assert seen == [([photo_id], _sha(data))]

    assert media.queue.join(timeout=30)
    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["status"] == "available"
    assert photo["exif"]["camera_make"] == "HUAWEI"
    assert photo["exif"]["lat"] == pytest.approx(24.4798, abs=1e-5)
    assert dt.datetime.fromisoformat(photo["exif"]["taken_at"]) == dt.datetime(
        2026, 11, 22, 0, 0, 12, tzinfo=dt.UTC
    )
    # Orientation 6: the displayed picture is portrait.
    assert (photo["width"], photo["height"]) == (480, 640)
    assert photo["processing"] == "done"
    assert photo["thumbnail_sizes"] == [320, 1024]

    original = client.get(f"/api/v1/photos/{photo_id}/original", headers=headers)
    assert original.status_code == 200
    assert original.data == data
    assert original.headers["ETag"] == f'"{_sha(data)}"'
    cached = client.get(
        f"/api/v1/photos/{photo_id}/original",
        headers={**headers, "If-None-Match": f'"{_sha(data)}"'},
    )
    assert cached.status_code == 304

    thumbnail = client.get(f"/api/v1/photos/{photo_id}/thumbnail?size=320", headers=headers)
    assert thumbnail.status_code == 200
    assert thumbnail.mimetype == "image/jpeg"
    from io import BytesIO

    from PIL import Image

    small = Image.open(BytesIO(thumbnail.data))
    assert max(small.size) <= 320 and small.size[1] > small.size[0]
    assert (
        client.get(f"/api/v1/photos/{photo_id}/thumbnail?size=77", headers=headers).status_code
        == 422
    )


def test_photo_records_reject_bad_input_and_reuse(client, auth):
    headers = auth("inspector")
    good = {"id": str(uuid.uuid4()), "sha256": "a" * 64, "kind": "problem"}
    assert client.post("/api/v1/photos", json=good, headers=headers).status_code == 201
    reused = {**good, "sha256": "b" * 64}
    assert client.post("/api/v1/photos", json=reused, headers=headers).status_code == 409
    for bad in (
        {**good, "id": "not-a-uuid"},
        {**good, "kind": "selfie"},
        {**good, "sha256": "xyz"},
        {**good, "lat": 100},
        {**good, "taken_at": "yesterday"},
    ):
        assert client.post("/api/v1/photos", json=bad, headers=headers).status_code == 422
    selfcheck = {**good, "id": str(uuid.uuid4()), "kind": "selfcheck"}
    assert client.post("/api/v1/photos", json=selfcheck, headers=headers).status_code == 403


def test_photos_are_seen_by_owner_and_command_centre_only(client, auth):
    photo_id = str(uuid.uuid4())
    body = {"id": photo_id, "sha256": "c" * 64, "kind": "problem"}
    assert client.post("/api/v1/photos", json=body, headers=auth("inspector")).status_code == 201
    for role, status in (
        ("inspector", 200),
        ("dispatcher", 200),
        ("admin", 200),
        # Out of scope answers as an unknown id does: existence does not leak (issue 11, 12).
        ("handler", 404),
        ("merchant", 404),
        ("street_chief", 404),
    ):
        response = client.get(f"/api/v1/photos/{photo_id}", headers=auth(role))
        assert response.status_code == status
        if status == 404:
            unknown = client.get(f"/api/v1/photos/{uuid.uuid4()}", headers=auth(role))
            assert unknown.status_code == 404
            assert response.get_json()["message"].replace(photo_id, "ID") == unknown.get_json()[
                "message"
            ].replace(unknown.request.path.rsplit("/", 1)[1], "ID")


@pytest.mark.usefixtures("committing")
def test_a_failing_job_is_retried_then_listed_and_the_photo_is_kept(
    client, auth, media, monkeypatch
):
    from app.photos import services

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(services.images, "make_derivatives", broken)
    data = _jpeg(seed=11)
    photo_id = str(uuid.uuid4())
    headers = auth("inspector")
    client.post(
        "/api/v1/photos",
        json={"id": photo_id, "sha256": _sha(data), "kind": "problem"},
        headers=headers,
    )
    assert _put(client, headers, data).status_code == 201
    assert media.queue.join(timeout=30)
    assert len(calls) == media.queue.backoff.retries + 1
    failed = client.get("/api/v1/admin/media/failed-jobs", headers=auth("admin")).get_json()
    mine = [job for job in failed if job["payload"]["sha256"] == _sha(data)]
    assert mine and "decoder crashed" in mine[0]["error"]
    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["status"] == "available" and photo["processing"] == "queued"
    assert client.get(f"/api/v1/photos/{photo_id}/original", headers=headers).data == data


@pytest.mark.usefixtures("committing")
def test_requeue_command_processes_blobs_left_queued(app, client, auth, media, session):
    from app.photos.models import Blob

    data = _jpeg(seed=12)
    assert _put(client, auth("inspector"), data).status_code == 201
    assert media.queue.join(timeout=30)
    blob = session.get(Blob, _sha(data))
    blob.processing, blob.thumbnails = "queued", {}  # as if the worker died before it ran
    session.commit()
    result = app.test_cli_runner().invoke(args=["photos", "requeue"])
    assert result.exit_code == 0, result.output
    assert "queued 1 blobs" in result.output
    session.expire_all()
    assert session.get(Blob, _sha(data)).processing == "done"


def test_a_nul_inside_an_exif_text_is_dropped_with_a_warning_and_the_photo_kept(
    client, auth, media, session
):
    from app.photos.models import Blob

    data = _jpeg(seed=8, make="Canon\x00EOS", model="EOS R5")
    response = _put(client, auth("inspector"), data)
    assert response.status_code == 201, response.get_json()
    blob = session.get(Blob, _sha(data))
    assert blob is not None and media.store.exists(blob.sha256)
    assert blob.camera_make is None and blob.camera_model == "EOS R5"
    assert "make_invalid" in blob.exif_warnings


def test_a_blob_whose_row_cannot_be_written_leaves_no_file(client, auth, media, monkeypatch):
    from app.photos import services

    def broken(*args, **kwargs):
        raise RuntimeError("the database refused the row")

    monkeypatch.setattr(services, "_record_blob", broken)
    data = _jpeg(seed=9)
    response = _put(client, auth("inspector"), data)
    assert response.status_code == 500
    assert not media.store.exists(_sha(data))


def test_knowing_a_hash_is_not_possession(client, auth, media):
    """Inspector A names inspector B's photo hash: A's photo stays pending, A cannot read
    B's original, and HEAD does not tell A the hash exists, until A sends the bytes."""
    b_headers = auth("inspector")
    data = _jpeg(seed=11, gps=pictures.gps_ifd(24.45, 118.08))
    sha = _sha(data)
    assert _put(client, b_headers, data).status_code == 201
    b_photo = str(uuid.uuid4())
    assert (
        client.post(
            "/api/v1/photos",
            json={"id": b_photo, "sha256": sha, "kind": "problem"},
            headers=b_headers,
        ).get_json()["status"]
        == "available"
    )

    a_headers = auth("road_chief")  # another field user: takes problem photos too
    assert client.head(f"/api/v1/blobs/{sha}", headers=a_headers).status_code == 404
    a_photo = str(uuid.uuid4())
    made = client.post(
        "/api/v1/photos",
        json={"id": a_photo, "sha256": sha.upper(), "kind": "problem"},
        headers=a_headers,
    )
    assert made.status_code == 201 and made.get_json()["status"] == "pending"
    assert client.get(f"/api/v1/photos/{a_photo}/original", headers=a_headers).status_code == 404
    assert client.get(f"/api/v1/photos/{b_photo}/original", headers=a_headers).status_code == 404

    # A's own upload of the same bytes: checked, not stored twice, and A's photo is A's.
    again = _put(client, a_headers, data)
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert (
        client.get(f"/api/v1/photos/{a_photo}", headers=a_headers).get_json()["status"]
        == "available"
    )
    assert client.get(f"/api/v1/photos/{a_photo}/original", headers=a_headers).status_code == 200
    assert client.head(f"/api/v1/blobs/{sha}", headers=a_headers).status_code == 200
    # The command centre sees every photo, so HEAD answers for it.
    assert client.head(f"/api/v1/blobs/{sha}", headers=auth("dispatcher")).status_code == 200
