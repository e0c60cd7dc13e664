"""The ledger as an XLSX workbook (XlsxWriter, ``constant_memory``): a title row with the
scope and period, a frozen header row, one row per case with its problem and closure
thumbnails embedded beside it, scaled into the row.

Memory stays flat: in ``constant_memory`` mode each row is written to a temporary file as
soon as the next one starts, and pictures are inserted by path, so the workbook holds
only their names and sizes until it packs them into the zip at close. Plain features only
(cells, one merged title, frozen panes, pictures moved and sized with their cells), so the
file opens in Excel and WPS alike.
"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter

from app.ledger import render
from app.ledger.queries import LedgerPhoto, LedgerRow
from app.ledger.thumbnails import Thumbnails

PHOTOS_PER_KIND = 2
ROW_HEIGHT_PT = 120  # 160 px at 96 dpi
PICTURE_BOX_PX = (200, 150)
PICTURE_COLUMN_WIDTH = 30  # characters, about 215 px
PICTURE_HEADERS = [f"问题图片{n + 1}" for n in range(PHOTOS_PER_KIND)] + [
    f"销号图片{n + 1}" for n in range(PHOTOS_PER_KIND)
]
IDS_HEADER = ("图片编号", 40)
HEADER_ROW = 1
FIRST_ROW = 2


def _formats(book) -> dict:
    return {
        "title": book.add_format({"bold": True, "font_size": 14, "valign": "vcenter"}),
        "header": book.add_format(
            {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True}
        ),
        "cell": book.add_format({"valign": "top", "text_wrap": True, "border": 1}),
    }


def _lay_out(sheet, formats: dict, heading: render.Heading) -> int:
    """Title, headers and widths; returns the first picture column."""
    headers = [name for name, _ in render.COLUMNS]
    for col, (_, width) in enumerate(render.COLUMNS):
        sheet.set_column(col, col, width)
    first_picture = len(headers)
    sheet.set_column(first_picture, first_picture + len(PICTURE_HEADERS) - 1, PICTURE_COLUMN_WIDTH)
    ids_col = first_picture + len(PICTURE_HEADERS)
    sheet.set_column(ids_col, ids_col, IDS_HEADER[1])
    sheet.set_row(0, 28)
    sheet.merge_range(0, 0, 0, ids_col, heading.title, formats["title"])
    for col, name in enumerate([*headers, *PICTURE_HEADERS, IDS_HEADER[0]]):
        sheet.write_string(HEADER_ROW, col, name, formats["header"])
    sheet.freeze_panes(FIRST_ROW, 0)
    return first_picture


def _insert(sheet, row: int, col: int, photo: LedgerPhoto, thumbnails: Thumbnails) -> None:
    picture = thumbnails.picture(photo.thumbnail_sha)
    if picture is None:
        return
    box_w, box_h = PICTURE_BOX_PX
    scale = min(box_w / picture.width, box_h / picture.height)
    sheet.insert_image(
        row,
        col,
        str(picture.path),
        {
            "x_scale": scale,
            "y_scale": scale,
            "x_offset": 4,
            "y_offset": 4,
            "object_position": 1,
            "description": str(photo.id),
        },
    )


def _pictures(sheet, row: int, first: int, record: LedgerRow, thumbnails: Thumbnails) -> None:
    for offset, photos in ((0, record.problem_photos), (PHOTOS_PER_KIND, record.closure_photos)):
        for n, photo in enumerate(photos[:PHOTOS_PER_KIND]):
            _insert(sheet, row, first + offset + n, photo, thumbnails)


def _photo_ids(record: LedgerRow) -> str:
    problem = " ".join(str(photo.id) for photo in record.problem_photos)
    closure = " ".join(str(photo.id) for photo in record.closure_photos)
    return f"问题：{problem or render.MISSING}\n销号：{closure or render.MISSING}"


def write_xlsx(target: Path, ledger: render.LedgerFile) -> int:
    """Write the workbook to ``target``; returns the number of rows, told to the ledger's
    ``progress`` after each batch."""
    book = xlsxwriter.Workbook(
        str(target),
        {"constant_memory": True, "tmpdir": str(target.parent), "strings_to_numbers": False},
    )
    sheet = book.add_worksheet(render.TITLE)
    formats = _formats(book)
    first_picture = _lay_out(sheet, formats, ledger.heading)
    done = 0
    for batch in ledger.batches:
        for record in batch:
            row = FIRST_ROW + done
            done += 1
            sheet.set_row(row, ROW_HEIGHT_PT)
            values = ledger.cells(done, record)
            for col, value in enumerate(values):
                sheet.write(row, col, value, formats["cell"])
            _pictures(sheet, row, first_picture, record, ledger.thumbnails)
            ids_col = first_picture + len(PICTURE_HEADERS)
            sheet.write_string(row, ids_col, _photo_ids(record), formats["cell"])
        ledger.tell(done)
    book.close()
    return done
