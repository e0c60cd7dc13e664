"""Evidence photos: what they are, what their EXIF says, and their thumbnails.

Two entry points, both safe on hostile input (they raise :class:`UnsupportedMediaType` or
:class:`ImageRejected`, never anything else for bad bytes, and never allocate pixels for
an image above the pixel limit):

* :func:`inspect_image` reads the header and EXIF only: real format from magic bytes,
  dimensions, GPS, time taken, camera, orientation, plus cheap whole-file integrity
  checks. A few milliseconds; no pixel decoding.
* :func:`make_derivatives` decodes the pixels once, at reduced scale for JPEG, and from
  that single decode makes every thumbnail (EXIF orientation applied) and the perceptual
  hash. A file that will not decode is rejected here.

Originals are only ever opened for reading.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from media.errors import ImageRejected, UnsupportedMediaType
from media.exif import GpsPoint, gps_point, orientation_of, read_exif, text_tag, time_taken

try:
    import pillow_heif
except ImportError:  # HEIC/HEIF support is optional; without it they are rejected as corrupt.
    pillow_heif = None
else:
    pillow_heif.register_heif_opener()

#: Default pixel limit. Phones make 12-50 MP; 100 MP leaves headroom while bounding a
#: decode to ~300 MB of RGB. Pillow's own process-wide guard (2 x ``MAX_IMAGE_PIXELS``,
#: ~179 MP) still applies above this; we never change that global.
DEFAULT_MAX_PIXELS = 100_000_000

#: Pixel limit of the formats Pillow can only decode whole, at full size: PNG and WebP
#: (lossless or not; no phone camera writes WebP photos). A JPEG is decoded at 1/8 to
#: 1/2 scale and a HEIC is what phones make up to ``DEFAULT_MAX_PIXELS``; a PNG of one
#: colour is 100 KB on the wire and 4 bytes a pixel in memory. At 40 MP (4K screenshots
#: are 8 MP, a 7000 x 5000 scan 35 MP) its decode stays under 160 MB; see docs/photos.md.
DEFAULT_MAX_LOSSLESS_PIXELS = 40_000_000
#: How many times a PNG's memory a pixel of these formats costs to decode: Pillow's WebP
#: decoder holds libwebp's canvas, a copy of it and the image (~15 bytes a pixel, measured
#: in bench/media_memory_bench.py); their limit is the lossless limit divided by this.
WHOLE_DECODE_COST = {"PNG": 1, "WEBP": 4}
#: Rows of a whole-decoded image converted at a time on the way to its thumbnails: the
#: extra memory is one strip of this many bytes, not a full-size copy per conversion.
STRIP_BYTES = 16 * 1024 * 1024

#: Thumbnail long sides made by default (list item, detail view).
DEFAULT_SIZES = (320, 1024)

#: How much smaller than asked the largest thumbnail may be when that spares a resample.
#: libjpeg decodes at 1/2, 1/4 or 1/8 scale only: a 4032 px photo comes out at 1008 px at
#: 1/4, just short of 1024. Using those 1008 px as they are is invisible to a viewer; the
#: alternatives, decoding at 1/2 and resampling 3 MP down, or stretching 1008 to 1024,
#: cost 15-25 % more time per photo on this hardware.
SIZE_TOLERANCE = 0.05

MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "HEIF": "image/heif",
    "WEBP": "image/webp",
}

# ISO-BMFF major brands of still HEIF/HEIC images (not AVIF, not video).
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}

Source = str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True)
class ImageFacts:
    """What an image is and what its EXIF says.

    ``width`` and ``height`` are as displayed, after EXIF orientation. ``taken_at`` is
    timezone-aware when the camera recorded ``OffsetTimeOriginal``; otherwise it is naive
    local camera time and ``taken_at_has_offset`` is False. ``warnings`` lists metadata
    that was present but unusable (e.g. ``gps_invalid``), so a fraud check can tell
    "no GPS" from "garbage GPS".
    """

    format: str
    mime_type: str
    width: int
    height: int
    orientation: int | None = None
    gps: GpsPoint | None = None
    taken_at: datetime | None = None
    taken_at_has_offset: bool = False
    make: str | None = None
    model: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Derivatives:
    """Thumbnails (long side in px -> JPEG bytes, no metadata), a 64-bit pHash in hex, and
    the original's displayed size."""

    thumbnails: dict[int, bytes]
    phash: str
    size: tuple[int, int]


