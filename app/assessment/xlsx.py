"""A level's rows as an XLSX workbook (XlsxWriter): one sheet per subject, a title row
with the period and level, a frozen header, each formula's numerator, denominator and
rate, then the score, rank and changes."""

from __future__ import annotations

import io

import xlsxwriter

from app.assessment.formulas import level_formulas

LEVEL_NAMES = {
    "district": "区",
    "street": "街道",
    "community": "社区",
    "grid": "单元网格",
    "department": "部门",
    "inspector": "监督员",
    "dispatcher": "指挥中心",
}
SUBJECT_NAMES = {
    "region": "区域",
    "department": "部门",
    "inspector": "监督员",
    "shift_leader": "值班长",
    "dispatcher": "派遣员",
}
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def filename(answer: dict) -> str:
    return f"assessment-{answer['level']}-{answer['period']}.xlsx"


def _header(level: str, subject: str) -> list[str]:
    header = ["排名 rank", "编码 code", "名称 name", "综合得分 score", "得分变化", "排名变化"]
    for formula in level_formulas(level, subject):
        header += [
            f"{formula.name} {formula.numerator}",
            f"{formula.name} {formula.denominator}",
            f"{formula.name} %",
            f"{formula.name} 变化",
        ]
    return header


def _cells(level: str, subject: str, row: dict) -> list:
    cells = [
        row["rank"],
        row["code"],
        row["name"],
        row["score"],
        row.get("score_change"),
        row.get("rank_change"),
    ]
    for formula in level_formulas(level, subject):
        figure = row["formulas"].get(formula.id, {})
        cells += [
            figure.get("numerator"),
            figure.get("denominator"),
            figure.get("rate"),
            figure.get("change"),
        ]
    return cells


def write(answer: dict, subjects: tuple[str, ...]) -> bytes:
    """The workbook of ``answer`` (what the JSON route returns), one sheet per subject."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    level = answer["level"]
    for subject in subjects:
        sheet = book.add_worksheet(SUBJECT_NAMES[subject])
        state = "已通报" if answer["published"] else "未通报"
        title = (
            f"{answer['period']} 考评 · {LEVEL_NAMES[level]} · {SUBJECT_NAMES[subject]} ({state})"
        )
        sheet.write(0, 0, title, bold)
        header = _header(level, subject)
        sheet.write_row(1, 0, header, bold)
        sheet.freeze_panes(2, 3)
        sheet.set_column(0, 0, 8)
        sheet.set_column(1, 1, 18)
        sheet.set_column(2, 2, 20)
        sheet.set_column(3, len(header) - 1, 12)
        rows = [row for row in answer["rows"] if row["subject"] == subject]
        for index, row in enumerate(rows, start=2):
            sheet.write_row(index, 0, _cells(level, subject, row))
    book.close()
    return buffer.getvalue()
