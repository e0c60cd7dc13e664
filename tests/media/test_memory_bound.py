"""Issue 11, row 4: an image decoded whole (PNG, WebP) stays within a memory bound.

A PNG of one colour is ~100 KB on the wire for 81 MP; decoded it is 1-4 bytes a pixel, and
every full-size conversion on the way to a thumbnail was as much again. Now such formats
have their own pixel limit (``MAX_LOSSLESS_PIXELS``) and are shrunk a strip at a time."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap

import pytest
from PIL import Image

from media.errors import ImageRejected
from media.images import DEFAULT_MAX_LOSSLESS_PIXELS, inspect_image, make_derivatives


def _png(mode: str, size: tuple[int, int], colour) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def test_a_png_over_the_lossless_limit_is_refused_as_a_bomb_but_a_jpeg_is_not(tmp_path):
    png = tmp_path / "big.png"
    png.write_bytes(_png("L", (9000, 9000), 128))  # 81 MP, ~100 KB
    with pytest.raises(ImageRejected) as refused:
        inspect_image(png)
    assert refused.value.reason == "decompression_bomb"
    assert "PNG" in refused.value.message
    jpeg = tmp_path / "big.jpg"
    Image.new("RGB", (9000, 9000), (20, 90, 160)).save(jpeg, "JPEG")
    assert inspect_image(jpeg).width == 9000  # phone formats keep the 100 MP limit
    assert DEFAULT_MAX_LOSSLESS_PIXELS < 81_000_000


@pytest.mark.parametrize("mode", ["P", "LA", "RGBA", "I;16", "1"])
def test_strip_by_strip_shrinking_gives_the_same_thumbnail(tmp_path, mode):
    """Transparent parts go white, as with the whole-image conversion."""
    image = Image.new("RGBA", (3000, 1000), (255, 255, 255, 0))
    image.paste((200, 30, 30, 255), (0, 0, 1500, 1000))
    if mode != "RGBA":
        image = image.convert(mode) if mode != "P" else image.convert("P", palette=1)
    path = tmp_path / "p.png"
    image.save(path, "PNG")
    made = make_derivatives(path, sizes=(300,))
    thumb = Image.open(io.BytesIO(made.thumbnails[300]))
    assert thumb.size == (300, 100)
    whole = make_derivatives(path, sizes=(300,), max_lossless_pixels=10**9)
    assert whole.phash == made.phash


_PEAK = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from media.images import make_derivatives

    def peak():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024

    make_derivatives(sys.argv[2])
    before = peak()
    make_derivatives(sys.argv[1])
    print(peak() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_large_rgba_png_within_the_limit_costs_its_decode_and_one_strip(tmp_path):
    """36 MP RGBA decodes to 144 MB; converting it whole to RGB and compositing it on white
    took ~300 MB more. Measured in a fresh process against a small image's thumbnails."""
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    big.write_bytes(_png("RGBA", (6000, 6000), (30, 120, 200, 128)))
    small.write_bytes(_png("RGBA", (600, 600), (30, 120, 200, 128)))
    grown = subprocess.run(
        [sys.executable, "-c", _PEAK, str(big), str(small)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert int(grown.stdout) < 144 + 80, f"peak grew by {grown.stdout.strip()} MB"


def test_a_webp_costs_four_times_a_png_so_its_limit_is_a_quarter(tmp_path):
    """Pillow's WebP decode holds ~15 bytes a pixel: 40 MP took 612 MB (bench)."""
    webp = tmp_path / "flat.webp"
    Image.new("RGB", (4000, 3000), (20, 90, 160)).save(webp, "WEBP", lossless=True)  # 12 MP
    with pytest.raises(ImageRejected) as refused:
        inspect_image(webp)
    assert refused.value.reason == "decompression_bomb"
    assert inspect_image(webp, max_lossless_pixels=48_000_000).width == 4000
