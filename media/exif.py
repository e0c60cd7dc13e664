"""What a photo's EXIF says, read from the header only: orientation, GPS, the time taken
and the camera. Garbage in a tag is dropped with a warning (``ImageFacts.warnings``), so a
fraud check can tell "no GPS" from "garbage GPS"; nothing here raises for bad metadata."""

from __future__ import annotations

import math
import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import ExifTags, Image


@dataclass(frozen=True)
class GpsPoint:
    """A WGS-84 position in decimal degrees (EXIF GPS is WGS-84 by definition)."""

    latitude: float
    longitude: float
    altitude: float | None = None


def read_exif(image: Image.Image, fmt: str, warnings: list[str]) -> Image.Exif:
    try:
        if fmt == "PNG":
            # PngImageFile.getexif() may decode the whole image to look for an eXIf chunk
            # after the pixels; the spec puts eXIf before them. Pillow's base getexif()
            # reads what came before the pixels: eXIf, an ImageMagick "Raw profile type
            # exif" text chunk, and the orientation of an XMP packet. ImageMagick writes
            # eXIf after the pixels all the same: that chunk is found by its header alone.
            if "exif" not in image.info and image.fp is not None:
                after = _png_exif_after_pixels(image.fp)
                if after is not None:
                    image.info["exif"] = b"Exif\x00\x00" + after
            return Image.Image.getexif(image)
        return image.getexif()
    except Exception:
        warnings.append("exif_unreadable")
        return Image.Exif()


# An eXIf chunk larger than this is not a camera's EXIF; it is left unread.
_MAX_PNG_EXIF = 1024 * 1024


def _png_exif_after_pixels(fp) -> bytes | None:
    """The body of a PNG's eXIf chunk wherever it is, walking the chunk headers and
    seeking over their bodies (nothing is inflated); ``fp`` is left where it was."""
    start = fp.tell()
    try:
        fp.seek(8)
        while len(header := fp.read(8)) == 8:
            length, kind = struct.unpack(">I4s", header)
            if kind == b"eXIf":
                return fp.read(length) if length <= _MAX_PNG_EXIF else None
            if kind == b"IEND":
                return None
            fp.seek(length + 4, os.SEEK_CUR)
        return None
    finally:
        fp.seek(start)


def orientation_of(
    image: Image.Image, fmt: str, exif: Image.Exif, warnings: list[str]
) -> int | None:
    value: Any = exif.get(ExifTags.Base.Orientation)
    if fmt == "HEIF":
        # pillow-heif applies the rotation itself and resets the EXIF tag to 1; the
        # camera's value is kept aside.
        value = image.info.get("original_orientation", value)
    if value is None:
        return None
    if isinstance(value, int) and 1 <= value <= 8:
        return value
    warnings.append("orientation_invalid")
    return None


def _ifd(exif: Image.Exif, which: ExifTags.IFD, warnings: list[str], name: str) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(which))
    except Exception:
        warnings.append(f"{name}_unreadable")
        return {}


def gps_point(exif: Image.Exif, warnings: list[str]) -> GpsPoint | None:
    gps = _ifd(exif, ExifTags.IFD.GPSInfo, warnings, "gps")
    if not gps:
        return None
    try:
        latitude = _degrees(gps[ExifTags.GPS.GPSLatitude], gps[ExifTags.GPS.GPSLatitudeRef], "NS")
        longitude = _degrees(
            gps[ExifTags.GPS.GPSLongitude], gps[ExifTags.GPS.GPSLongitudeRef], "EW"
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        warnings.append("gps_invalid")
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        warnings.append("gps_invalid")
        return None
    if latitude == 0 and longitude == 0:
        # Phones without a fix write zeros; nothing this service manages is at 0 deg, 0 deg.
        warnings.append("gps_zero")
        return None
    return GpsPoint(latitude, longitude, _altitude(gps, warnings))


def _degrees(value: Any, ref: Any, refs: str) -> float:
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = str(ref).strip("\x00 ").upper()
    if ref not in refs:
        raise ValueError(f"bad GPS reference {ref!r}")
    parts = [float(part) for part in value]
    if len(parts) != 3 or not all(math.isfinite(p) and p >= 0 for p in parts):
        raise ValueError("bad GPS degrees/minutes/seconds")
    degrees, minutes, seconds = parts
    if minutes >= 60 or seconds >= 60:
        raise ValueError("GPS minutes or seconds out of range")
    decimal = degrees + minutes / 60 + seconds / 3600
    return -decimal if ref == refs[1] else decimal


def _altitude(gps: dict[int, Any], warnings: list[str]) -> float | None:
    if ExifTags.GPS.GPSAltitude not in gps:
        return None
    try:
        altitude = float(gps[ExifTags.GPS.GPSAltitude])
        below = gps.get(ExifTags.GPS.GPSAltitudeRef, 0)
        if isinstance(below, bytes):
            below = below[:1] == b"\x01"
        if not math.isfinite(altitude) or abs(altitude) > 100_000:
            raise ValueError(altitude)
    except (TypeError, ValueError, ZeroDivisionError):
        warnings.append("gps_altitude_invalid")
        return None
    return -altitude if below else altitude


_EXIF_TIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


def time_taken(exif: Image.Exif, warnings: list[str]) -> tuple[datetime | None, bool]:
    sub = _ifd(exif, ExifTags.IFD.Exif, warnings, "exif_ifd")
    raw = _as_text(sub.get(ExifTags.Base.DateTimeOriginal))
    if not raw or not raw.strip(" :0"):
        # Absent, or the blank "    :  :     :  :  " some cameras write.
        return None, False
    match = _EXIF_TIME.fullmatch(raw.strip())
    try:
        if not match:
            raise ValueError(raw)
        taken = datetime(*(int(part) for part in match.groups()))
    except ValueError:
        warnings.append("taken_at_invalid")
        return None, False
    subsec = _as_text(sub.get(ExifTags.Base.SubsecTimeOriginal))
    if subsec and subsec.strip().isdigit():
        taken = taken.replace(microsecond=int(subsec.strip()[:6].ljust(6, "0")))
    offset = _as_text(sub.get(ExifTags.Base.OffsetTimeOriginal))
    if offset:
        found = _EXIF_OFFSET.fullmatch(offset.strip())
        if found and int(found[2]) <= 14 and int(found[3]) < 60:
            delta = timedelta(hours=int(found[2]), minutes=int(found[3]))
            return taken.replace(tzinfo=timezone(-delta if found[1] == "-" else delta)), True
        warnings.append("taken_at_offset_invalid")
    return taken, False


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip("\x00")


# NUL and other control characters inside a text tag: no database column takes a NUL, and
# a camera name never holds one; such a value is garbage, dropped with a warning.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def text_tag(exif: Image.Exif, tag: int, warnings: list[str], warning: str) -> str | None:
    text = _as_text(exif.get(tag))
    if text is None:
        return None
    if _CONTROL.search(text):
        warnings.append(warning)
        return None
    text = text.strip()[:128]
    return text or None
