"""Builds the media pipeline's storage, upload store and job queue from the app config."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_app_context

from media.jobs import (
    Backoff,
    FailedJob,
    InProcessQueue,
    JobQueue,
    JobRegistry,
    QueueStats,
    RedisQueue,
    current_request_id,
)
from media.resumable import UploadStore
from media.s3uploads import S3UploadParts
from media.storage import BlobStore, DiskBlobStore, S3BlobStore

registry = JobRegistry()

# Apps by token, so a job run by the in-process worker thread finds the app that queued it
# (tests build several apps in one process). A Redis worker builds its own app instead.
_apps: dict[str, Flask] = {}


@dataclasses.dataclass
class Media:
    store: BlobStore
    uploads: UploadStore
    queue: JobQueue
    app_token: str
    max_bytes: int
    max_pixels: int
    max_lossless_pixels: int
    thumbnail_sizes: tuple[int, ...]
    # Partial tus uploads in the bucket (MEDIA_BACKEND=s3), else None: in UPLOADS_ROOT.
    parts: S3UploadParts | None = None


def _blob_store(config: dict) -> BlobStore:
    if config["MEDIA_BACKEND"] == "s3":
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=config.get("S3_ENDPOINT_URL") or None,
            region_name=config.get("S3_REGION") or None,
            config=Config(s3={"addressing_style": config.get("S3_ADDRESSING_STYLE") or "auto"}),
        )
        return S3BlobStore(config["S3_BUCKET"], client, prefix=config["S3_PREFIX"])
    if config["MEDIA_BACKEND"] != "disk":
        raise ValueError(f"MEDIA_BACKEND must be disk or s3, not {config['MEDIA_BACKEND']!r}")
    return DiskBlobStore(Path(config["MEDIA_ROOT"]) / "blobs")


class RequestTaggedQueue:
    """The job queue as use cases see it: a job queued while serving a request (or by a
    job that one queued) carries that request's id, so the worker's log lines for it name
    the request. Everything else is the backend queue's."""

    def __init__(self, inner: JobQueue) -> None:
        self.inner = inner

    def enqueue(
        self, name: str, payload: Mapping[str, Any], *, request_id: str | None = None
    ) -> str:
        tagged = request_id or (g.get("request_id") if has_app_context() else None)
        return self.inner.enqueue(name, payload, request_id=tagged or current_request_id())

    def failed(self) -> list[FailedJob]:
        return self.inner.failed()

    def stats(self) -> QueueStats:
        return self.inner.stats()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _job_queue(config: dict) -> JobQueue:
    backoff = Backoff(retries=config["MEDIA_JOB_RETRIES"], first_delay=config["MEDIA_JOB_DELAY"])
    if config["JOB_QUEUE"] == "redis":
        import redis

        return RedisQueue(
            registry,
            redis.Redis.from_url(config["REDIS_URL"]),
            backoff=backoff,
            name=config["JOB_QUEUE_NAME"],
        )
    return InProcessQueue(registry, backoff)


def init_media(app: Flask) -> None:
    # The job functions register themselves on import.
    from app.photos import jobs  # noqa: F401

    config = app.config
    token = uuid.uuid4().hex
    _apps[token] = app
    store = _blob_store(config)
    parts = None
    if isinstance(store, S3BlobStore):
        parts = S3UploadParts(store.bucket, store.client, prefix=config["S3_UPLOADS_PREFIX"])
    app.extensions["media"] = Media(
        store=store,
        uploads=UploadStore(Path(config["UPLOADS_ROOT"]), max_length=config["PHOTO_MAX_BYTES"]),
        queue=RequestTaggedQueue(_job_queue(config)),
        app_token=token,
        max_bytes=config["PHOTO_MAX_BYTES"],
        max_pixels=config["MAX_IMAGE_PIXELS"],
        max_lossless_pixels=config["MAX_LOSSLESS_PIXELS"],
        thumbnail_sizes=tuple(config["THUMBNAIL_SIZES"]),
        parts=parts,
    )


def media() -> Media:
    return current_app.extensions["media"]


def app_for_token(token: str | None) -> Flask | None:
    return _apps.get(token or "")


@contextlib.contextmanager
def local_path(store: BlobStore, sha256: str) -> Iterator[Path]:
    """A local file with the blob's bytes: the stored file itself on disk, else a temporary
    copy streamed from the object store."""
    if isinstance(store, DiskBlobStore):
        yield store.path_of(sha256)
        return
    with tempfile.NamedTemporaryFile(prefix="blob-", suffix=".bin") as copy:
        with store.open(sha256) as source:
            shutil.copyfileobj(source, copy, 1024 * 1024)
        copy.flush()
        yield Path(copy.name)
