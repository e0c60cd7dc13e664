"""Photo pipeline benchmark: per-photo processing cost against the decode it cannot avoid.

Run from the repository root: ``.venv/bin/python bench/media_bench.py`` (about a minute).
Makes synthetic 12-megapixel phone-like JPEGs (gradients + texture + sensor noise, so they
compress like photos to 3-5 MB; half carry EXIF orientation 6, GPS and a time taken),
then times, for each photo, the median of several runs of:

* sha256 of the file;
* write + fsync of its bytes to a new file;
* full-size decode;
* reduced-scale decode alone (``Image.draft`` at the scale the pipeline asks for);
* the pipeline: sha256 + ``inspect_image`` + ``make_derivatives`` (320 and 1024 px
  thumbnails with orientation applied, and the pHash).

The headline figure is pipeline / reduced-scale decode, measured on the same file in the
same run, so it does not depend on how fast this machine is. Target: at most 1.3.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.images import (
    DEFAULT_SIZES,
    SIZE_TOLERANCE,
    inspect_image,
    make_derivatives,
)

WIDTH, HEIGHT = 4032, 3024


def synthetic_photo(index: int, rng: np.random.Generator, texture: np.ndarray) -> bytes:
    """A 12 MP JPEG that compresses like a phone photo, different for each ``index``."""
    y = np.linspace(0, 1, HEIGHT, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)[None, :]
    phase = index * 0.7
    base = np.stack(
        [
            120 + 80 * np.sin(6 * x + 2 * y + phase),
            100 + 90 * y * np.cos(3 * x - phase),
            90 + 60 * x + 40 * np.sin(9 * y + phase),
        ],
        axis=-1,
    )
    shifted = np.roll(texture, shift=(index * 611, index * 997), axis=(0, 1))
    noise = rng.integers(-8, 9, size=(HEIGHT, WIDTH, 3), dtype=np.int16)
    pixels = np.clip(base + shifted + noise, 0, 255).astype(np.uint8)
    exif = Image.Exif()
    if index % 2:
        exif[ExifTags.Base.Orientation] = 6
        exif[ExifTags.Base.Make] = "HUAWEI"
        exif[ExifTags.IFD.GPSInfo] = {
            1: "N",
            2: (IFDRational(26, 1), IFDRational(4, 1), IFDRational(2682, 100)),
            3: "E",
            4: (IFDRational(119, 1), IFDRational(17, 1), IFDRational(4740, 100)),
        }
        exif[ExifTags.IFD.Exif] = {
            ExifTags.Base.DateTimeOriginal: "2026:03:01 09:15:30",
            ExifTags.Base.OffsetTimeOriginal: "+08:00",
        }
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def texture_field(rng: np.random.Generator) -> np.ndarray:
    """Smooth random texture (low-res noise scaled up), like foliage or pavement."""
    low = rng.normal(0, 40, (HEIGHT // 8, WIDTH // 8, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(low + 128, 0, 255).astype(np.uint8))
    return np.asarray(image.resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR), np.float32) - 128


def interleaved_medians(actions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each action, run round-robin so machine noise hits all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeats):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def write_fsync(data: bytes, directory: Path) -> None:
    fd, name = tempfile.mkstemp(dir=directory)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.unlink(name)


def full_decode(path: Path) -> None:
    with Image.open(path) as image:
        image.load()


def reduced_decode(path: Path, request: tuple[int, int] | None) -> None:
    with Image.open(path) as image:
        image.draft("RGB", request)
        image.load()


def pipeline_request(size: tuple[int, int]) -> tuple[int, int]:
    """The ``draft`` size ``make_derivatives`` asks for (largest thumbnail, tolerance)."""
    scale = min(1.0, max(DEFAULT_SIZES) / max(size))
    want = (round(size[0] * scale), round(size[1] * scale))
    return (
        math.floor(want[0] * (1 - SIZE_TOLERANCE)),
        math.floor(want[1] * (1 - SIZE_TOLERANCE)),
    )


def pipeline(path: Path) -> None:
    sha256_file(path)
    inspect_image(path)
    make_derivatives(path, DEFAULT_SIZES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    rng = np.random.default_rng(20260301)
    texture = texture_field(rng)
    rows = []
    with tempfile.TemporaryDirectory(prefix="media-bench-") as workdir:
        work = Path(workdir)
        for index in range(args.photos):
            data = synthetic_photo(index, rng, texture)
            path = work / f"photo{index}.jpg"
            path.write_bytes(data)
            request = pipeline_request((WIDTH, HEIGHT))
            # Warm the page cache and the code paths once before timing.
            pipeline(path)
            timings = interleaved_medians(
                {
                    "sha256": lambda p=path: sha256_file(p),
                    "write+fsync": lambda d=data: write_fsync(d, work),
                    "full decode": lambda p=path: full_decode(p),
                    "1/2 decode": lambda p=path: reduced_decode(p, (1024, 1024)),
                    "draft decode": lambda p=path, r=request: reduced_decode(p, r),
                    "pipeline": lambda p=path: pipeline(p),
                },
                args.repeats,
            )
            label = f"{index}{' (orient. 6)' if index % 2 else ''}"
            rows.append({"photo": label, "MB": len(data) / 1e6, **timings})
    for row in rows:
        row["ratio"] = row["pipeline"] / row["draft decode"]

    columns = list(rows[0])
    print(f"{WIDTH}x{HEIGHT} JPEG, median of {args.repeats} runs, times in ms")
    print("  ".join(f"{c:>14}" for c in columns))
    for row in rows:
        print(
            "  ".join(
                f"{row[c]:>14}" if isinstance(row[c], str) else f"{row[c]:>14.2f}" for c in columns
            )
        )
    ratio = statistics.median(row["ratio"] for row in rows)
    print(
        f"\npipeline / reduced-scale decode: median {ratio:.2f}x "
        f"(target <= 1.30x) -> {'OK' if ratio <= 1.3 else 'OVER TARGET'}"
    )
    print(
        f"sha256 {statistics.median(r['sha256'] for r in rows):.1f} ms, "
        f"write+fsync {statistics.median(r['write+fsync'] for r in rows):.1f} ms per photo"
    )


if __name__ == "__main__":
    main()
