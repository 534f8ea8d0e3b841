"""The statistics as people read them: the chat summary and the XLSX workbook. The chart
and the one-page 通报 are drawn in `services/report_charts.py`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import BookingState, Ticket, Unit
from services import offload, xlsx
from services.stats import RATES, Appraisal, Figures, Report, ranking
from services.texts import join, plain, t
from services.xlsx import Moment, Pct

if TYPE_CHECKING:
    from services.errand_stats import ErrandFigures

GROUP_LABELS = {"unit": "单位", "town": "镇街", "grid": "网格", "category": "类别"}
# The columns of the ranking (chat, 汇总 sheet, PDF), in the 通报's order.
RANKED_RATES = ("response_rate", "resolution_rate", "satisfaction_rate", "on_time_rate",
                "reopen_rate")
FIGURES = ("received", "auto_routed", "triaged", "corrected", "correction_rate", "assigned",
           "responded", "response_rate", "median_accept_minutes", "resolved", "on_time",
           "on_time_rate", "overdue_now", "answered", "solved", "resolution_rate",
           "satisfied", "satisfaction_rate", "covered", "callback_coverage", "closed",
           "no_callback", "reopened", "reopen_rate", "reopened_many")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def rate_with_counts(f: Figures, name: str) -> str:
    """"83.3%（5/6）", or "—" where nothing can be counted."""
    value = f.rates[name]
    if value is None:
        return "—"
    num, den = RATES[name]
    return plain("stats_rate", pct=pct(value), num=getattr(f, num), den=getattr(f, den))


def period_words(report: Report) -> dict[str, Any]:
    days = report.days
    return {"first": days[0].isoformat(), "last": days[-1].isoformat(), "days": len(days),
            "end": report.end.astimezone(report.tz).date().isoformat()}


def scope_words(report: Report) -> str:
    return "、".join(report.scope.names) or plain("stats_scope_county")


def weights_words(weights: Mapping[str, float]) -> str:
    return " + ".join(f"{plain(f'fig_{name}')}×{w * 100:g}%" for name, w in weights.items())


def summary_text(report: Report, appraisal: Appraisal, top: int = 10) -> str:
    f = report.total
    lines = [t("stats_header", scope=scope_words(report), **period_words(report)),
             t("stats_totals", **{k: v for k, v in f.as_dict().items() if k in (
                 "received", "auto_routed", "triaged", "resolved", "overdue_now",
                 "answered", "no_callback", "reopened_many")},
               median=f.median_accept_minutes if f.median_accept_minutes is not None else "—",
               **{name: rate_with_counts(f, name) for name in RATES}),
             appointments_text(f)]
    ranked = ranking(report, appraisal.weights)[:top]
    if ranked:
        lines.append(t("stats_ranking_header", weights=weights_words(appraisal.weights)))
        for i, (name, g, score) in enumerate(ranked, start=1):
            gr = g.rates
            lines.append(t("stats_ranking_line", rank=i, name=name, received=g.received,
                           score="—" if score is None else f"{score:.1f}",
                           response=pct(gr["response_rate"]),
                           resolution=pct(gr["resolution_rate"]),
                           satisfaction=pct(gr["satisfaction_rate"]),
                           on_time=pct(gr["on_time_rate"]), overdue=g.overdue_now))
    return join(lines)


def appointments_text(f: Figures) -> str:
    a = f.appointments
    return t("stats_appointments", booked=sum(a.values()), attended=a["attended"],
             no_show=a["no_show"], converted=a["converted"])


def _value(f: Figures, name: str) -> Any:
    if name in RATES:
        return Pct(f.rates[name])
    if name == "median_accept_minutes":
        return "—" if f.median_accept_minutes is None else f.median_accept_minutes
    return getattr(f, name)


async def workbook(session: AsyncSession, report: Report, appraisal: Appraisal,
                   errands: ErrandFigures | None = None) -> bytes:
    """汇总 (the ranking with scores), 指标 (every figure by group), 诉求清单 (the period's
    tickets in scope), 预约 (in scope), the 红色代办 sheets when `errands` is given (its
    figures, orders by errand, the rankings of 驿站 and 双报到 units) and 说明 (each
    figure's definition). The tickets are read here; the workbook is built in another
    process."""
    units = dict((await session.execute(sa.select(Unit.id, Unit.name))).tuples().all())
    stmt = (sa.select(Ticket.number, Ticket.state, Ticket.category, Ticket.unit_id,
                      sa.func.substr(sa.func.coalesce(sa.func.nullif(Ticket.title, ""),
                                                      Ticket.text), 1, 60),
                      Ticket.created_at, Ticket.due_at, Ticket.resolved_at, Ticket.closed_at,
                      Ticket.outcome, Ticket.solved, Ticket.rating, Ticket.reopen_count)
            .where(Ticket.created_at >= report.start, Ticket.created_at < report.end)
            .order_by(Ticket.id))
    if report.scope.unit_ids is not None:
        stmt = stmt.where(Ticket.unit_id.in_(report.scope.unit_ids))
    result = await (await session.connection()).execute(stmt)  # Core rows, as in stats
    tickets = await asyncio.to_thread(lambda: [tuple(row) for row in result])
    return await offload.in_process(_build_workbook, report, appraisal, tickets, units,
                                    errands)


def _ticket_rows(rows: Iterable[Any], units: Mapping[int, str], tz: Any) -> list[list[Any]]:
    return [[number, plain(f"state_{state}"), category or "", units.get(unit_id or 0, ""),
             summary, Moment(created, tz), Moment(due, tz), Moment(resolved, tz),
             Moment(closed, tz), plain(f"outcome_{outcome}") if outcome else "",
             "" if solved is None else plain(f"solved_{str(solved).lower()}"),
             plain(f"rating_{rating}") if rating else "", reopens]
            for (number, state, category, unit_id, summary, created, due, resolved, closed,
                 outcome, solved, rating, reopens) in rows]


def _build_workbook(report: Report, appraisal: Appraisal, tickets: Iterable[Any],
                    units: Mapping[int, str], errands: ErrandFigures | None = None) -> bytes:
    wb = xlsx.new_workbook()
    words = period_words(report)
    caption = [plain("stats_header", scope=scope_words(report), **words).replace("\n", "　"),
               plain("def_rates_note")]
    label = GROUP_LABELS[report.group]
    xlsx.add_table(
        wb, "汇总", ["排名", label, *(plain(f"fig_{n}") for n in (
            "score", "received", "resolved", *RANKED_RATES, "overdue_now"))],
        [[i, name, "—" if score is None else score, g.received, g.resolved,
          *(Pct(g.rates[n]) for n in RANKED_RATES), g.overdue_now]
         for i, (name, g, score) in enumerate(ranking(report, appraisal.weights), start=1)],
        caption=[*caption, plain("stats_ranking_header",
                             weights=weights_words(appraisal.weights)).rstrip("：")],
        freeze_columns=2)
    rows = [[scope_words(report), *(_value(report.total, n) for n in FIGURES)]]
    rows += [[name, *(_value(g, n) for n in FIGURES)]
             for name, g, _ in ranking(report, appraisal.weights)]
    xlsx.add_table(wb, "指标", [label, *(plain(f"fig_{n}") for n in FIGURES)], rows,
                   caption=caption, freeze_columns=1)
    xlsx.add_table(
        wb, "诉求清单", ["编号", "状态", "类别", "承办单位", "摘要", "受理时间", "办理时限",
                     "办结时间", "关闭时间", "结果", "是否解决", "评价", "重办次数"],
        _ticket_rows(tickets, units, report.tz), caption=caption, freeze_columns=1)
    xlsx.add_table(wb, "预约", ["状态", "件数"],
                   [[plain(f"booking_{s.value}"), report.total.appointments[s.value]]
                    for s in BookingState], caption=caption)
    if errands is not None:
        from services import errand_stats

        for title, header, rows in errand_stats.sheets(errands):
            xlsx.add_table(wb, title, header, rows, caption=caption, freeze_columns=2)
    xlsx.add_table(wb, "说明", ["指标", "定义"], definitions(appraisal, errands is not None),
                   caption=[plain("def_period_note"), plain("def_rates_note")])
    return xlsx.save(wb)


def definitions(appraisal: Appraisal, errands: bool = False) -> list[list[str]]:
    rows = [[plain(f"fig_{n}"), plain(f"def_{n}", hours=f"{appraisal.response_hours:g}")]
            for n in FIGURES]
    rows.append([plain("fig_score"), plain("def_score", weights=weights_words(appraisal.weights))])
    rows.append([plain("fig_appointments"), plain("def_appointments")])
    if errands:
        from services import errand_stats

        rows += errand_stats.definitions()
    return rows
