"""Odd and broken images from other projects' test suites, through the photo intake.

Every file of the corpus (``tests/corpus/fetch.py``: the test images of Pillow's and
pillow-heif's sdists, ~1,100 files) goes through ``PUT /api/v1/blobs/{sha256}`` and through
tus (one PATCH), on each database. Each is accepted with its EXIF facts (checked against
what Pillow itself reads) and processed within a time bound, or refused with a 4xx whose
message names no server path. Never a 5xx, a processing job that hangs or dies, or a file
in the media store without its ``blobs`` row.

Without the corpus the tests skip, except in CI (``CI=true``), where they fail: a corpus
that silently stopped being fetched would be a suite that silently stopped testing.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import os
import re
import time
import urllib.parse
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from app.photos.models import Blob, Processing
from media import images
from media.errors import MediaError
from tests.corpus.fetch import CorpusMissing, corpus_files

# A processing job of any accepted corpus file ends well within this (the slowest, a 10-bit
# 4032 x 3024 HEIC, takes ~2.5 s here); more is a hung worker.
PROCESS_BOUND_SECONDS = 30
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def corpus() -> list[Path]:
    try:
        return corpus_files()
    except CorpusMissing as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the image corpus: {missing}")
        pytest.skip(str(missing))


@dataclass
class Run:
    """What one pass over the corpus saw: outcomes by kind, and every broken promise."""

    route: str
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)

    def problem(self, path: Path, text: str) -> None:
        self.problems.append(f"{path.parent.name}/{path.name}: {text}")

    def verdict(self) -> str:
        tally = ", ".join(f"{n} {what}" for what, n in sorted(self.outcomes.items()))
        print(f"\nimage corpus via {self.route}: {tally}")
        shown = "\n".join(self.problems[:40])
        return f"{len(self.problems)} problems via {self.route}:\n{shown}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected_refusal(path: Path) -> MediaError | None:
    """What the pipeline itself says of the file (to tally refusals by reason)."""
    try:
        images.inspect_image(path)
    except MediaError as error:
        return error
    return None


def _pillow_facts(path: Path) -> dict:
    """Format, displayed size, orientation and camera as Pillow itself reads them, with
    every plugin and no shortcut (it may decode a PNG to find an eXIf after the pixels).
    Where Pillow cannot read the EXIF, only format and size are compared."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as image:
            # An MPO (a stereo camera's pair) is a JPEG with a second picture after it.
            fmt = "JPEG" if image.format == "MPO" else image.format or ""
            facts = {"media_type": images.MIME_TYPES.get(fmt, fmt)}
            width, height = image.size
            try:
                exif = image.getexif()
            except Exception:  # e.g. an APNG whose frames are out of order
                return {**facts, "width": width, "height": height}
            orientation = exif.get(ExifTags.Base.Orientation)
            orientation = image.info.get("original_orientation", orientation)
            if orientation not in range(1, 9):
                orientation = None
            if image.format != "HEIF" and orientation in (5, 6, 7, 8):
                width, height = height, width
            return {
                **facts,
                "width": width,
                "height": height,
                "orientation": orientation,
                "camera_make": _clean(exif.get(ExifTags.Base.Make)),
                "camera_model": _clean(exif.get(ExifTags.Base.Model)),
            }


