"""The ledger as a printable PDF: A4 landscape, one page per case, the problem (before) and
closure (after) thumbnails side by side with the case's row under them, the scope and
period in the page header, "第 N 页 / 共 M 页" in the footer.

Pages are written as they are made (``pdfdoc.PdfWriter``): a page's pictures are copied
from their files into the output and nothing of them is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from app.ledger import render
from app.ledger.pdfdoc import PdfWriter, text_ops, wrap
from app.ledger.queries import LedgerPhoto, LedgerRow
from app.ledger.thumbnails import Thumbnails

MARGIN = 28.0
PHOTO_TOP = 530.0
PHOTO_BOTTOM = 290.0
GAP = 16.0
PHOTOS_SHOWN = 2
FIELD_SIZE = 9.0
FIELD_COLUMNS = 3
FIELD_ROW = 44.0
LABEL_WIDTH = 54.0
BEFORE = "问题图片（处置前）"
AFTER = "销号图片（处置后）"
BEFORE = "问题图片（处置前）"
AFTER = "销号图片（处置后）"


class _Page:
    """One page's content stream and pictures."""

    def __init__(self, writer: PdfWriter) -> None:
        self.writer = writer
        self.ops: list[bytes] = []
        self.images: dict[str, int] = {}

    def text(self, x: float, y: float, size: float, text: str) -> None:
        self.ops.append(text_ops(self.writer.font, x, y, size, text))

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        self.ops.append(b"0.6 G 0.5 w %.2f %.2f m %.2f %.2f l S\n" % (x1, y1, x2, y2))

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self.ops.append(b"0.8 G 0.5 w %.2f %.2f %.2f %.2f re S\n" % (x, y, w, h))

    def picture(self, path: Path, size: tuple[int, int], mode: str, length: int, box) -> None:
        x, y, w, h = box
        scale = min(w / size[0], h / size[1])
        shown_w, shown_h = size[0] * scale, size[1] * scale
        name = f"Im{len(self.images) + 1}"
        self.images[name] = self.writer.image(path, size[0], size[1], mode, length)
        left, bottom = x + (w - shown_w) / 2, y + (h - shown_h) / 2
        self.ops.append(
            b"q %.2f 0 0 %.2f %.2f %.2f cm /%s Do Q\n"
            % (shown_w, shown_h, left, bottom, name.encode())
        )

    def finish(self) -> None:
        self.writer.page(b"".join(self.ops), self.images)


def _photo_box(
    page: _Page,
    label: str,
    photos: list[LedgerPhoto],
    x: float,
    width: float,
    thumbnails: Thumbnails,
) -> None:
    page.text(x, PHOTO_TOP, 11, label)
    top = PHOTO_TOP - 8
    page.rect(x, PHOTO_BOTTOM, width, top - PHOTO_BOTTOM)
    shown = [thumbnails.picture(photo.thumbnail_sha) for photo in photos[:PHOTOS_SHOWN]]
    shown = [picture for picture in shown if picture is not None]
    if not shown:
        page.text(x + width / 2 - 30, (top + PHOTO_BOTTOM) / 2, 10, "（无图片）")
    each = (width - 8 - 6 * (len(shown) - 1)) / max(len(shown), 1)
    for n, picture in enumerate(shown):
        box = (x + 4 + n * (each + 6), PHOTO_BOTTOM + 4, each, top - PHOTO_BOTTOM - 8)
        size = (picture.width, picture.height)
        page.picture(picture.path, size, picture.mode, picture.size, box)
    if len(photos) > PHOTOS_SHOWN:
        page.text(x, PHOTO_BOTTOM - 12, 8, f"另有 {len(photos) - PHOTOS_SHOWN} 张，见图片编号")


def _fields(page: _Page, values: list) -> None:
    labels = [name for name, _ in render.COLUMNS]
    pairs = list(zip(labels[1:], values[1:], strict=True))
    width = (page.writer.size[0] - 2 * MARGIN) / FIELD_COLUMNS
    top = PHOTO_BOTTOM - 28
    for n, (label, value) in enumerate(pairs):
        x = MARGIN + (n % FIELD_COLUMNS) * width
        y = top - (n // FIELD_COLUMNS) * FIELD_ROW
        page.text(x, y, FIELD_SIZE, label)
        lines = list(wrap(page.writer.font, str(value), FIELD_SIZE, width - LABEL_WIDTH - 8))
        for k, line in enumerate(lines[:3]):
            page.text(x + LABEL_WIDTH, y - k * (FIELD_SIZE + 3), FIELD_SIZE, line)


def _frame(page: _Page, heading: render.Heading, number: int, record: LedgerRow | None) -> None:
    width, height = page.writer.size
    page.text(MARGIN, height - MARGIN - 14, 14, render.TITLE)
    page.text(
        MARGIN + 70, height - MARGIN - 14, 11, f"{heading.scope_text}    {heading.period_text}"
    )
    if record is not None:
        right = f"案卷 {record.number}"
        page.text(
            width - MARGIN - page.writer.font.width(right, 10), height - MARGIN - 14, 10, right
        )
    page.line(MARGIN, height - MARGIN - 22, width - MARGIN, height - MARGIN - 22)
    footer = f"第 {number} 页 / 共 "
    x = width / 2 - page.writer.font.width(footer, 9)
    page.text(x, 18, 9, footer)
    page.ops.append(b"q 1 0 0 1 %.2f 14 cm /Total Do Q\n" % (x + page.writer.font.width(footer, 9)))


def write_pdf(out: BinaryIO, ledger: render.LedgerFile) -> int:
    """Write the PDF to ``out``, a page per case; returns the number of rows."""
    writer = PdfWriter(out)
    done = 0
    half = (writer.size[0] - 2 * MARGIN - GAP) / 2
    for batch in ledger.batches:
        for record in batch:
            done += 1
            page = _Page(writer)
            _frame(page, ledger.heading, done, record)
            _photo_box(page, BEFORE, record.problem_photos, MARGIN, half, ledger.thumbnails)
            right = MARGIN + half + GAP
            _photo_box(page, AFTER, record.closure_photos, right, half, ledger.thumbnails)
            _fields(page, ledger.cells(done, record))
            page.finish()
        ledger.tell(done)
    if done == 0:
        page = _Page(writer)
        _frame(page, ledger.heading, 1, None)
        page.text(MARGIN, PHOTO_TOP, 12, "本期本范围内没有结案（销号）的案卷。")
        page.finish()
    writer.finish(ledger.heading.title)
    return done
