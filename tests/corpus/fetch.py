"""Fetch the image corpus: the test images of Pillow's and pillow-heif's source distributions.

About 1,100 odd and broken files (every format Pillow reads, truncated and corrupt ones,
decompression bombs, fuzzer finds, HEIF edge cases) that ``test_image_corpus.py`` feeds
through the photo intake. They are fetched, never committed: ``pip download`` of the
sdists of the versions ``pyproject.toml`` pins (the ones installed), unpacked into
``.cache/image-corpus/<name>-<version>/`` (or ``$IMAGE_CORPUS_DIR``). Run it again and it
does nothing; ``.ci/run`` runs it before ``make test``::

    .venv/bin/python -m tests.corpus.fetch
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".cache" / "image-corpus"
# Each source distribution's folder of test images, below the sdist's top folder.
SOURCES = {"pillow": "Tests/images", "pillow-heif": "tests/images"}
COMPLETE = ".complete"


class CorpusMissing(RuntimeError):
    """The corpus has not been fetched (or only in part)."""


def corpus_dir() -> Path:
    return Path(os.environ.get("IMAGE_CORPUS_DIR") or DEFAULT_DIR)


def _folder(name: str) -> Path:
    return corpus_dir() / f"{name}-{metadata.version(name)}"


def corpus_files() -> list[Path]:
    """Every file of the corpus, sorted; :class:`CorpusMissing` if it is not all there."""
    files: list[Path] = []
    for name in SOURCES:
        folder = _folder(name)
        if not (folder / COMPLETE).exists():
            raise CorpusMissing(
                f"the image corpus is not in {folder}: run `.venv/bin/python -m tests.corpus.fetch`"
            )
        files.extend(p for p in folder.rglob("*") if p.is_file() and p.name != COMPLETE)
    return sorted(files)


def _download(name: str, version: str, into: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"{name}=={version}",
            "-d",
            str(into),
        ],
        check=True,
    )
    (sdist,) = into.glob("*.tar.gz")
    return sdist


def _unpack(sdist: Path, images: str, target: Path) -> int:
    """Copy the regular files under ``<top>/<images>/`` to ``target``; nothing else, and no
    member may climb out of it (an sdist is outside input too)."""
    count = 0
    with tarfile.open(sdist) as archive:
        for member in archive:
            parts = PurePosixPath(member.name).parts
            inside = PurePosixPath(*parts[1:]) if len(parts) > 1 else PurePosixPath()
            if not member.isfile() or not inside.is_relative_to(images) or ".." in parts:
                continue
            destination = target / inside.relative_to(images)
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with source, destination.open("wb") as out:
                out.write(source.read())
            count += 1
    return count


def fetch() -> list[Path]:
    """Download and unpack what is missing; return the corpus's files."""
    for name, images in SOURCES.items():
        folder = _folder(name)
        if (folder / COMPLETE).exists():
            continue
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Unpacked next to its place, so the finished folder appears there in one rename.
        with tempfile.TemporaryDirectory(prefix=".fetching-", dir=folder.parent) as work:
            sdist = _download(name, metadata.version(name), Path(work))
            staging = Path(work) / "unpacked"
            count = _unpack(sdist, images, staging)
            if count == 0:
                raise CorpusMissing(f"{sdist.name} has no {images}/")
            (staging / COMPLETE).write_text(f"{count} files from {sdist.name}\n")
            if folder.exists():
                shutil.rmtree(folder)  # an earlier fetch that died half-way
            staging.rename(folder)
    return corpus_files()


def main() -> None:
    files = fetch()
    print(f"image corpus: {len(files)} files in {corpus_dir()}")


if __name__ == "__main__":
    main()
