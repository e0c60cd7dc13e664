"""A PDF written page by page to a file, with one embedded CJK font, subset at the end.

Why not a PDF library: fpdf2 and ReportLab build the whole document in memory and write it
at the end, pictures included, and a year's ledger has thousands of them. Here each page's
pictures are copied from their files straight into the output (JPEG as ``DCTDecode``, no
re-encoding), the page is written and forgotten; only object offsets and the glyphs used
stay in memory.

The font is Noto Sans SC (``pylopdf-fonts-zh-cn``, a pinned PyPI wheel, SIL OFL), a
CID-keyed CFF OpenType font. Text is shown in Identity-H with the glyphs' CIDs as codes;
at the end fontTools subsets the font to the glyphs used (the CIDs survive subsetting:
they are the glyph names) and it is embedded as ``FontFile3`` ``CIDFontType0C``, with a
``ToUnicode`` map so the text can be searched and copied.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import pylopdf_fonts_zh_cn
from fontTools import subset
from fontTools.ttLib import TTFont

A4_LANDSCAPE = (841.89, 595.28)
FONT_NAME = "LEDGER+NotoSansSC-Regular"
COPY_CHUNK = 256 * 1024


def font_path() -> Path:
    return pylopdf_fonts_zh_cn.sans_path()


@functools.cache
def _metrics() -> tuple[dict[int, str], dict[str, int]]:
    """The font's cmap (code point -> glyph name) and advance widths (glyph -> units of
    1/1000 em), read once per process."""
    font = TTFont(str(font_path()), lazy=True)
    cmap = dict(font.getBestCmap())
    hmtx = font["hmtx"]
    widths = {name: hmtx[name][0] for name in set(cmap.values())}
    font.close()
    return cmap, widths


class CjkFont:
    """Measures and encodes text, and remembers which glyphs were used."""

    def __init__(self) -> None:
        self.cmap, self.widths = _metrics()
        self.used: dict[int, tuple[str, int]] = {}  # cid -> (glyph name, code point)

    def _glyph(self, char: str) -> str | None:
        return self.cmap.get(ord(char))

    def advance(self, char: str) -> float:
        name = self._glyph(char)
        return self.widths.get(name, 1000) if name else 1000

    def width(self, text: str, size: float) -> float:
        return sum(self.advance(char) for char in text) * size / 1000

    def encode(self, text: str) -> bytes:
        """Hex CIDs for a ``Tj`` (a glyph the font lacks shows as .notdef)."""
        out = []
        for char in text:
            name = self._glyph(char)
            cid = int(name[3:]) if name and name.startswith("cid") else 0
            if cid:
                self.used.setdefault(cid, (name, ord(char)))
            out.append(f"{cid:04X}")
        return ("<" + "".join(out) + ">").encode()

    def subset_cff(self) -> bytes:
        font = TTFont(str(font_path()))
        options = subset.Options()
        options.notdef_outline = True
        options.layout_features = []
        subsetter = subset.Subsetter(options)
        subsetter.populate(glyphs=[name for name, _ in self.used.values()])
        subsetter.subset(font)
        data = font["CFF "].compile(font)
        font.close()
        return data

    def width_array(self) -> str:
        parts = [
            f"{cid} [{self.widths[name]}]"
            for cid, (name, _) in sorted(self.used.items())
            if self.widths.get(name, 1000) != 1000
        ]
        return "[" + " ".join(parts) + "]"

    def to_unicode(self) -> bytes:
        lines = [
            "/CIDInit /ProcSet findresource begin 12 dict begin begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def /CMapType 2 def",
            "1 begincodespacerange <0000> <FFFF> endcodespacerange",
        ]
        entries = sorted(self.used.items())
        for start in range(0, len(entries), 100):
            chunk = entries[start : start + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            lines.extend(f"<{cid:04X}> <{_utf16(point)}>" for cid, (_, point) in chunk)
            lines.append("endbfchar")
        lines.append("endcmap CMapName currentdict /CMap defineresource pop end end")
        return "\n".join(lines).encode()


def _utf16(point: int) -> str:
    return chr(point).encode("utf-16-be").hex().upper()


class PdfWriter:
    """Objects go out as they are made; the page tree and the font come last."""

    def __init__(self, out: BinaryIO, size: tuple[float, float] = A4_LANDSCAPE) -> None:
        self.out = out
        self.size = size
        self.font = CjkFont()
        self.offsets: dict[int, int] = {}
        self.pages: list[int] = []
        self._next = 1
        self.catalog, self.page_tree, self.font_ref = self.reserve(), self.reserve(), self.reserve()
        # "M 页" of "第 N 页 / 共 M 页": one form every page shows, written when M is known.
        self.total_form = self.reserve()
        self._position = 0
        self._write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")

    def reserve(self) -> int:
        number = self._next
        self._next += 1
        return number

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self._position += len(data)

    def _begin(self, number: int) -> None:
        self.offsets[number] = self._position
        self._write(f"{number} 0 obj\n".encode())

    def object(self, body: str | bytes, number: int | None = None) -> int:
        number = number or self.reserve()
        self._begin(number)
        self._write(body if isinstance(body, bytes) else body.encode())
        self._write(b"\nendobj\n")
        return number

    def stream(self, entries: str, data: bytes, number: int | None = None) -> int:
        body = f"<< {entries} /Length {len(data)} >>\nstream\n".encode()
        return self.object(body + data + b"\nendstream", number)

    def image(self, path: Path, width: int, height: int, mode: str, size: int) -> int:
        """A JPEG file as an image XObject, copied from the file in chunks."""
        number = self.reserve()
        self._begin(number)
        colour = "/DeviceGray" if mode == "L" else "/DeviceRGB"
        self._write(
            f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
            f"/ColorSpace {colour} /BitsPerComponent 8 /Filter /DCTDecode /Length {size} >>\n"
            "stream\n".encode()
        )
        with path.open("rb") as source:
            while chunk := source.read(COPY_CHUNK):
                self._write(chunk)
        self._write(b"\nendstream\nendobj\n")
        return number

    def page(self, content: bytes, images: dict[str, int]) -> None:
        stream = self.stream("/Filter /FlateDecode", zlib.compress(content, 6))
        images = {**images, "Total": self.total_form}
        xobjects = " ".join(f"/{name} {number} 0 R" for name, number in images.items())
        width, height = self.size
        self.pages.append(
            self.object(
                f"<< /Type /Page /Parent {self.page_tree} 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << /Font << /F1 {self.font_ref} 0 R >> /XObject << {xobjects} >> >> "
                f"/Contents {stream} 0 R >>"
            )
        )

    def _font_objects(self) -> None:
        font_file = self.stream("/Subtype /CIDFontType0C", self.font.subset_cff())
        descriptor = self.object(
            f"<< /Type /FontDescriptor /FontName /{FONT_NAME} /Flags 4 "
            "/FontBBox [-1000 -1000 3000 1500] /ItalicAngle 0 /Ascent 1160 /Descent -288 "
            f"/CapHeight 733 /StemV 80 /FontFile3 {font_file} 0 R >>"
        )
        cid_font = self.object(
            f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{FONT_NAME} "
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
            f"/FontDescriptor {descriptor} 0 R /DW 1000 /W {self.font.width_array()} >>"
        )
        to_unicode = self.stream("", self.font.to_unicode())
        self.object(
            f"<< /Type /Font /Subtype /Type0 /BaseFont /{FONT_NAME} /Encoding /Identity-H "
            f"/DescendantFonts [{cid_font} 0 R] /ToUnicode {to_unicode} 0 R >>",
            self.font_ref,
        )

    def _total_pages(self, size: float) -> None:
        content = text_ops(self.font, 0, 4, size, f"{len(self.pages)} 页")
        self.stream(
            "/Type /XObject /Subtype /Form /BBox [0 0 200 20] "
            f"/Resources << /Font << /F1 {self.font_ref} 0 R >> >>",
            content,
            self.total_form,
        )

    def finish(self, title: str = "", footer_size: float = 9) -> None:
        self._total_pages(footer_size)
        self._font_objects()
        kids = " ".join(f"{number} 0 R" for number in self.pages)
        self.object(f"<< /Type /Pages /Kids [{kids}] /Count {len(self.pages)} >>", self.page_tree)
        self.object(f"<< /Type /Catalog /Pages {self.page_tree} 0 R >>", self.catalog)
        info = self.object(f"<< /Title <FEFF{title.encode('utf-16-be').hex().upper()}> >>")
        xref = self._position
        count = self._next
        lines = [f"xref\n0 {count}\n", "0000000000 65535 f \n"]
        lines.extend(
            f"{self.offsets[number]:010d} 00000 n \n"
            if number in self.offsets
            else "0000000000 65535 f \n"
            for number in range(1, count)
        )
        self._write("".join(lines).encode())
        self._write(
            f"trailer\n<< /Size {count} /Root {self.catalog} 0 R /Info {info} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n".encode()
        )


def text_ops(font: CjkFont, x: float, y: float, size: float, text: str) -> bytes:
    return b"BT /F1 %.2f Tf %.2f %.2f Td " % (size, x, y) + font.encode(text) + b" Tj ET\n"


def wrap(font: CjkFont, text: str, size: float, width: float) -> Iterable[str]:
    """Lines of ``text`` no wider than ``width`` (broken between any two characters, as
    Chinese is; newlines kept)."""
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for char in paragraph:
            advance = font.advance(char) * size / 1000
            if line and used + advance > width:
                yield line
                line, used = "", 0.0
            line += char
            used += advance
        yield line
