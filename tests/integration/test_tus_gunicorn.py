"""tus uploads through a real gunicorn, whose body the PATCH route reads off the socket
(app.photos.body): keep-alive after a PATCH, a dropped connection, a killed server, and
the resume that follows each, ending in one verified blob."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import time
import uuid

from PIL import Image
from sqlalchemy.orm import Session

from app.core.db import make_engine
from tests import factories
from tests.integration.test_sync_crash import database, request, server  # noqa: F401
from tests.media import photos as pictures


def _photo() -> bytes:
    noise = Image.frombytes("RGB", (900, 700), os.urandom(900 * 700 * 3))
    return pictures.encode(
        Image.blend(pictures.scene(900, 700, seed=3), noise, 0.5), "JPEG", quality=95
    )


def _tus(port: int, token: str, method: str, path: str, body: bytes = b"", **headers):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return _on(connection, token, method, path, body, **headers)
    finally:
        connection.close()


def _on(connection, token: str, method: str, path: str, body: bytes = b"", **headers):
    extra = {key.replace("_", "-"): value for key, value in headers.items()}
    all_headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0", **extra}
    if method == "PATCH":
        all_headers["Content-Type"] = "application/offset+octet-stream"
    connection.request(method, path, body=body, headers=all_headers)
    response = connection.getresponse()
    response.read()
    return response


def _hang_up_after(port: int, token: str, path: str, offset: int, body: bytes, claimed: int):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("PATCH", path)
    for key, value in {
        "Authorization": f"Bearer {token}",
        "Tus-Resumable": "1.0.0",
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(claimed),
    }.items():
        connection.putheader(key, value)
    connection.endheaders()
    connection.send(body)
    connection.sock.shutdown(2)
    connection.close()


def _offset(port: int, token: str, path: str, at_least: int = 0) -> int:
    """The upload's offset once it is past ``at_least`` and has stopped moving: the server
    notices a hang-up asynchronously, and a HEAD while the cut PATCH is still writing sees
    the bytes as they land (on a loaded machine that takes a while)."""
    seen: list[int] = []
    for _ in range(200):
        answer = _tus(port, token, "HEAD", path)
        assert answer.status == 200, answer.status
        seen.append(int(answer.getheader("Upload-Offset")))
        if seen[-1] > at_least and seen[-3:] == [seen[-1]] * 3:
            return seen[-1]
        time.sleep(0.05)
    return seen[-1]


def test_an_upload_survives_a_hang_up_and_a_killed_server_and_ends_in_one_blob(
    database,  # noqa: F811
    server,  # noqa: F811
):
    engine = make_engine(database.url)
    with Session(engine, expire_on_commit=False) as session:
        inspector = factories.make_world(session).users["inspector"]
    engine.dispose()
    server.start()
    status, answer = request(
        server.port,
        "POST",
        "/api/v1/auth/login",
        {"username": inspector.username, "password": factories.PASSWORD, "device_id": "tus"},
    )
    assert status == 200, answer
    token = answer["access_token"]
    data = _photo()
    sha = hashlib.sha256(data).hexdigest()
    photo_id = str(uuid.uuid4())
    status, answer = request(
        server.port,
        "POST",
        "/api/v1/photos",
        {"id": photo_id, "sha256": sha, "kind": "problem"},
        token=token,
    )
    assert status == 201, answer
    created = _tus(
        server.port,
        token,
        "POST",
        "/api/v1/uploads",
        Upload_Length=str(len(data)),
        Upload_Metadata=f"sha256 {base64.b64encode(sha.encode()).decode()}",
    )
    assert created.status == 201
    path = "/" + created.getheader("Location").split("/", 3)[3]

    # Two PATCHes on one keep-alive connection: the body read off the socket leaves the
    # connection ready for the next request.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    tenth = len(data) // 10
    for start in (0, tenth):
        answer = _on(
            connection, token, "PATCH", path, data[start : start + tenth], Upload_Offset=str(start)
        )
        assert answer.status == 204
        assert answer.getheader("Upload-Offset") == str(start + tenth)
    connection.close()

    # The link drops mid-PATCH: what arrived is kept.
    third = len(data) // 3
    _hang_up_after(server.port, token, path, 2 * tenth, data[2 * tenth : third], len(data))
    offset = _offset(server.port, token, path, at_least=2 * tenth)
    assert 2 * tenth < offset <= third

    # The server is killed between PATCHes; its successor has none of its memory.
    server.kill()
    server.start()
    assert _offset(server.port, token, path) == offset
    last = _tus(server.port, token, "PATCH", path, data[offset:], Upload_Offset=str(offset))
    assert last.status == 204
    assert last.getheader("Upload-Offset") == str(len(data))

    status, photo = request(server.port, "GET", f"/api/v1/photos/{photo_id}", token=token)
    assert status == 200 and photo["status"] == "available", photo
    blob = server.folder / "media" / "blobs" / sha[:2] / sha[2:4] / sha
    assert blob.read_bytes() == data
    assert blob.stat().st_nlink == 1
