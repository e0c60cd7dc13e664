"""考评: a month's rankings of the streets or the departments (scores, ranks, each
formula's rate), bars of the scores and a trend of the last months, drawn as inline SVG;
publishing a month (每月通报) for admins. The same services and roles as
``GET /api/v1/assessment`` and ``POST /api/v1/assessment/publish``."""

from __future__ import annotations

import marshmallow as ma
from flask import abort, flash, redirect, request, url_for

from app.accounts.models import Role
from app.assessment import services as assessment
from app.console import charts, monthly
from app.console import web as console_web
from app.console.schemas import FormSchema, load_form
from app.console.web import blp, page, render, signed_in_user
from app.core.clock import utcnow
from app.core.errors import Conflict, DomainError, ValidationFailed
from app.extensions import db

# The roles of GET /api/v1/assessment that may read the street or department level.
RANKING_ROLES = (Role.DISPATCHER, Role.ADMIN, Role.STREET_CHIEF, Role.HANDLER)
PUBLISHERS = (Role.ADMIN,)
_MONTH = ma.validate.Regexp(r"^\d{4}-\d{2}$", error="月份格式应为 YYYY-MM")


class AssessmentFormSchema(FormSchema):
    period = ma.fields.String(validate=_MONTH)
    level = ma.fields.String(validate=ma.validate.OneOf(tuple(monthly.ASSESSMENT_LEVELS)))
    unit = ma.fields.Integer(validate=ma.validate.Range(1, 2**31 - 1))


class PublishFormSchema(FormSchema):
    period = ma.fields.String(required=True, validate=_MONTH)


def _query(levels: list[str]) -> tuple[dict, str | None]:
    query, errors = load_form(AssessmentFormSchema(), request.args)
    error = None
    if errors:
        names = {"period": "月份", "level": "排名", "unit": "走势单位"}
        error = (
            "查询条件有误（"
            + "、".join(names.get(k, k) for k in sorted(errors))
            + "），已改用默认条件。"
        )
        query = {}
    query.setdefault("period", monthly.previous_month_label(db.session, utcnow()))
    query.setdefault("level", levels[0])
    if query["level"] not in levels:
        abort(403, description="您的角色无权查看该排名。")
    return query, error


def _trend(user, query: dict, rows: list[dict]):
    """The chosen unit's scores over the last months, or the top units'."""
    if query.get("unit"):
        if not any(row["id"] == query["unit"] for row in rows):
            return None, "所选单位不在该排名中。"
        units = [query["unit"]]
    else:
        units = [row["id"] for row in rows if row["score"] is not None][: monthly.TREND_TOP]
    if not units:
        return None, None
    trend = monthly.trend(
        db.session,
        user,
        query["level"],
        query["period"],
        units,
        utcnow(),
        known={query["period"]: rows},
    )
    label = f"近 {len(trend.months)} 个月综合得分走势"
    return charts.trend(trend.months, trend.series, label), None


@blp.route("/assessment")
@page(*RANKING_ROLES)
def assessment_page():
    """A month's ranking (streets or departments): table, bars and the trend."""
    user = signed_in_user()
    levels = monthly.assessment_levels(user)
    query, error = _query(levels)
    answer, bars, trend = None, None, None
    try:
        answer = assessment.assessment(db.session, user, query["period"], query["level"])
    except ValidationFailed as refused:
        error = "所选月份尚未开始或格式有误，请重新选择。"
        if refused.errors and "level" in refused.errors:
            error = "未知的排名层级。"
    rows = monthly.ranked(answer["rows"]) if answer else []
    if answer is not None:
        name = monthly.ASSESSMENT_LEVELS[query["level"]]
        bars = charts.bars(
            [(row["name"], row["score"]) for row in rows], f"{query['period']} 各{name}综合得分"
        )
        trend, trend_error = _trend(user, query, rows)
        error = error or trend_error
    return render(
        "assessment.html",
        query=query,
        error=error,
        answer=answer,
        rows=rows,
        levels=[(level, monthly.ASSESSMENT_LEVELS[level]) for level in levels],
        formulas=monthly.formulas_of(query["level"]),
        bars=bars,
        trend=trend,
        may_publish=user.role in PUBLISHERS,
    )


@blp.route("/assessment/publish", methods=["POST"])
@page(*PUBLISHERS)
def assessment_publish():
    """Publish a month that is over (as ``POST /api/v1/assessment/publish``)."""
    query, errors = load_form(PublishFormSchema())
    if errors:
        flash("请选择要发布的月份（YYYY-MM）。", "error")
        return redirect(url_for("console.assessment_page"), code=303)
    try:
        published = assessment.publish(db.session, signed_in_user(), query["period"])
    except Conflict:
        flash(f"操作未完成：{query['period']} 已发布过，不能重复发布。", "error")
    except ValidationFailed:
        flash(f"操作未完成：{query['period']} 尚未结束或尚未开始，不能发布。", "error")
    except DomainError as refused:
        console_web.flash_error(refused)
    else:
        flash(f"{published['period']} 考评结果已发布（每月通报）。", "success")
    return redirect(url_for("console.assessment_page", period=query["period"]), code=303)
