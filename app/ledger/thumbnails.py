"""The ledger's pictures: the 1024 px thumbnails of its photos, read from the blob store.

On the disk store a thumbnail is read where it lies; from an object store it is copied
into the export's own work folder first (XlsxWriter packs pictures from files when the
workbook closes, so a picture is never held in memory, only its path).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from PIL import Image

from media.errors import BlobNotFound
from media.storage import BlobStore, DiskBlobStore


@dataclasses.dataclass(frozen=True)
class Picture:
    path: Path
    width: int
    height: int
    mode: str
    size: int


class Thumbnails:
    def __init__(self, store: BlobStore, workdir: Path) -> None:
        self.store = store
        self.workdir = workdir

    def _local(self, sha256: str) -> Path | None:
        if isinstance(self.store, DiskBlobStore):
            path = self.store.path_of(sha256)
            return path if path.is_file() else None
        copy = self.workdir / sha256
        if not copy.exists():
            try:
                with self.store.open(sha256) as source, copy.open("wb") as out:
                    shutil.copyfileobj(source, out, 256 * 1024)
            except BlobNotFound:
                copy.unlink(missing_ok=True)
                return None
        return copy

    def picture(self, sha256: str | None) -> Picture | None:
        """The thumbnail's file and what its header says (no pixels decoded); None when it
        is missing or not a JPEG."""
        if sha256 is None:
            return None
        path = self._local(sha256)
        if path is None:
            return None
        with Image.open(path) as image:
            if image.format != "JPEG" or image.mode not in ("RGB", "L"):
                return None
            width, height = image.size
            mode = image.mode
        return Picture(path, width, height, mode, path.stat().st_size)