def sniff_format(head: bytes) -> str:
    """Name the format from the first 16+ bytes, or raise :class:`UnsupportedMediaType`.

    The file name and the client's Content-Type are never trusted.
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIF"
    raise UnsupportedMediaType("not a JPEG, PNG, HEIC/HEIF or WebP image")


def inspect_image(
    source: Source,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_lossless_pixels: int = DEFAULT_MAX_LOSSLESS_PIXELS,
) -> ImageFacts:
    """Identify an image and read its EXIF, without decoding pixels.

    Also checks what is cheap to check for the whole file: a JPEG must reach its end
    marker (a photo cut short by a dropped upload does not), a PNG's chunk CRCs must
    hold, a WebP must be as long as its RIFF header says.
    """
    with _open_image(source, (max_pixels, max_lossless_pixels)) as (image, fmt, fp):
        warnings: list[str] = []
        exif = read_exif(image, fmt, warnings)
        orientation = orientation_of(image, fmt, exif, warnings)
        width, height = image.size
        # pillow-heif hands out HEIF images already rotated; others are as stored.
        if fmt != "HEIF" and orientation in (5, 6, 7, 8):
            width, height = height, width
        taken_at, has_offset = time_taken(exif, warnings)
        facts = ImageFacts(
            format=fmt,
            mime_type=MIME_TYPES[fmt],
            width=width,
            height=height,
            orientation=orientation,
            gps=gps_point(exif, warnings),
            taken_at=taken_at,
            taken_at_has_offset=has_offset,
            make=text_tag(exif, ExifTags.Base.Make, warnings, "make_invalid"),
            model=text_tag(exif, ExifTags.Base.Model, warnings, "model_invalid"),
            warnings=tuple(warnings),
        )
        _check_integrity(image, fmt, fp)
    return facts


def make_derivatives(
    source: Source,
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_lossless_pixels: int = DEFAULT_MAX_LOSSLESS_PIXELS,
    quality: int = 82,
) -> Derivatives:
    """Decode once and make every thumbnail and the perceptual hash from that decode.

    Each thumbnail fits in ``size`` x ``size`` with its long side equal to ``size``
    (never upscaled past the original), except that the largest may be up to
    ``SIZE_TOLERANCE`` smaller when the reduced-scale JPEG decode already is (see there).
    JPEGs are decoded at the smallest DCT scale that covers the largest size within that
    tolerance (``Image.draft``); other formats are decoded whole, and box-reduced to at
    least the largest size a strip at a time (``STRIP_BYTES``). Each smaller thumbnail is
    resampled from the next larger, and the pHash from the smallest. EXIF orientation is
    applied to the largest thumbnail, never to the full decode. Thumbnails carry no EXIF,
    so no GPS leaks through them.
    """
    if not sizes or min(sizes) < 1:
        raise ValueError("sizes must be positive")
    with _open_image(source, (max_pixels, max_lossless_pixels)) as (image, fmt, _):
        orientation = orientation_of(image, fmt, read_exif(image, fmt, []), [])
        stored_size = image.size
        if fmt == "JPEG":
            want = _fit(stored_size, max(sizes))
            image.draft(
                "RGB",
                (
                    max(1, math.floor(want[0] * (1 - SIZE_TOLERANCE))),
                    max(1, math.floor(want[1] * (1 - SIZE_TOLERANCE))),
                ),
            )
        _decode(image)
        target = _fit(stored_size, max(sizes))
        current = _shrink(image, target)
        if not _within_tolerance(current.size, target):
            # Resample before rotating: the rotation then moves the small image's pixels.
            current = current.resize(target, Image.Resampling.BICUBIC, reducing_gap=1.5)
        display_size = stored_size
        if fmt != "HEIF" and orientation in _TRANSPOSE:
            current = current.transpose(_TRANSPOSE[orientation])
            if orientation in (5, 6, 7, 8):
                display_size = (stored_size[1], stored_size[0])

        thumbnails: dict[int, bytes] = {}
        for size in sorted(set(sizes), reverse=True):
            target = _fit(display_size, size)
            if max(current.size) > max(target):
                # Box-reduce by a whole factor, then bicubic for the rest: at thumbnail
                # sizes that looks the same as a full bicubic pass at a third of the cost.
                current = current.resize(target, Image.Resampling.BICUBIC, reducing_gap=1.0)
            out = io.BytesIO()
            current.save(out, "JPEG", quality=quality)
            thumbnails[size] = out.getvalue()
        return Derivatives(thumbnails, perceptual_hash(current), display_size)


def perceptual_hash(image: Image.Image) -> str:
    """64-bit DCT perceptual hash as 16 hex digits.

    Same algorithm and bit order as ``imagehash.phash`` (32 x 32 greyscale, 2-D DCT-II,
    top-left 8 x 8 against their median), so values interoperate with that library;
    done in numpy to avoid a SciPy dependency.
    """
    grey = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.float64)
    low = (_DCT @ pixels @ _DCT.T)[:8, :8]
    bits = (low > np.median(low)).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two pHashes: 0 same picture, <= ~10 likely the same scene."""
    if len(a) != len(b):
        raise ValueError("pHashes of different lengths")
    return (int(a, 16) ^ int(b, 16)).bit_count()


