"""Image inspection and derivatives: formats, EXIF, orientation, hostile files."""

from __future__ import annotations

import hashlib
import io
import random
import resource
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from media.errors import ImageRejected, MediaError, UnsupportedMediaType
from media.images import (
    GpsPoint,
    inspect_image,
    make_derivatives,
    perceptual_hash,
    phash_distance,
    sniff_format,
)
from tests.media import photos

heif = pytest.importorskip("pillow_heif")

FUZHOU = (26.0745, 119.2965, 12.5)


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_jpeg_facts_come_from_exif(tmp_path):
    taken = {
        ExifTags.Base.DateTimeOriginal: "2026:03:01 09:15:30",
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
        ExifTags.Base.SubsecTimeOriginal: "25",
    }
    data = photos.encode(
        photos.scene(),
        "JPEG",
        photos.exif(gps=photos.gps_ifd(*FUZHOU), taken=taken, make="HUAWEI", model="ALN-AL00"),
    )

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert (facts.format, facts.mime_type) == ("JPEG", "image/jpeg")
    assert (facts.width, facts.height) == (400, 300)
    assert facts.gps == GpsPoint(pytest.approx(FUZHOU[0]), pytest.approx(FUZHOU[1]), 12.5)
    assert facts.taken_at == datetime(2026, 3, 1, 1, 15, 30, 250_000, tzinfo=UTC)
    assert facts.taken_at.utcoffset() == timedelta(hours=8)
    assert facts.taken_at_has_offset is True
    assert (facts.make, facts.model) == ("HUAWEI", "ALN-AL00")
    assert facts.warnings == ()


def test_southern_and_western_coordinates_are_negative(tmp_path):
    data = photos.encode(
        photos.scene(), "JPEG", photos.exif(gps=photos.gps_ifd(-33.8568, -70.6483, -5))
    )

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert facts.gps.latitude == pytest.approx(-33.8568)
    assert facts.gps.longitude == pytest.approx(-70.6483)
    assert facts.gps.altitude == -5


def test_time_without_offset_is_naive_and_flagged(tmp_path):
    taken = {ExifTags.Base.DateTimeOriginal: "2026:03:01 09:15:30"}
    data = photos.encode(photos.scene(), "JPEG", photos.exif(taken=taken))

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert facts.taken_at == datetime(2026, 3, 1, 9, 15, 30)
    assert facts.taken_at.tzinfo is None
    assert facts.taken_at_has_offset is False


def test_a_photo_without_exif_has_no_facts_and_no_warnings(tmp_path):
    facts = inspect_image(write(tmp_path, "p.jpg", photos.encode(photos.scene(), "JPEG")))

    assert facts.gps is None
    assert facts.taken_at is None
    assert facts.orientation is None
    assert facts.make is None
    assert facts.warnings == ()


R = IFDRational
GARBAGE_GPS = {
    "zero denominator": {1: "N", 2: (R(26, 1), R(4, 1), R(1, 0)), 3: "E", 4: (R(119, 1),) * 3},
    "minutes over 60": {1: "N", 2: (R(26, 1), R(75, 1), R(0, 1)), 3: "E", 4: (R(119, 1),) * 3},
    "latitude over 90": {1: "N", 2: (R(123, 1), R(0, 1), R(0, 1)), 3: "E", 4: (R(119, 1),) * 3},
    "unknown reference": {1: "Q", 2: (R(26, 1),) * 3, 3: "E", 4: (R(119, 1),) * 3},
    "two components": {1: "N", 2: (R(26, 1), R(4, 1)), 3: "E", 4: (R(119, 1),) * 3},
    "longitude over 180": {1: "N", 2: (R(26, 1),) * 3, 3: "W", 4: (R(200, 1), R(0, 1), R(0, 1))},
    "huge numbers": {1: "N", 2: (R(2**32 - 1, 1),) * 3, 3: "E", 4: (R(119, 1),) * 3},
    "no longitude": {1: "N", 2: (R(26, 1), R(4, 1), R(0, 1))},
    "one number instead of three": {1: "N", 2: R(26, 1), 3: "E", 4: R(119, 1)},
}


