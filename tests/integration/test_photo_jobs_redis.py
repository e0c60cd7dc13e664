"""Photo processing through the Redis-backed queue and a worker, against the real Redis."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest

from app import create_app
from media.jobs import run_worker
from tests.factories import login_headers, make_world
from tests.media import photos as pictures
from tests.redis_support import reachable_redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_app(app, committing, clean_db, tmp_path):
    connection = reachable_redis(REDIS_URL)
    queue_name = f"test-media-{uuid.uuid4().hex[:8]}"
    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URL"],
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            "JOB_QUEUE": "redis",
            "REDIS_URL": REDIS_URL,
            "JOB_QUEUE_NAME": queue_name,
        }
    )
    yield application, connection, queue_name
    for key in connection.scan_iter(f"*{queue_name}*"):
        connection.delete(key)


def test_a_redis_worker_makes_the_thumbnails(redis_app, session):
    application, connection, queue_name = redis_app
    make_world(session)
    data = pictures.encode(pictures.scene(800, 600, seed=9), "JPEG")
    sha = hashlib.sha256(data).hexdigest()
    client = application.test_client()
    headers = login_headers(client, "t_inspector")
    photo_id = str(uuid.uuid4())
    client.post(
        "/api/v1/photos", json={"id": photo_id, "sha256": sha, "kind": "problem"}, headers=headers
    )
    assert client.put(f"/api/v1/blobs/{sha}", data=data, headers=headers).status_code == 201
    queued = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert queued["processing"] == "queued" and queued["thumbnail_sizes"] == []

    run_worker(connection, queue_name, burst=True, fork=False, with_scheduler=False)

    done = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
    assert done["processing"] == "done"
    assert done["thumbnail_sizes"] == [320, 1024]
    thumbnail = client.get(f"/api/v1/photos/{photo_id}/thumbnail?size=1024", headers=headers)
    assert thumbnail.status_code == 200