# -- opening and decoding ------------------------------------------------------------


@contextmanager
def _open_image(
    source: Source, max_pixels: tuple[int, int]
) -> Iterator[tuple[Image.Image, str, IO[bytes]]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fp, _open_stream(fp, max_pixels) as opened:
            yield opened
    else:
        with _open_stream(source, max_pixels) as opened:
            yield opened


@contextmanager
def _open_stream(
    fp: IO[bytes], max_pixels: tuple[int, int]
) -> Iterator[tuple[Image.Image, str, IO[bytes]]]:
    """Open with the sniffed format's parser only; ``max_pixels`` is (the limit, the
    limit of the formats decoded whole)."""
    start = fp.tell()
    fmt = sniff_format(fp.read(16))
    fp.seek(start)
    try:
        # Only the sniffed format's parser sees the bytes: a file cannot claim to be a
        # JPEG and be parsed by some other, less hardened plugin.
        image = Image.open(fp, formats=[fmt])
    except Image.DecompressionBombError as error:
        raise ImageRejected(str(error), reason="decompression_bomb") from None
    except Exception as error:  # hostile headers raise all kinds of parser errors
        told = _told(error, fp)
        raise ImageRejected(f"unreadable {fmt}: {told}", reason=_reason(error)) from None
    width, height = image.size
    limit = max_pixels[0]
    if fmt in WHOLE_DECODE_COST:
        limit = min(limit, max_pixels[1] // WHOLE_DECODE_COST[fmt])
    if width < 1 or height < 1 or width * height > limit:
        image.close()
        raise ImageRejected(
            f"{width} x {height} px exceeds the {limit} pixel limit of {fmt} images",
            reason="decompression_bomb",
        )
    try:
        yield image, fmt, fp
    finally:
        image.close()


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise ImageRejected(str(error), reason="decompression_bomb") from None
    except Exception as error:  # a decoder fed garbage may raise anything
        told = _told(error, image.fp)
        raise ImageRejected(f"cannot decode image: {told}", reason=_reason(error)) from None


def _reason(error: Exception) -> str:
    """The refusal's reason code from a parser's error (they say it only in words)."""
    text = str(error).lower()
    if isinstance(error, EOFError | struct.error) or "truncated" in text:
        return "truncated"
    if "too large" in text:  # a text chunk inflating past Pillow's limit: a zip bomb
        return "decompression_bomb"
    return "corrupt"


def _told(error: Exception, fp: object) -> str:
    """``error``'s message without the server's path of the file (parsers name it)."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image this format's parser can identify"
    text = str(error)
    name = getattr(fp, "name", None)
    if isinstance(name, str) and name:
        text = text.replace(name, "the photo")
    return re.sub(r"(?:/[\w.-]+){2,}", "the photo", text)


def _shrink(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """``image`` in RGB, box-reduced by the largest whole factor that keeps it at least
    ``target``. A large image is cropped, converted and reduced a strip at a time: a
    full-size RGBA copy of an 81 MP PNG alone would be 324 MB more."""
    width, height = image.size
    factor = max(1, min(width // target[0], height // target[1]))
    if factor == 1:
        return _to_rgb(image)
    rows = max(factor, STRIP_BYTES // (width * 4) // factor * factor)
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = _to_rgb(image.crop((0, top, width, min(height, top + rows))))
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        # Transparent areas (screenshots, stickers) go white rather than black in JPEG.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _within_tolerance(size: tuple[int, int], target: tuple[int, int]) -> bool:
    return max(target) * (1 - SIZE_TOLERANCE) <= max(size) <= max(target)


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """Scale ``size`` so its long side is ``longest``, never enlarging."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# DCT-II basis for 32 samples (unnormalised, like scipy.fftpack.dct's default).
_N = 32
_DCT = np.cos(np.pi * np.outer(np.arange(_N), 2 * np.arange(_N) + 1) / (2 * _N))


# -- integrity -----------------------------------------------------------------------


def _check_integrity(image: Image.Image, fmt: str, fp: IO[bytes]) -> None:
    if fmt == "JPEG":
        _check_jpeg_complete(fp)
    elif fmt == "PNG":
        try:
            # Walks every chunk checking CRCs and lengths without inflating pixel data.
            image.verify()
        except Exception as error:
            told = _told(error, fp)
            raise ImageRejected(f"broken PNG: {told}", reason=_reason(error)) from None
    elif fmt == "WEBP":
        fp.seek(0, os.SEEK_END)
        actual = fp.tell()
        fp.seek(4)
        (riff_size,) = struct.unpack("<I", fp.read(4))
        if actual < riff_size + 8:
            raise ImageRejected("WebP shorter than its RIFF header says", reason="truncated")


def _skip_to_marker(fp: IO[bytes], block: int = 4096) -> None:
    """Move ``fp`` to the next 0xFF byte, or to the end of the file."""
    while chunk := fp.read(block):
        found = chunk.find(b"\xff")
        if found >= 0:
            fp.seek(found - len(chunk), os.SEEK_CUR)
            return


def _check_jpeg_complete(fp: IO[bytes]) -> None:
    """Require an end-of-image marker after the first start-of-scan.

    Entropy-coded data escapes every 0xFF byte, so FF D9 after SOS can only be the real
    end marker; the EXIF thumbnail's own end marker sits before SOS and does not count.
    Trailing vendor data after the marker (Samsung, MPF) is fine, and so are stray bytes
    between two header segments: libjpeg skips them ("extraneous bytes before marker")
    and Photoshop and some cameras write them (Pillow's Tests/images hold three).
    """
    fp.seek(2)
    while True:
        header = fp.read(4)
        if len(header) == 4 and header[0] != 0xFF:
            fp.seek(-4, os.SEEK_CUR)
            _skip_to_marker(fp)
            continue
        if len(header) < 4:
            raise ImageRejected("JPEG header is cut short or malformed", reason="truncated")
        marker = header[1]
        if marker == 0xFF:  # fill byte before a marker
            fp.seek(-3, os.SEEK_CUR)
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            fp.seek(-2, os.SEEK_CUR)
            continue
        if marker == 0xDA:
            break
        (length,) = struct.unpack(">H", header[2:])
        if length < 2:
            raise ImageRejected("JPEG segment with an impossible length", reason="corrupt")
        fp.seek(length - 2, os.SEEK_CUR)
    scan_start = fp.tell()
    # Search backwards from the end: a complete file has its marker within the last few
    # bytes (or before a short vendor trailer), so this reads one block, not 5 MB.
    end = fp.seek(0, os.SEEK_END)
    block = 64 * 1024
    while end > scan_start:
        start = max(scan_start, end - block)
        fp.seek(start)
        # One byte of overlap so a marker straddling two blocks is still seen.
        if b"\xff\xd9" in fp.read(end - start + 1):
            return
        end = start
    raise ImageRejected("JPEG ends before its end-of-image marker", reason="truncated")
