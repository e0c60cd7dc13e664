"""tus uploads with MEDIA_BACKEND=s3 (issue 15): two apps with separate UPLOADS_ROOT on one
database and one bucket continue each other's uploads; the offset advances under the
row's lock, so a PATCH that lost a race answers 409 and leaves no piece behind; expired
uploads are purged with their pieces, from any app, once."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import threading

import pytest
import sqlalchemy as sa

from app import create_app
from app.photos import uploads
from app.photos.models import Blob, TusUpload
from tests import database
from tests.factories import login_headers, make_world
from tests.integration import test_photos_s3 as s3
from tests.integration.test_photos_s3 import PREFIX, REGION, _everything, _photo

# The S3 fixtures: moto's server and a fresh bucket per test.
s3_endpoint = s3.s3_endpoint
bucket = s3.bucket

pytest.importorskip("moto.server")


def _s3_app(app, tmp_path, name: str, bucket_name: str, endpoint: str):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URL"],
            "MEDIA_ROOT": str(tmp_path / name / "media"),
            "UPLOADS_ROOT": str(tmp_path / name / "uploads"),
            "MEDIA_BACKEND": "s3",
            "S3_BUCKET": bucket_name,
            "S3_ENDPOINT_URL": endpoint,
            "S3_REGION": REGION,
            "S3_PREFIX": PREFIX,
            "MEDIA_JOB_DELAY": 0.05,
        }
    )


@pytest.fixture
def hosts(app, committing, clean_db, tmp_path, bucket, s3_endpoint):
    """Two apps, as two hosts: one database and one bucket, upload folders of their own."""
    name, _ = bucket
    apps = (
        _s3_app(app, tmp_path, "a", name, s3_endpoint),
        _s3_app(app, tmp_path, "b", name, s3_endpoint),
    )
    yield apps
    database.drain_workers(*apps)  # before the tables are emptied


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tus(headers: dict, **extra: str) -> dict:
    return {**headers, "Tus-Resumable": "1.0.0", **extra}


def _create(client, headers, data: bytes):
    metadata = f"sha256 {base64.b64encode(_sha(data).encode()).decode()}"
    created = client.post(
        "/api/v1/uploads",
        headers=_tus(headers, **{"Upload-Length": str(len(data)), "Upload-Metadata": metadata}),
    )
    assert created.status_code == 201, created.get_json()
    return "/api/v1/uploads/" + created.headers["Location"].rsplit("/", 1)[1]


def _patch(client, headers, path: str, offset: int, body: bytes, **extra: str):
    return client.patch(
        path,
        data=body,
        headers=_tus(
            headers,
            **{
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
                **extra,
            },
        ),
    )


def _pieces(bucket) -> set[str]:
    return {key for key in _everything(bucket) if key.startswith("uploads/")}


def test_an_upload_begun_on_one_host_is_continued_and_finished_on_the_other(
    hosts,
    session,
    bucket,
):
    make_world(session)
    a, b = (host.test_client() for host in hosts)
    headers = login_headers(a, "t_inspector")
    data = _photo(seed=11, size=(1600, 1200))
    path = _create(a, headers, data)
    third = len(data) // 3

    assert b.head(path, headers=_tus(headers)).headers["Upload-Offset"] == "0"
    assert _patch(b, headers, path, 0, data[:third]).status_code == 204
    assert a.head(path, headers=_tus(headers)).headers["Upload-Offset"] == str(third)
    # A stale offset is refused before any byte is stored.
    stale = _patch(b, headers, path, 0, data[:third])
    assert stale.status_code == 409 and len(_pieces(bucket)) == 1
    assert _patch(a, headers, path, third, data[third : 2 * third]).status_code == 204
    done = _patch(b, headers, path, 2 * third, data[2 * third :])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(data))

    name, admin = bucket
    assert admin.get_object(Bucket=name, Key=f"{PREFIX}{_sha(data)}")["Body"].read() == data
    assert session.get(Blob, _sha(data)) is not None
    assert _pieces(bucket) == set()  # the pieces go once the blob is stored
    row = session.scalars(sa.select(TusUpload)).one()
    assert (row.backend, row.completed_sha256, row.upload_offset) == ("s3", _sha(data), len(data))
    # Both hosts answer a lost last answer's HEAD and its repeat as complete.
    assert a.head(path, headers=_tus(headers)).headers["Upload-Offset"] == str(len(data))
    again = _patch(a, headers, path, 2 * third, data[2 * third :])
    assert again.status_code == 409
    repeat = _patch(a, headers, path, len(data), b"")
    assert repeat.status_code == 204 and repeat.headers["Upload-Offset"] == str(len(data))
    # Another user does not see it.
    other = login_headers(b, "t_handler")
    assert b.head(path, headers=_tus(other)).status_code == 404


def test_a_patch_that_loses_the_race_for_the_offset_is_409_and_leaves_no_piece(
    hosts,
    session,
    bucket,
    monkeypatch,
):
    make_world(session)
    host_a, host_b = hosts
    a, b = host_a.test_client(), host_b.test_client()
    headers = login_headers(a, "t_inspector")
    data = _photo(seed=12, size=(1200, 900))
    path = _create(a, headers, data)
    half = len(data) // 2
    parts_b = host_b.extensions["media"].parts
    write = parts_b.write
    winner: list = []

    def slow_write(*args, **kwargs):
        # Host A's PATCH at the same offset lands while host B's bytes are on their way.
        written = write(*args, **kwargs)
        winner.append(_patch(a, headers, path, 0, data[:half]))
        return written

    monkeypatch.setattr(parts_b, "write", slow_write)
    lost = _patch(b, headers, path, 0, data[:half])
    assert winner[0].status_code == 204
    assert lost.status_code == 409, lost.get_json()
    row = session.scalars(sa.select(TusUpload)).one()
    session.refresh(row)
    assert row.upload_offset == half
    assert _pieces(bucket) == {key for key, _ in row.state["pieces"]}


def test_a_wrong_checksum_is_460_and_a_hang_up_keeps_what_arrived(hosts, session, bucket):
    make_world(session)
    host = hosts[0]
    client = host.test_client()
    headers = login_headers(client, "t_inspector")
    data = _photo(seed=13)
    path = _create(client, headers, data)
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    refused = _patch(client, headers, path, 0, data[:1000], **{"Upload-Checksum": f"sha1 {wrong}"})
    assert refused.status_code == 460 and _pieces(bucket) == set()

    class HangsUp(io.BytesIO):
        def read(self, size=-1):
            if self.tell() >= 700:
                raise OSError("client went away")
            return super().read(min(size, 100))

    upload_id = path.rsplit("/", 1)[1]
    with host.test_request_context():
        from app.accounts.models import User
        from app.extensions import db

        user = db.session.scalars(sa.select(User).where(User.username == "t_inspector")).one()
        with pytest.raises(OSError):
            uploads.append_upload(
                db.session, host.extensions["media"], user, upload_id, 0, HangsUp(data), None
            )
    assert client.head(path, headers=_tus(headers)).headers["Upload-Offset"] == "700"
    assert _patch(client, headers, path, 700, data[700:]).status_code == 204
    assert session.get(Blob, _sha(data)) is not None


def test_a_wrong_photo_hash_at_completion_drops_the_upload_and_its_pieces(
    hosts,
    session,
    bucket,
):
    make_world(session)
    client = hosts[0].test_client()
    headers = login_headers(client, "t_inspector")
    data = _photo(seed=14)
    metadata = f"sha256 {base64.b64encode(('3' * 64).encode()).decode()}"
    created = client.post(
        "/api/v1/uploads",
        headers=_tus(headers, **{"Upload-Length": str(len(data)), "Upload-Metadata": metadata}),
    )
    path = "/api/v1/uploads/" + created.headers["Location"].rsplit("/", 1)[1]
    assert _patch(client, headers, path, 0, data).status_code == 422
    assert _everything(bucket) == set()
    assert session.scalar(sa.select(sa.func.count()).select_from(TusUpload)) == 0
    assert client.head(path, headers=_tus(headers)).status_code == 404


def test_purge_removes_expired_uploads_and_pieces_once_from_any_host(hosts, session, bucket):
    make_world(session)
    a = hosts[0].test_client()
    headers = login_headers(a, "t_inspector")
    stale, fresh = _photo(seed=15), _photo(seed=16)
    stale_path, fresh_path = _create(a, headers, stale), _create(a, headers, fresh)
    assert _patch(a, headers, stale_path, 0, stale[:500]).status_code == 204
    assert _patch(a, headers, fresh_path, 0, fresh[:500]).status_code == 204
    stale_id = stale_path.rsplit("/", 1)[1]
    session.execute(
        sa.update(TusUpload)
        .where(TusUpload.id == stale_id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    )
    session.commit()
    assert a.head(stale_path, headers=_tus(headers)).status_code == 410

    counts: list[int] = []

    def purge(host) -> None:
        with host.app_context():
            from app.extensions import db

            counts.append(uploads.purge_uploads(db.session, host.extensions["media"]))

    threads = [threading.Thread(target=purge, args=(host,)) for host in hosts]
    if session.bind.dialect.name == "sqlite":
        for thread in threads:  # one writer at a time: no SKIP LOCKED to show
            thread.start()
            thread.join(30)
    else:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(counts) == [0, 1]
    assert session.scalars(sa.select(TusUpload.id)).all() == [fresh_path.rsplit("/", 1)[1]]
    assert all(fresh_path.rsplit("/", 1)[1] in key for key in _pieces(bucket))
    assert len(_pieces(bucket)) == 1
    result = hosts[1].test_cli_runner().invoke(args=["photos", "purge-uploads"])
    assert result.exit_code == 0 and "purged 0" in result.output, result.output


def test_a_finish_that_died_is_done_by_the_next_purge(hosts, session, bucket, monkeypatch):
    """The store fails the completing PATCH after every byte arrived (as if its host were
    killed there): HEAD says complete, so the client sends nothing more; the next purge
    past STALLED_FINISH, on another host, makes the blob and the photo available."""
    make_world(session)
    host_a, host_b = hosts
    a = host_a.test_client()
    headers = login_headers(a, "t_inspector")
    data = _photo(seed=17)
    photo_id = "6f1c7a52-0d0b-4a8e-9d6e-3b2f7f0c9a11"
    body = {"id": photo_id, "sha256": _sha(data), "kind": "problem"}
    assert a.post("/api/v1/photos", json=body, headers=headers).status_code == 201
    path = _create(a, headers, data)

    def store_down(*_args, **_kwargs):
        raise ConnectionError("the object store went away")

    monkeypatch.setattr(host_a.extensions["media"].store, "put_stream", store_down)
    assert _patch(a, headers, path, 0, data).status_code == 500
    monkeypatch.undo()
    assert a.head(path, headers=_tus(headers)).headers["Upload-Offset"] == str(len(data))
    assert a.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()["status"] == "pending"

    with host_b.app_context():
        from app.extensions import db

        media = host_b.extensions["media"]
        assert uploads.finish_stalled_uploads(db.session, media) == 0  # not stalled yet
        later = dt.datetime.now(dt.UTC) + uploads.STALLED_FINISH
        assert uploads.purge_uploads(db.session, media, now=later) == 0
        assert uploads.finish_stalled_uploads(db.session, media, now=later) == 0  # done

    assert a.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()["status"] == "available"
    row = session.scalars(sa.select(TusUpload)).one()
    session.refresh(row)
    assert row.completed_sha256 == _sha(data) and "finishing" not in row.state
    assert _pieces(bucket) == set()
