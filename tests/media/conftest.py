"""Fixtures for the media package: storage backends and an S3 wire-protocol server.

The S3 backend is exercised over real HTTP against moto's server mode on loopback, so
boto3's request signing, multipart calls and error responses are the real ones.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from media.storage import BlobStore, DiskBlobStore, S3BlobStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on a free loopback port for the whole session."""
    moto_server = pytest.importorskip("moto.server")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


@dataclass
class Backend:
    """A store under test plus a way to list everything it holds, blobs or debris."""

    store: BlobStore
    everything: Callable[[], set[str]]
    blob_entry: Callable[[str], str]


def _disk_backend(root: Path) -> Backend:
    store = DiskBlobStore(root, chunk_size=64 * 1024)

    def everything() -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    return Backend(store, everything, lambda sha: f"{sha[:2]}/{sha[2:4]}/{sha}")


def _s3_backend(client) -> Backend:
    bucket = f"media-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, client, part_size=5 * 1024 * 1024)

    def everything() -> set[str]:
        keys = {
            obj["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])
        }
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return keys | {f"multipart:{u['Key']}" for u in uploads}

    return Backend(store, everything, lambda sha: f"blobs/{sha}")


@pytest.fixture(params=["disk", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "disk":
        return _disk_backend(tmp_path / "blobs")
    return _s3_backend(request.getfixturevalue("s3_client"))
