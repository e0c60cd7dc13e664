"""What a ledger row says in print: the cells of the XLSX and PDF, in Chinese, local time.

The JSON list gives the same facts as data; this module is the one place that decides how
they read on paper (``—`` for a fact not recorded yet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from app.ledger.queries import LedgerRow, Scope
from app.ledger.thumbnails import Thumbnails
from app.workcalendar.periods import Period

MISSING = "—"
TITLE = "两图一表"

SOURCE_LABELS = {
    "inspector": "监督员",
    "street_chief": "街长",
    "road_chief": "路长",
    "merchant": "门前三包商户",
    "dispatcher": "指挥中心",
    "hotline": "热线",
    "open311": "Open311",
    "public": "公众举报",
    "video": "视频智能识别",
    "leader": "领导批示",
    "referral": "部门转办",
}
SCOPE_LABELS = {
    "district": "全区",
    "street": "街道",
    "road": "道路",
    "community": "社区",
    "grid": "单元网格",
    "department": "处置部门",
}
# Seconds of one unit of each limit type; working days use the calendar's working day.
LIMIT_UNITS = {
    "working_hours": ("工作时", 3600.0),
    "working_days": ("工作日", None),
    "calendar_days": ("自然日", 86400.0),
    "urgent_hours": ("小时", 3600.0),
}

# (header, width in characters) of the table's text columns, in order.
COLUMNS = (
    ("序号", 6),
    ("案卷编号", 22),
    ("类别编码", 9),
    ("类别名称", 14),
    ("编码版本", 9),
    ("地址", 28),
    ("单元网格", 17),
    ("街道", 12),
    ("社区", 12),
    ("来源", 10),
    ("上报人", 10),
    ("处置部门", 14),
    ("上报时间", 17),
    ("派遣时间", 17),
    ("结案时间", 17),
    ("用时", 11),
    ("按期结案", 9),
    ("返工次数", 9),
)


@dataclasses.dataclass(frozen=True)
class Heading:
    """The ledger's title line: scope and period as printed."""

    scope: Scope
    period: Period

    @property
    def scope_text(self) -> str:
        if self.scope.kind == "district":
            return f"{self.scope.name}（{SCOPE_LABELS['district']}）"
        return f"{SCOPE_LABELS[self.scope.kind]}：{self.scope.name}"

    @property
    def period_text(self) -> str:
        return f"{self.period.first.isoformat()} 至 {self.period.last.isoformat()}"

    @property
    def title(self) -> str:
        return f"{TITLE}  {self.scope_text}  {self.period_text}"


@dataclasses.dataclass
class LedgerFile:
    """What a file of the ledger is made from: its heading, the rows in batches, where the
    pictures are, the city's zone and working day, and whom to tell the rows written."""

    heading: Heading
    batches: Iterable[list[LedgerRow]]
    thumbnails: Thumbnails
    zone: ZoneInfo
    workday_seconds: float
    progress: Callable[[int], None] | None = None

    def cells(self, index: int, row: LedgerRow) -> list:
        return cells(index, row, self.zone, self.workday_seconds)

    def tell(self, rows: int) -> None:
        if self.progress is not None:
            self.progress(rows)


def local_time(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    return MISSING if moment is None else moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def time_used(seconds: float | None, limit_type: str, workday_seconds: float) -> str:
    """``3.5 工作时``: the time used in the unit of the case's limit."""
    if seconds is None:
        return MISSING
    unit, size = LIMIT_UNITS.get(limit_type, ("小时", 3600.0))
    amount = seconds / (size or workday_seconds)
    return f"{amount:.1f} {unit}"


def on_time(value: bool | None) -> str:
    return MISSING if value is None else ("是" if value else "否")


def cells(index: int, row: LedgerRow, zone: ZoneInfo, workday_seconds: float) -> list:
    """The text columns of one row, in ``COLUMNS`` order."""
    return [
        index,
        row.number,
        row.category_code,
        row.category_name,
        row.category_edition,
        row.address or MISSING,
        row.grid_code or MISSING,
        row.street_name or MISSING,
        row.community_name or MISSING,
        SOURCE_LABELS.get(row.source, row.source),
        row.reporter_name or MISSING,
        row.department_name or MISSING,
        local_time(row.reported_at, zone),
        local_time(row.dispatched_at, zone),
        local_time(row.closed_at, zone),
        time_used(row.time_used, row.limit_type, workday_seconds),
        on_time(row.closed_on_time),
        row.rework_count,
    ]


def filenames(heading: Heading, extension: str) -> tuple[str, str]:
    """(ASCII fallback, Chinese) names of the file: ``ledger-street-12-2026-11.xlsx`` and
    ``两图一表-中华街道-2026-11.xlsx``."""
    scope = heading.scope
    ident = scope.kind if scope.id is None else f"{scope.kind}-{scope.code or scope.id}"
    label = heading.period.label.replace("..", "_")
    ascii_name = re.sub(r"[^A-Za-z0-9._-]", "_", f"ledger-{ident}-{label}.{extension}")
    name = f"{TITLE}-{scope.name}-{label}.{extension}".replace("/", "_").replace("\\", "_")
    return ascii_name, name


def content_disposition(ascii_name: str, name: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the UTF-8 ``filename*`` (RFC 5987)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
