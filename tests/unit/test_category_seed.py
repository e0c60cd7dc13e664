"""The national categories shipped with the server: enough, well-formed, and DOMAIN.md's."""

import collections

import pytest

from app.categories.models import MAJOR_CLASSES, code_is_well_formed
from app.categories.services import national_categories
from app.workcalendar.worktime import LIMIT_TYPES

# DOMAIN.md, "A sample of categories": (kind, name, old code, new code).
DOMAIN_TABLE = [
    ("component", "上水井盖", "0101", "01001"),
    ("component", "污水井盖", "0102", "01002"),
    ("component", "雨水井盖", "0103", "01003"),
    ("component", "雨水箅子", "0104", "01004"),
    ("component", "电力井盖", "0105", "01005"),
    ("component", "路灯", "0118", "01037"),
    ("component", "公交站亭", "0203", "02004"),
    ("component", "交通护栏", "0211", "02017"),
    ("component", "公共厕所", "0301", "03001"),
    ("component", "垃圾箱", "0305", "03005"),
    ("component", "古树名木", "0401", "04001"),
    ("component", "行道树", "0402", "04002"),
    ("event", "私搭乱建", "0101", "06001"),
    ("event", "暴露垃圾", "0102", "06010"),
    ("event", "积存垃圾渣土", "0103", "06011"),
    ("event", "道路不洁", "0104", "06012"),
    ("event", "水域不洁", "0105", "06025"),
    ("event", "非法小广告", "0201", "07001"),
    ("event", "工地扬尘", "0302", "08004"),
    ("event", "无照经营游商", "0501", "09001"),
    ("event", "店外经营", "0504", "09005"),
    ("event", "机动车乱停放", "0505", "09009"),
]

SEED = national_categories()
BY_KEY = {(c["kind"], c["edition"], c["code"]): c for c in SEED}


def test_at_least_sixty_categories_of_both_kinds_and_editions():
    assert len(SEED) >= 60
    assert {c["kind"] for c in SEED} == {"component", "event"}
    assert {c["edition"] for c in SEED} == {"cjt214", "gbt47678"}


def test_codes_are_unique_per_kind_and_edition():
    counts = collections.Counter((c["kind"], c["edition"], c["code"]) for c in SEED)
    assert [key for key, n in counts.items() if n > 1] == []


@pytest.mark.parametrize(("kind", "name", "old", "new"), DOMAIN_TABLE)
def test_every_domain_table_code_is_present_in_both_editions(kind, name, old, new):
    assert BY_KEY[(kind, "cjt214", old)]["name"] == name
    assert BY_KEY[(kind, "gbt47678", new)]["name"] == name


def test_old_event_codes_restart_so_0101_is_a_component_and_an_event():
    assert BY_KEY[("component", "cjt214", "0101")]["name"] == "上水井盖"
    assert BY_KEY[("event", "cjt214", "0101")]["name"] == "私搭乱建"


def test_codes_are_well_formed_for_their_edition_and_major_class():
    for category in SEED:
        edition, code = category["edition"], category["code"]
        assert code_is_well_formed(edition, code), category
        assert len(code) == {"cjt214": 4, "gbt47678": 5}[edition]
        assert code[:2] in MAJOR_CLASSES[(category["kind"], edition)], category


def test_new_edition_covers_every_major_class_of_domain_md():
    new = [c for c in SEED if c["edition"] == "gbt47678"]
    components = {c["code"][:2] for c in new if c["kind"] == "component"}
    events = {c["code"][:2] for c in new if c["kind"] == "event"}
    assert components >= {"01", "02", "03", "04", "05"}
    assert events >= {"06", "07", "08", "09", "10"}
    names = MAJOR_CLASSES[("event", "gbt47678")]
    assert [names[m] for m in ("06", "07", "08", "09", "10")] == [
        "市容环境",
        "宣传广告",
        "施工管理",
        "街面秩序",
        "其他",
    ]


def test_time_limits_are_positive_and_of_a_known_type():
    for category in SEED:
        assert category["limit_type"] in LIMIT_TYPES, category
        assert category["time_limit"] > 0, category
    assert {c["limit_type"] for c in SEED} == set(LIMIT_TYPES)


@pytest.mark.parametrize(
    ("kind", "code", "limit", "limit_type"),
    [
        ("event", "06010", 4, "working_hours"),  # 暴露垃圾
        ("event", "06012", 2, "working_hours"),  # 道路不洁
        ("event", "06001", 15, "working_days"),  # 私搭乱建
        ("component", "01001", 6, "urgent_hours"),  # 上水井盖
    ],
)
def test_typical_local_time_limits(kind, code, limit, limit_type):
    category = BY_KEY[(kind, "gbt47678", code)]
    assert (category["time_limit"], category["limit_type"]) == (limit, limit_type)
