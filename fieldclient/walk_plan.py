"""A field walk's plan: from a folder of photos to the reports they become.

Each photo (JPEG, PNG, HEIC/HEIF, WebP), in the order it was taken (EXIF time, else file
name), becomes one stop: a ``report.create`` with that photo as its problem photo.

Where a report is:
1. ``walk.json`` in the folder, if it names the photo (see ``read_manifest``);
2. else the photo's EXIF GPS position (WGS-84);
3. else ``--lat``/``--lon``, a start point, moved about 11 m north per photo;
4. else the photo is left out, and said so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fieldclient.uploads import hash_file
from media.errors import MediaError
from media.images import inspect_image

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp"})
MANIFEST = "walk.json"
DEFAULT_CATEGORY = "06010"  # 暴露垃圾 (GB/T 47678 event): a code of one category only
STEP_DEGREES = 0.0001  # about 11 m of latitude between photos placed from a start point


class WalkError(Exception):
    """The folder or its manifest cannot be replayed as given."""


@dataclasses.dataclass(frozen=True)
class Options:
    """What the command line says for every photo. A value given here wins over the
    manifest's defaults, and loses to what the manifest says for one photo."""

    category_code: str | None = None
    description: str | None = None
    address: str | None = None
    crs: str | None = None
    start: tuple[float, float] | None = None
    camera_offset: dt.tzinfo = dt.timezone(dt.timedelta(hours=8))


@dataclasses.dataclass(frozen=True)
class Shot:
    """A usable photo of the folder, as the camera recorded it."""

    path: Path
    sha256: str
    taken_at: dt.datetime | None
    gps: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Stop:
    """One photo of the walk and the report it becomes."""

    path: Path
    sha256: str
    taken_at: dt.datetime | None
    location: dict[str, Any]
    category_code: str
    description: str
    address: str


def photo_files(folder: Path) -> list[Path]:
    """The photos of a folder (not its subfolders), hidden files left out."""
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file()
        and path.suffix.lower() in PHOTO_SUFFIXES
        and not path.name.startswith(".")
    )


def read_manifest(folder: Path) -> dict[str, Any]:
    """``walk.json``: defaults for every photo, and per photo what the camera did not record.

    ``{"category_code": "06010", "description": "…", "address": "…", "crs": "gcj02",
    "photos": {"IMG_0001.jpg": {"lat": 24.4798, "lon": 118.0894, "crs": "gcj02",
    "category_code": "…", "description": "…", "address": "…"}}}`` — every key optional.
    """
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WalkError(f"{path} is not readable JSON: {error}") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("photos", {}), dict):
        raise WalkError(f"{path}: an object with an optional 'photos' object is expected")
    return manifest


def plan_walk(
    folder: Path, options: Options, on_progress: Callable | None = None
) -> tuple[list[Stop], dict[str, str]]:
    """The walk's stops in the order the photos were taken, and the photos left out."""
    manifest = read_manifest(folder)
    shots, left_out = scan_photos(photo_files(folder), options.camera_offset, on_progress)
    stops: list[Stop] = []
    for index, shot in enumerate(shots):
        stop = _stop(shot, index, manifest, options)
        if stop is None:
            left_out[shot.path.name] = "no location: no EXIF GPS, not in walk.json, no --lat/--lon"
            continue
        stops.append(stop)
    return stops, left_out


def scan_photos(
    files: list[Path], camera_offset: dt.tzinfo, on_progress: Callable | None = None
) -> tuple[list[Shot], dict[str, str]]:
    """The usable photos by the time taken, as the camera's clock read it (those without
    one after, by name), and the files left out: not an image, or the bytes of another."""
    shots: list[Shot] = []
    left_out: dict[str, str] = {}
    seen: dict[str, str] = {}  # sha256 → the first file with those bytes
    for done, path in enumerate(files, start=1):
        try:
            facts = inspect_image(path)
        except MediaError as error:
            left_out[path.name] = f"not a usable photo: {error}"
            continue
        finally:
            if on_progress is not None:
                on_progress("scan", done, len(files))
        taken_at = facts.taken_at
        if taken_at is not None and taken_at.tzinfo is None:
            taken_at = taken_at.replace(tzinfo=camera_offset)
        gps = None
        if facts.gps is not None:
            gps = {"lat": facts.gps.latitude, "lon": facts.gps.longitude, "crs": "wgs84"}
        sha256, _ = hash_file(path)
        if sha256 in seen:
            left_out[path.name] = f"the same photo as {seen[sha256]}"
            continue
        seen[sha256] = path.name
        shots.append(Shot(path, sha256, taken_at, gps))
    shots.sort(key=_taken_order)
    return shots, left_out


def _taken_order(shot: Shot) -> tuple[bool, dt.datetime | None, str]:
    taken_at = shot.taken_at.replace(tzinfo=None) if shot.taken_at else None
    return shot.taken_at is None, taken_at, shot.path.name


def _stop(shot: Shot, index: int, manifest: Mapping[str, Any], options: Options) -> Stop | None:
    """The report a photo becomes, or None when nothing says where it was taken."""
    own = manifest.get("photos", {}).get(shot.path.name) or {}
    if not isinstance(own, Mapping):
        raise WalkError(f"{MANIFEST}: photos.{shot.path.name} is not an object")

    def setting(key: str, default: Any) -> Any:
        for value in (own.get(key), getattr(options, key), manifest.get(key)):
            if value is not None and value != "":
                return value
        return default

    location = _location(own, setting("crs", "wgs84"), shot.gps, options.start, index)
    if location is None:
        return None
    return Stop(
        path=shot.path,
        sha256=shot.sha256,
        taken_at=shot.taken_at,
        location=location,
        category_code=str(setting("category_code", DEFAULT_CATEGORY)),
        description=str(setting("description", f"巡查上报：{shot.path.name}")),
        address=str(setting("address", "")),
    )


def _location(
    own: Mapping[str, Any],
    crs: str,
    gps: dict | None,
    start: tuple[float, float] | None,
    index: int,
) -> dict[str, Any] | None:
    if own.get("lat") is not None or own.get("lon") is not None:
        try:
            return {"lat": float(own["lat"]), "lon": float(own["lon"]), "crs": crs}
        except (KeyError, TypeError, ValueError):
            raise WalkError(f"{MANIFEST}: a photo's lat and lon are two numbers") from None
    if gps is not None:
        return gps
    if start is not None:
        lat, lon = start
        return {"lat": round(lat + index * STEP_DEGREES, 7), "lon": lon, "crs": crs}
    return None