@pytest.mark.parametrize("gps", GARBAGE_GPS.values(), ids=GARBAGE_GPS.keys())
def test_garbage_gps_gives_no_position_and_a_warning(tmp_path, gps):
    data = photos.encode(photos.scene(), "JPEG", photos.exif(gps=gps, make="OPPO"))

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert facts.gps is None
    assert "gps_invalid" in facts.warnings
    assert facts.make == "OPPO"


def test_null_island_is_treated_as_no_fix(tmp_path):
    data = photos.encode(photos.scene(), "JPEG", photos.exif(gps=photos.gps_ifd(0.0, 0.0)))

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert facts.gps is None
    assert facts.warnings == ("gps_zero",)


@pytest.mark.parametrize(
    ("taken", "warning"),
    [
        ({ExifTags.Base.DateTimeOriginal: "2026:13:45 99:00:00"}, "taken_at_invalid"),
        ({ExifTags.Base.DateTimeOriginal: "yesterday"}, "taken_at_invalid"),
        (
            {
                ExifTags.Base.DateTimeOriginal: "2026:03:01 09:15:30",
                ExifTags.Base.OffsetTimeOriginal: "+99:99",
            },
            "taken_at_offset_invalid",
        ),
    ],
)
def test_garbage_times_warn_instead_of_failing(tmp_path, taken, warning):
    data = photos.encode(photos.scene(), "JPEG", photos.exif(taken=taken))

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert warning in facts.warnings


def test_blank_camera_time_is_just_absent(tmp_path):
    taken = {ExifTags.Base.DateTimeOriginal: "    :  :     :  :  "}
    data = photos.encode(photos.scene(), "JPEG", photos.exif(taken=taken))

    facts = inspect_image(write(tmp_path, "p.jpg", data))

    assert facts.taken_at is None
    assert facts.warnings == ()


def test_orientation_6_reports_portrait_and_thumbnails_are_rotated(tmp_path):
    data = photos.encode(photos.scene(400, 300), "JPEG", photos.exif(orientation=6))
    path = write(tmp_path, "p.jpg", data)

    facts = inspect_image(path)
    result = make_derivatives(path, sizes=(100, 200))

    assert facts.orientation == 6
    assert (facts.width, facts.height) == (300, 400)
    assert result.size == (300, 400)
    thumb = Image.open(io.BytesIO(result.thumbnails[200]))
    assert thumb.size == (150, 200)
    # Orientation 6 means "rotate 90 degrees clockwise to display": the red block that is
    # top-left in the stored pixels must end up top-right.
    red = thumb.getpixel((thumb.width - 5, 5))
    assert red[0] > 200 and red[1] < 60, red
    assert thumb.getpixel((5, 5))[1] > 60 or thumb.getpixel((5, 5))[0] < 200


def test_thumbnails_have_the_requested_long_side_and_carry_no_exif(tmp_path):
    data = photos.encode(photos.scene(1600, 1200), "JPEG", photos.exif(gps=photos.gps_ifd(*FUZHOU)))
    path = write(tmp_path, "p.jpg", data)

    result = make_derivatives(path, sizes=(320, 1024))

    for size, jpeg in result.thumbnails.items():
        thumb = Image.open(io.BytesIO(jpeg))
        assert thumb.format == "JPEG"
        assert size * 0.95 <= max(thumb.size) <= size
        assert not thumb.getexif()
    assert max(Image.open(io.BytesIO(result.thumbnails[320])).size) == 320


