"""The photo API end to end with MEDIA_BACKEND=s3, against moto's S3 server on loopback.

The app builds its own boto3 client from the configuration (endpoint, region) and takes
its credentials from the AWS_* environment variables, as in production; only the server
on the other end is moto instead of MinIO or a cloud bucket.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import uuid

import pytest
from PIL import Image

from app import create_app
from tests import database
from tests.factories import login_headers, make_world
from tests.media import photos as pictures

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

REGION = "us-east-1"
PREFIX = "blobs/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def s3_endpoint():
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    """A fresh bucket, and the AWS_* variables the app's boto3 client will read."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    name = f"photos-{uuid.uuid4().hex[:12]}"
    admin = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    admin.create_bucket(Bucket=name)
    return name, admin


@pytest.fixture
def s3_app(app, committing, clean_db, tmp_path, bucket, s3_endpoint):
    name, _ = bucket
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URL"],
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            "MEDIA_BACKEND": "s3",
            "S3_BUCKET": name,
            "S3_ENDPOINT_URL": s3_endpoint,
            "S3_REGION": REGION,
            "S3_PREFIX": PREFIX,
            "MEDIA_JOB_DELAY": 0.05,
        }
    )
    yield application
    database.drain_workers(application)  # before the tables are emptied


def _everything(bucket) -> set[str]:
    """Every object key in the bucket, and every multipart upload still open in it."""
    name, admin = bucket
    keys = {
        obj["Key"]
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=name)
        for obj in page.get("Contents", [])
    }
    uploads = admin.list_multipart_uploads(Bucket=name).get("Uploads", [])
    return keys | {f"multipart:{upload['Key']}" for upload in uploads}


def _photo(seed: int, size: tuple[int, int] = (800, 600)) -> bytes:
    return pictures.encode(pictures.scene(*size, seed=seed), "JPEG", quality=90)


def _put(client, headers, data: bytes, sha: str | None = None):
    return client.put(
        f"/api/v1/blobs/{sha or _sha(data)}", data=data, headers=headers, content_type="image/jpeg"
    )


def test_a_photo_goes_in_and_comes_out_of_the_bucket(s3_app, session, bucket):
    make_world(session)
    client = s3_app.test_client()
    headers = login_headers(client, "t_inspector")
    data = _photo(seed=3)
    sha = _sha(data)
    photo_id = str(uuid.uuid4())

    created = client.post(
        "/api/v1/photos", json={"id": photo_id, "sha256": sha, "kind": "problem"}, headers=headers
    )
    assert created.status_code == 201 and created.get_json()["status"] == "pending"
    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 404

    stored = _put(client, headers, data)
    assert stored.status_code == 201, stored.get_json()
    assert stored.get_json()["created"] is True
    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 200
    assert f"{PREFIX}{sha}" in _everything(bucket)
    assert _put(client, headers, data).status_code == 200

    assert s3_app.extensions["media"].queue.join(30)
    photo = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert photo["status"] == "available"
    assert photo["processing"] == "done"
    assert photo["thumbnail_sizes"] == [320, 1024]

    original = client.get(f"/api/v1/photos/{photo_id}/original", headers=headers)
    assert original.status_code == 200
    assert original.data == data
    assert original.headers["ETag"] == f'"{sha}"'

    thumbnail = client.get(f"/api/v1/photos/{photo_id}/thumbnail?size=320", headers=headers)
    assert thumbnail.status_code == 200 and thumbnail.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumbnail.data)).size) == 320
    # Thumbnails are blobs too, in the same bucket under the same prefix; nothing else.
    assert f"{PREFIX}{_sha(thumbnail.data)}" in _everything(bucket)
    assert len(_everything(bucket)) == 3
    assert all(key.startswith(PREFIX) for key in _everything(bucket))


def test_a_body_with_the_wrong_hash_leaves_nothing_in_the_bucket(s3_app, session, bucket):
    make_world(session)
    client = s3_app.test_client()
    headers = login_headers(client, "t_inspector")
    data = _photo(seed=4)
    wrong = "0" * 64

    small = _put(client, headers, data, sha=wrong)
    assert small.status_code == 422, small.get_json()
    # Over one 8 MiB part: streamed to a temporary multipart upload, which is aborted.
    big = os.urandom(9 * 1024 * 1024)
    large = _put(client, headers, big, sha=wrong)
    assert large.status_code == 422, large.get_json()

    assert _everything(bucket) == set()
    assert client.head(f"/api/v1/blobs/{_sha(data)}", headers=headers).status_code == 404


def test_bytes_that_are_not_an_image_are_415_and_removed_from_the_bucket(s3_app, session, bucket):
    make_world(session)
    client = s3_app.test_client()
    headers = login_headers(client, "t_inspector")
    data = b"this is not a picture at all, just text" * 10

    response = _put(client, headers, data)

    assert response.status_code == 415, response.get_json()
    assert _everything(bucket) == set()


def test_a_tus_upload_lands_in_the_bucket(s3_app, session, bucket):
    make_world(session)
    client = s3_app.test_client()
    headers = {**login_headers(client, "t_inspector"), "Tus-Resumable": "1.0.0"}
    data = _photo(seed=5, size=(1600, 1200))
    sha = _sha(data)
    metadata = f"sha256 {base64.b64encode(sha.encode()).decode()}"

    created = client.post(
        "/api/v1/uploads",
        headers={**headers, "Upload-Length": str(len(data)), "Upload-Metadata": metadata},
    )
    assert created.status_code == 201, created.get_json()
    location = created.headers["Location"]
    half = len(data) // 2
    for offset, part in ((0, data[:half]), (half, data[half:])):
        patched = client.patch(
            location,
            data=part,
            headers={
                **headers,
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert patched.status_code == 204, patched.get_json()

    assert client.head(f"/api/v1/blobs/{sha}", headers=headers).status_code == 200
    assert s3_app.extensions["media"].queue.join(30)
    name, admin = bucket
    assert admin.get_object(Bucket=name, Key=f"{PREFIX}{sha}")["Body"].read() == data
    # The upload's bytes are gone; its state answers HEAD for a lost last answer (tus).
    finished = client.head(location, headers=headers)
    assert finished.status_code == 200
    assert finished.headers["Upload-Offset"] == finished.headers["Upload-Length"]
