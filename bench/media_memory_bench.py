"""Photo pipeline memory: peak RSS growth of ``make_derivatives`` per kind of image.

Run from the repository root: ``.venv/bin/python bench/media_memory_bench.py`` (about a
minute). Each case runs in a fresh process: it first makes the thumbnails of a small
640 x 480 JPEG (the baseline: imports, Pillow's and the codecs' own buffers), then of the
case's file, and reports how far the process's peak RSS rose above the baseline. The files
are the ones issue 11 named (an 81-megapixel PNG of one colour, grey and RGBA, 79-315 KB on
the wire) next to the phone photos that must keep working (a 48 MP JPEG, baseline and
progressive, and a 48 MP HEIC), all made here in a temp directory.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.images import DEFAULT_MAX_PIXELS, ImageRejected, inspect_image, make_derivatives

MEGAPIXEL_81 = (9000, 9000)
MEGAPIXEL_48 = (8000, 6000)


def _photo_like(size: tuple[int, int]) -> Image.Image:
    """Smooth colours plus noise, so a JPEG of it is as large as a phone's."""
    width, height = size
    rng = np.random.default_rng(11)
    low = rng.integers(0, 256, (height // 64 + 1, width // 64 + 1, 3), dtype=np.uint8)
    base = Image.fromarray(low).resize(size, Image.Resampling.BILINEAR)
    noise = rng.integers(0, 24, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(np.asarray(base) // 8 * 7 + noise)


def make_cases(work: Path) -> dict[str, Path]:
    cases: dict[str, Path] = {}

    def save(name: str, image: Image.Image, fmt: str, **options) -> None:
        out = io.BytesIO()
        image.save(out, fmt, **options)
        cases[name] = work / name
        cases[name].write_bytes(out.getvalue())

    save("baseline.jpg", _photo_like((640, 480)), "JPEG", quality=90)
    save("81mp-grey.png", Image.new("L", MEGAPIXEL_81, 128), "PNG", optimize=True)
    save("81mp-rgba.png", Image.new("RGBA", MEGAPIXEL_81, (30, 120, 200, 128)), "PNG")
    save("40mp-rgba.png", Image.new("RGBA", (8000, 5000), (30, 120, 200, 128)), "PNG")
    flat = Image.new("RGBA", (8000, 5000), (30, 120, 200, 128))
    save("40mp-rgba-lossless.webp", flat, "WEBP", lossless=True)
    save("10mp-rgb-lossy.webp", flat.convert("RGB").resize((4000, 2500)), "WEBP", quality=80)
    photo = _photo_like(MEGAPIXEL_48)
    save("48mp.jpg", photo, "JPEG", quality=92)
    save("48mp-progressive.jpg", photo, "JPEG", quality=92, progressive=True)
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
        # One HEVC picture may not exceed 35.6 MP (level 6.2); phones tile larger HEICs
        # in 512 px grids, which pillow-heif does not write: 12 MP stands for them.
        save("12mp.heic", photo.resize((4032, 3024)), "HEIF", quality=80)
    except ImportError:
        pass
    return cases


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM starts afresh at exec; ru_maxrss may not)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(baseline: Path, target: Path) -> dict:
    """In this (fresh) process: the baseline's thumbnails, then the target's."""
    make_derivatives(baseline)
    before = _peak_mb()
    # The pipeline as the issue ran it, 100 MP for every format, to show the decode itself.
    limits = {"max_pixels": DEFAULT_MAX_PIXELS, "max_lossless_pixels": 4 * DEFAULT_MAX_PIXELS}
    try:
        inspect_image(target, **limits)
        make_derivatives(target, **limits)
        outcome = "processed"
    except ImageRejected as error:
        outcome = f"refused ({error.reason}: {error})"
    try:
        inspect_image(target)
        default = "accepted"
    except ImageRejected as error:
        default = f"refused ({error.reason})"
    return {
        "baseline_mb": before,
        "growth_mb": _peak_mb() - before,
        "outcome": outcome,
        "default": default,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("BASELINE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(Path(args.one[0]), Path(args.one[1]))))
        return
    with tempfile.TemporaryDirectory(prefix="media-memory-") as workdir:
        cases = make_cases(Path(workdir))
        baseline = cases.pop("baseline.jpg")
        print("peak RSS growth of make_derivatives over a 640x480 JPEG's, fresh process each")
        print("(decoded at any size up to 100 MP; the last column: with the default limits)")
        print(
            f"{'file':>22} {'on the wire':>12} {'baseline MB':>12} {'growth MB':>10}"
            f"  {'outcome':<10} default limits"
        )
        for name, path in cases.items():
            child = subprocess.run(
                [sys.executable, __file__, "--one", str(baseline), str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(child.stdout.splitlines()[-1])
            print(
                f"{name:>22} {path.stat().st_size / 1e6:>10.2f}MB {row['baseline_mb']:>12.0f}"
                f" {row['growth_mb']:>10.0f}  {row['outcome']:<10} {row['default']}"
            )
    print(f"(pixel limit {DEFAULT_MAX_PIXELS / 1e6:.0f} MP)")


if __name__ == "__main__":
    main()
