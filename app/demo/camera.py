"""Pictures for the demo history: a street scene per case, drawn with Pillow.

Each case gets its own scene (its seed): the problem photo shows it with the mess in it,
the closure photo the same place cleared, taken a step aside (mirrored, the horizon moved,
brighter), so the evidence checks' perceptual hashes tell them apart (``same_as_problem``)
and no two cases look alike (``same_as_other_case``). Every photo carries EXIF like a
phone's: the time it was taken with its offset (+08:00, so ``taken_before_report`` can
check it), and GPS a few metres from the case.

The bytes go through the photo domain's own use cases — ``receive_blob`` (checked,
stored), ``process_blob`` (thumbnails, pHash) and, with the move that names them,
``register_photo`` — so they are photos like any phone's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import random
import uuid
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.photos import services as photos
from app.photos.backends import Media

WIDTH, HEIGHT = 800, 600
QUALITY = 70
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
MAKE, MODEL = 0x010F, 0x0110
PHONES = [("HUAWEI", "Mate 60"), ("Xiaomi", "14"), ("OPPO", "Reno11"), ("vivo", "X100")]


@dataclasses.dataclass(frozen=True)
class Shot:
    """What to draw: the scene (its seed), the case's state in it, where and when."""

    scene: int
    kind: str  # problem, closure, check, selfcheck
    lat: float
    lon: float
    at: dt.datetime


class _Collected:
    """A job queue that keeps the jobs for the caller to run now (the history processes
    each photo as it is taken, not on a worker thread that would outlive the command)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, dict]] = []

    def enqueue(self, name: str, payload: dict, **_options) -> None:
        self.jobs.append((name, payload))


def _palette(rng: random.Random) -> dict:
    def colour(low: int, high: int) -> tuple[int, int, int]:
        return tuple(rng.randint(low, high) for _ in range(3))

    return {
        "sky": colour(150, 235),
        "ground": colour(70, 150),
        "buildings": [colour(60, 230) for _ in range(rng.randint(3, 6))],
        "mess": [colour(10, 255) for _ in range(rng.randint(4, 9))],
        "furniture": [colour(0, 255) for _ in range(rng.randint(3, 6))],
    }


def draw(shot: Shot, tz: ZoneInfo) -> Image.Image:
    """The picture of ``shot``: its scene, cleared unless it is the problem photo."""
    rng = random.Random(shot.scene)
    palette = _palette(rng)
    cleared = shot.kind != "problem"
    horizon = rng.randint(int(HEIGHT * 0.3), int(HEIGHT * 0.6))
    if cleared:
        # Taken a step aside: the closure from one side, the check from the other.
        shift = 90 if shot.kind == "closure" else -90
        horizon = max(60, min(HEIGHT - 60, horizon + shift))
    image = Image.new("RGB", (WIDTH, HEIGHT), palette["sky"])
    pen = ImageDraw.Draw(image)
    pen.rectangle((0, horizon, WIDTH, HEIGHT), fill=palette["ground"])
    x = 0
    for index, colour in enumerate(palette["buildings"] * 3):
        width = rng.randint(60, 220)
        top = rng.randint(20, max(30, horizon - 40))
        pen.rectangle((x, top, x + width, horizon), fill=colour)
        for row in range(top + 15, horizon - 20, 40):
            pen.rectangle((x + 10, row, x + 25, row + 18), fill=palette["sky"])
        x += width + (index % 3) * 10
        if x > WIDTH:
            break
    # What stays in the street (trees, cars, kiosks): every scene its own.
    for colour in palette["furniture"]:
        left, top = rng.randint(-50, WIDTH - 50), rng.randint(0, HEIGHT - 80)
        width, height = rng.randint(60, 300), rng.randint(60, 260)
        shape = pen.ellipse if rng.random() < 0.5 else pen.rectangle
        shape((left, top, left + width, top + height), fill=colour)
    if not cleared:
        for colour in palette["mess"]:
            cx, cy = rng.randint(80, WIDTH - 80), rng.randint(horizon + 30, HEIGHT - 30)
            rx, ry = rng.randint(40, 160), rng.randint(25, 90)
            pen.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
    if cleared:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = Image.eval(image, lambda value: min(255, value + 25))
        pen = ImageDraw.Draw(image)
    local = shot.at.astimezone(tz)
    stamp = f"{local:%Y-%m-%d %H:%M:%S}  N{shot.lat:.5f} E{shot.lon:.5f}  {shot.kind}"
    pen.text((12, HEIGHT - 24), stamp, fill=(255, 255, 255))
    return image


def _rational(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes_float = (value - degrees) * 60
    minutes = int(minutes_float)
    return (float(degrees), float(minutes), round((minutes_float - minutes) * 60, 4))


def jpeg(shot: Shot, tz: ZoneInfo, phone: int = 0) -> bytes:
    """The JPEG of ``shot`` with a phone's EXIF: make, model, time with offset, GPS."""
    image = draw(shot, tz)
    exif = Image.Exif()
    make, model = PHONES[phone % len(PHONES)]
    exif[MAKE], exif[MODEL] = make, model
    local = shot.at.astimezone(tz)
    offset = local.strftime("%z")
    exif_ifd = exif.get_ifd(EXIF_IFD)
    exif_ifd[DATETIME_ORIGINAL] = f"{local:%Y:%m:%d %H:%M:%S}"
    exif_ifd[OFFSET_TIME_ORIGINAL] = f"{offset[:3]}:{offset[3:]}"
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = ("N" if shot.lat >= 0 else "S"), _rational(abs(shot.lat))
    gps[3], gps[4] = ("E" if shot.lon >= 0 else "W"), _rational(abs(shot.lon))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, exif=exif)
    return out.getvalue()


class Camera:
    """Takes the history's photos: draws them, sends their bytes as ``user``'s phone
    would, has them processed, and answers the reference a move carries."""

    def __init__(self, session: Session, media: Media, tz: ZoneInfo, rng: random.Random):
        self.session = session
        self.queue = _Collected()
        self.media = dataclasses.replace(media, queue=self.queue)
        self.tz = tz
        self.rng = rng
        self.taken = 0

    def take(self, user: User, shot: Shot) -> dict:
        """A photo by ``user``: stored and processed; its reference for a report or move."""
        data = jpeg(shot, self.tz, phone=user.id)
        sha256 = hashlib.sha256(data).hexdigest()
        photos.receive_blob(self.session, self.media, user, io.BytesIO(data), sha256)
        self.run_jobs()
        self.taken += 1
        return {
            "photo_id": uuid.UUID(int=self.rng.getrandbits(128), version=4),
            "sha256": sha256,
            "kind": shot.kind,
            "taken_at": shot.at,
            "lat": shot.lat,
            "lon": shot.lon,
        }

    def run_jobs(self) -> None:
        jobs, self.queue.jobs = self.queue.jobs, []
        for name, payload in jobs:
            if name == "process_blob":
                photos.process_blob(self.session, self.media, payload["sha256"])