def test_large_jpegs_are_decoded_once_at_reduced_scale(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    path = write(tmp_path, "p.jpg", photos.encode(photos.scene(4032, 3024), "JPEG"))
    real_load = JpegImagePlugin.JpegImageFile.load
    decodes = []

    def load_spy(self):
        if self.tile:  # a load that will actually run the decoder
            decodes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", load_spy)

    result = make_derivatives(path, sizes=(320, 1024))

    # 1/4 scale: 1008 px, within 5 % of 1024, so no full-size or half-size decode.
    assert decodes == [(1008, 756)]
    assert Image.open(io.BytesIO(result.thumbnails[1024])).size == (1008, 756)


def test_small_images_are_not_enlarged(tmp_path):
    path = write(tmp_path, "p.png", photos.encode(photos.scene(200, 100), "PNG"))

    result = make_derivatives(path, sizes=(320, 1024))

    assert Image.open(io.BytesIO(result.thumbnails[1024])).size == (200, 100)


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/heif")],
)
def test_other_accepted_formats(tmp_path, fmt, mime):
    image = photos.scene(400, 300).convert("RGBA") if fmt == "PNG" else photos.scene(400, 300)
    data = photos.encode(image, fmt, photos.exif(make="Xiaomi", gps=photos.gps_ifd(*FUZHOU)))
    path = write(tmp_path, "upload.bin", data)

    facts = inspect_image(path)
    result = make_derivatives(path, sizes=(64,))

    assert (facts.format, facts.mime_type) == (fmt, mime)
    assert (facts.width, facts.height) == (400, 300)
    assert facts.make == "Xiaomi"
    assert facts.gps.latitude == pytest.approx(FUZHOU[0])
    assert Image.open(io.BytesIO(result.thumbnails[64])).size == (64, 48)


def test_heic_rotation_is_applied_once(tmp_path):
    data = photos.encode(photos.scene(400, 300), "HEIF", photos.exif(orientation=6))
    path = write(tmp_path, "p.heic", data)

    facts = inspect_image(path)
    result = make_derivatives(path, sizes=(200,))

    assert facts.orientation == 6
    assert (facts.width, facts.height) == (300, 400)
    assert Image.open(io.BytesIO(result.thumbnails[200])).size == (150, 200)


def test_streams_are_accepted_as_well_as_paths():
    data = photos.encode(photos.scene(), "JPEG", photos.exif(make="vivo"))

    assert inspect_image(io.BytesIO(data)).make == "vivo"
    assert set(make_derivatives(io.BytesIO(data), sizes=(50,)).thumbnails) == {50}


def test_originals_are_never_modified(tmp_path):
    data = photos.encode(photos.scene(), "JPEG", photos.exif(orientation=6))
    path = write(tmp_path, "p.jpg", data)
    before = (hashlib.sha256(data).hexdigest(), path.stat().st_mtime_ns)

    inspect_image(path)
    make_derivatives(path)

    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


# -- hostile and unsupported input ---------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a photo, just text saved as .jpg\n" * 10,
        b"",
        b"GIF89a" + b"\x00" * 100,
        b"%PDF-1.7\n" + b"\x00" * 100,
        b"\x00\x00\x00\x18ftypavif" + b"\x00" * 100,
    ],
    ids=["text", "empty", "gif", "pdf", "avif"],
)
def test_anything_else_is_unsupported(tmp_path, data):
    path = write(tmp_path, "photo.jpg", data)

    with pytest.raises(UnsupportedMediaType) as caught:
        inspect_image(path)
    assert caught.value.http_status == 415
    with pytest.raises(UnsupportedMediaType):
        make_derivatives(path)


def test_sniffing_ignores_names_and_trusts_bytes():
    png = photos.encode(photos.scene(), "PNG")

    assert sniff_format(png[:16]) == "PNG"


def test_a_30000_by_30000_png_is_refused_quickly_without_decoding(tmp_path):
    path = write(tmp_path, "bomb.png", photos.png_bomb_header(30_000, 30_000))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    started = time.perf_counter()
    for call in (inspect_image, make_derivatives):
        with pytest.raises(ImageRejected) as caught:
            call(path)
        assert caught.value.reason == "decompression_bomb"
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kb < 100 * 1024


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_pixel_limit_is_ours_not_only_pillows(tmp_path):
    # 110 MP: under Pillow's own hard limit (~179 MP), over our 100 MP default.
    path = write(tmp_path, "big.png", photos.png_bomb_header(11_000, 10_000))

    with pytest.raises(ImageRejected) as caught:
        inspect_image(path)
    assert caught.value.reason == "decompression_bomb"
    with pytest.raises(ImageRejected):
        inspect_image(
            write(tmp_path, "p.jpg", photos.encode(photos.scene(), "JPEG")), max_pixels=1000
        )


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.2])
def test_a_jpeg_cut_short_is_rejected_as_truncated(tmp_path, cut):
    data = photos.encode(photos.scene(800, 600, seed=3), "JPEG", photos.exif(make="HUAWEI"))
    path = write(tmp_path, "cut.jpg", data[: int(len(data) * cut)])

    with pytest.raises(ImageRejected) as caught:
        inspect_image(path)
    assert caught.value.reason == "truncated"
    with pytest.raises(ImageRejected) as caught:
        make_derivatives(path)
    assert caught.value.reason == "truncated"


