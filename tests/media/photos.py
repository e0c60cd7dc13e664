"""Test images built in memory with Pillow: photos with EXIF, and hostile files by hand."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

MARKER = (255, 0, 0)


def scene(width: int = 400, height: int = 300, seed: int = 0) -> Image.Image:
    """A gradient picture with a red block in its top-left corner, to see where it went."""
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    if seed:
        image = Image.merge("RGB", [image.getchannel(i).rotate(seed * 37) for i in range(3)])
    block = Image.new("RGB", (width // 5, height // 5), MARKER)
    image.paste(block, (0, 0))
    return image


def dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600 * 1000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(seconds, 1000)


def exif(
    *,
    orientation: int | None = None,
    gps: dict[int, Any] | None = None,
    taken: dict[int, Any] | None = None,
    make: str | None = None,
    model: str | None = None,
) -> Image.Exif:
    data = Image.Exif()
    if orientation is not None:
        data[ExifTags.Base.Orientation] = orientation
    if make:
        data[ExifTags.Base.Make] = make
    if model:
        data[ExifTags.Base.Model] = model
    if gps:
        data[ExifTags.IFD.GPSInfo] = gps
    if taken:
        data[ExifTags.IFD.Exif] = taken
    return data


def gps_ifd(latitude: float, longitude: float, altitude: float | None = None) -> dict[int, Any]:
    ifd: dict[int, Any] = {
        ExifTags.GPS.GPSLatitudeRef: "N" if latitude >= 0 else "S",
        ExifTags.GPS.GPSLatitude: dms(abs(latitude)),
        ExifTags.GPS.GPSLongitudeRef: "E" if longitude >= 0 else "W",
        ExifTags.GPS.GPSLongitude: dms(abs(longitude)),
    }
    if altitude is not None:
        ifd[ExifTags.GPS.GPSAltitudeRef] = b"\x00" if altitude >= 0 else b"\x01"
        ifd[ExifTags.GPS.GPSAltitude] = IFDRational(round(abs(altitude) * 10), 10)
    return ifd


def encode(image: Image.Image, fmt: str, exif_data: Image.Exif | None = None, **opts) -> bytes:
    out = io.BytesIO()
    if exif_data is not None:
        opts["exif"] = exif_data.tobytes()
    image.save(out, fmt, **opts)
    return out.getvalue()


def chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    if crc is None:
        crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_bomb_header(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def png_with_bad_crc() -> bytes:
    """A valid small PNG whose IDAT chunk's CRC has been damaged."""
    data = bytearray(encode(scene(64, 48), "PNG"))
    idat = data.index(b"IDAT")
    (length,) = struct.unpack(">I", data[idat - 4 : idat])
    crc_at = idat + 4 + length
    data[crc_at] ^= 0xFF
    return bytes(data)


def png_with_bogus_chunk() -> bytes:
    """A valid PNG with an extra ancillary chunk whose CRC is wrong, after the pixels."""
    data = encode(scene(64, 48), "PNG")
    iend = data.rindex(b"IEND") - 4
    return data[:iend] + chunk(b"teXt", b"Comment\x00hi", crc=0xDEADBEEF) + data[iend:]