def _clean(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.strip("\x00")
    if re.search("[\x00-\x1f\x7f]", value):
        return None
    return value.strip()[:64] or None


class Intake:
    """Sends one file by one route and checks every promise about its outcome."""

    def __init__(self, app, client, headers, session, route: str) -> None:
        self.app, self.client, self.headers, self.session = app, client, headers, session
        self.media = app.extensions["media"]
        self.run = Run(route)
        self.send = self._put if route == "PUT" else self._tus
        self.server_paths = [
            str(self.media.store.root),
            str(self.media.uploads.root),
            str(Path(self.media.store.root).parent),
        ]

    def _put(self, data: bytes):
        return self.client.put(f"/api/v1/blobs/{_sha(data)}", data=data, headers=self.headers)

    def _tus(self, data: bytes):
        metadata = f"sha256 {base64.b64encode(_sha(data).encode()).decode()}"
        created = self.client.post(
            "/api/v1/uploads",
            headers={
                **self.headers,
                **TUS,
                "Upload-Length": str(len(data)),
                "Upload-Metadata": metadata,
            },
        )
        if created.status_code != 201:
            return created
        path = urllib.parse.urlsplit(created.headers["Location"]).path
        return self.client.patch(
            path,
            data=data,
            headers={
                **self.headers,
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
        )

    def feed(self, path: Path) -> bool:
        """Send ``path``; False when the pipeline hung (nothing after it can be trusted)."""
        data = path.read_bytes()
        response = self.send(data)
        status = response.status_code
        if status >= 500:
            self.run.problem(path, f"{status} {response.get_data(as_text=True)[:200]}")
            return True
        if status >= 400:
            self._refused(path, data, response)
            return True
        return self._accepted(path, data)

    def _refused(self, path: Path, data: bytes, response) -> None:
        message = (response.get_json(silent=True) or {}).get("message", "")
        if not message:
            self.run.problem(path, f"{response.status_code} without a message")
        if any(p in message for p in self.server_paths) or re.search(r"/\w+/", message):
            self.run.problem(path, f"message names a server path: {message}")
        expected = _expected_refusal(path)
        reason = expected.reason if expected else "other"
        self.run.outcomes[f"refused {response.status_code} {reason}"] += 1
        sha = _sha(data)
        self.session.expire_all()
        if self.session.get(Blob, sha) is None and self.media.store.exists(sha):
            self.run.problem(path, "refused, but its file stays in the media store")

    def _accepted(self, path: Path, data: bytes) -> bool:
        sha = _sha(data)
        started = time.monotonic()
        if not self.media.queue.join(timeout=PROCESS_BOUND_SECONDS):
            self.run.problem(path, f"processing still running after {PROCESS_BOUND_SECONDS} s")
            return False
        took = time.monotonic() - started
        self.session.expire_all()
        blob = self.session.get(Blob, sha)
        if blob is None or not self.media.store.exists(sha):
            self.run.problem(path, f"accepted, but blob row {blob} / file missing")
            return True
        self._check_facts(path, blob)
        self._check_photo_record(path, sha)
        if blob.processing == Processing.QUEUED:
            self.run.problem(path, f"processing gave up in {took:.1f} s: {blob.processing_error}")
        self.run.outcomes[f"accepted, processing {blob.processing}"] += 1
        for size, thumb in (blob.thumbnails or {}).items():
            if not self.media.store.exists(thumb):
                self.run.problem(path, f"thumbnail {size} missing from the store")
        return True

    def _check_facts(self, path: Path, blob: Blob) -> None:
        expected = _pillow_facts(path)
        got = {key: getattr(blob, key) for key in expected}
        if got != expected:
            self.run.problem(path, f"facts {got} != Pillow's {expected}")

    def _check_photo_record(self, path: Path, sha: str) -> None:
        """The photo record serialises whatever EXIF the file carries (dates, GPS, text)."""
        body = {"id": str(uuid.uuid4()), "sha256": sha, "kind": "problem"}
        created = self.client.post("/api/v1/photos", json=body, headers=self.headers)
        shown = self.client.get(f"/api/v1/photos/{body['id']}", headers=self.headers)
        if created.status_code != 201 or shown.status_code != 200:
            self.run.problem(path, f"photo record: {created.status_code}, {shown.status_code}")
        elif shown.get_json()["exif"] is None:
            self.run.problem(path, f"photo record without EXIF facts: {shown.get_json()}")


def _debris(media) -> list[str]:
    """Files no blob owns: temporaries of puts, bytes of uploads that ended."""
    store_tmp = [p.name for p in (Path(media.store.root) / "tmp").iterdir()]
    upload_data = [str(p.parent.name) for p in Path(media.uploads.root).glob("*/data")]
    return store_tmp + upload_data


@pytest.mark.parametrize("route", ["PUT", "tus"])
def test_every_corpus_image_is_accepted_with_its_facts_or_refused_with_a_4xx(
    app, client, auth, session, corpus, route
):
    intake = Intake(app, client, auth("inspector"), session, route)
    failed_before = len(intake.media.queue.failed())
    # The app is the whole session's: what other tests left (an upload they abandoned on
    # purpose) is theirs, not this run's.
    debris_before = set(_debris(intake.media))
    for path in corpus:
        if not intake.feed(path):
            break
    failed = intake.media.queue.failed()[failed_before:]
    intake.run.problems.extend(f"job failed every retry: {job.error}" for job in failed)
    intake.run.problems.extend(
        f"debris: {name}" for name in _debris(intake.media) if name not in debris_before
    )
    assert not intake.run.problems, intake.run.verdict()
    intake.run.verdict()
    assert sum(intake.run.outcomes.values()) == len(corpus)