def test_trailing_vendor_data_after_the_jpeg_is_fine(tmp_path):
    data = photos.encode(photos.scene(), "JPEG") + b"SEFH" + b"\x00" * 500 + b"SEFT"

    assert inspect_image(write(tmp_path, "p.jpg", data)).format == "JPEG"


@pytest.mark.parametrize("data", [photos.png_with_bad_crc(), photos.png_with_bogus_chunk()])
def test_a_png_with_a_broken_chunk_is_rejected(tmp_path, data):
    path = write(tmp_path, "p.png", data)

    with pytest.raises(ImageRejected) as caught:
        inspect_image(path)
    assert caught.value.reason in {"corrupt", "truncated"}


def test_a_truncated_webp_is_rejected(tmp_path):
    data = photos.encode(photos.scene(200, 150, seed=2), "WEBP")

    with pytest.raises(ImageRejected):
        inspect_image(write(tmp_path, "p.webp", data[: len(data) // 2]))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mangled_files_only_ever_raise_media_errors(tmp_path):
    rng = random.Random(20260301)
    seeds = [
        photos.encode(
            photos.scene(120, 90, seed=1), "JPEG", photos.exif(gps=photos.gps_ifd(*FUZHOU))
        ),
        photos.encode(photos.scene(120, 90, seed=2), "PNG"),
        photos.encode(photos.scene(120, 90, seed=3), "WEBP"),
        photos.encode(photos.scene(120, 90, seed=4), "HEIF"),
    ]
    outcomes = {"ok": 0, "rejected": 0}
    for round_ in range(240):
        data = bytearray(seeds[round_ % len(seeds)])
        for _ in range(rng.randint(1, 12)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(16, len(data)) :]
        for call in (inspect_image, make_derivatives):
            try:
                call(io.BytesIO(bytes(data)))
                outcomes["ok"] += 1
            except MediaError:
                outcomes["rejected"] += 1

    assert outcomes["rejected"] > 0
    assert outcomes["ok"] > 0


# -- perceptual hash ---------------------------------------------------------------


def test_the_same_picture_recompressed_has_a_near_identical_phash(tmp_path):
    picture = photos.scene(800, 600, seed=5)
    high = make_derivatives(write(tmp_path, "a.jpg", photos.encode(picture, "JPEG", quality=95)))
    low = make_derivatives(write(tmp_path, "b.jpg", photos.encode(picture, "JPEG", quality=40)))
    png = make_derivatives(write(tmp_path, "c.png", photos.encode(picture, "PNG")))

    assert len(high.phash) == 16
    assert phash_distance(high.phash, low.phash) <= 4
    assert phash_distance(high.phash, png.phash) <= 4


def test_a_rotated_copy_hashes_like_the_upright_picture(tmp_path):
    picture = photos.scene(800, 600, seed=6)
    upright = picture.transpose(Image.Transpose.ROTATE_270)
    tagged = make_derivatives(
        write(tmp_path, "a.jpg", photos.encode(picture, "JPEG", photos.exif(orientation=6)))
    )
    plain = make_derivatives(write(tmp_path, "b.jpg", photos.encode(upright, "JPEG")))

    assert phash_distance(tagged.phash, plain.phash) <= 4


def test_different_pictures_are_far_apart():
    one = perceptual_hash(photos.scene(400, 300, seed=1))
    other = perceptual_hash(photos.scene(400, 300, seed=7).transpose(Image.Transpose.ROTATE_90))

    assert phash_distance(one, other) > 12


def test_phash_distance_counts_differing_bits():
    assert phash_distance("0000000000000000", "0000000000000000") == 0
    assert phash_distance("0000000000000000", "ffffffffffffffff") == 64
    assert phash_distance("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError):
        phash_distance("00", "0000")


def test_exif_offset_is_kept_as_given():
    tz = timezone(timedelta(hours=-3, minutes=-30))
    taken = {
        ExifTags.Base.DateTimeOriginal: "2026:03:01 09:15:30",
        ExifTags.Base.OffsetTimeOriginal: "-03:30",
    }
    data = photos.encode(photos.scene(), "JPEG", photos.exif(taken=taken))

    assert inspect_image(io.BytesIO(data)).taken_at == datetime(2026, 3, 1, 9, 15, 30, tzinfo=tz)


def _png_with_text(key: str, value: str, *, compressed: bool = False) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if key.startswith("XML:"):
        info.add_itxt(key, value, zip=compressed)
    else:
        info.add_text(key, value, zip=compressed)
    out = io.BytesIO()
    photos.scene(400, 300).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _raw_exif_profile(orientation: int) -> str:
    """ImageMagick's "Raw profile type exif": a blank line, the type, the length, hex."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    raw = exif.tobytes()
    hexed = raw.hex()
    lines = [hexed[i : i + 72] for i in range(0, len(hexed), 72)]
    return "\n".join(["", "exif", f"{len(raw):8d}", *lines])


@pytest.mark.parametrize(
    "data",
    [
        _png_with_text(
            "XML:com.adobe.xmp",
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
            'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
            "</rdf:RDF></x:xmpmeta>",
        ),
        _png_with_text("Raw profile type exif", _raw_exif_profile(6), compressed=True),
    ],
    ids=["xmp", "imagemagick_raw_profile"],
)
def test_a_png_orientation_in_xmp_or_a_raw_profile_is_read(tmp_path, data):
    path = write(tmp_path, "p.png", data)
    facts = inspect_image(path)
    assert facts.orientation == 6
    assert (facts.width, facts.height) == (300, 400)
    assert make_derivatives(path, sizes=(200,)).size == (300, 400)


def test_a_png_exif_after_the_pixels_is_read_without_decoding(tmp_path, monkeypatch):
    """ImageMagick writes eXIf after IDAT (Pillow's Tests/images/exif.png, from the corpus)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Canon"
    plain = photos.encode(photos.scene(400, 300), "PNG")
    iend = plain.rindex(b"IEND") - 4
    data = plain[:iend] + photos.chunk(b"eXIf", exif.tobytes()) + plain[iend:]
    path = write(tmp_path, "after.png", data)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded the pixels"))
    facts = inspect_image(path)
    assert (facts.orientation, facts.make) == (6, "Canon")
    assert (facts.width, facts.height) == (300, 400)
    monkeypatch.undo()
    assert make_derivatives(path, sizes=(200,)).size == (300, 400)


def test_stray_bytes_between_jpeg_header_segments_are_skipped_as_libjpeg_does(tmp_path):
    """Photoshop and some cameras write them (three files of Pillow's Tests/images)."""
    data = photos.encode(photos.scene(), "JPEG", photos.exif(make="Canon"))
    dqt = data.index(b"\xff\xdb")
    path = write(tmp_path, "junk.jpg", data[:dqt] + b"hello" + data[dqt:])
    assert (inspect_image(path).make, make_derivatives(path, sizes=(100,)).size) == (
        "Canon",
        (400, 300),
    )
    with pytest.raises(ImageRejected):  # junk up to the end is still a file cut short
        inspect_image(write(tmp_path, "cut.jpg", data[:dqt] + b"hello"))


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("cut", photos.encode(photos.scene(), "PNG")[:-30], "truncated"),
        ("text_bomb", None, "decompression_bomb"),
    ],
)
def test_broken_pngs_are_refused_with_the_reason_that_fits(tmp_path, name, data, reason):
    if data is None:
        import zlib

        plain = photos.encode(photos.scene(64, 48), "PNG")
        bomb = photos.chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"a" * 20_000_000))
        data = plain[:33] + bomb + plain[33:]
    with pytest.raises(ImageRejected) as refused:
        inspect_image(write(tmp_path, f"{name}.png", data))
    assert refused.value.reason == reason, refused.value.message
