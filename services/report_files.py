"""The statistics as people read them: a chat summary, a PNG chart, an XLSX workbook."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Ticket, Unit
from services.stats import Figures, Report, ranking
from services.texts import fmt_moment, t

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "SimHei", "Microsoft YaHei", "PingFang SC")


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def summary_text(report: Report, tz: Any, top: int = 10) -> str:
    f = report.total
    r = f.rates
    lines = [t("stats_header", start=fmt_moment(report.start, tz)[:-6],
                end=fmt_moment(report.end, tz)[:-6]),
             t("stats_totals", received=f.received, auto=f.auto_routed, triaged=f.triaged,
               corrected=pct(r["correction_rate"]), resolved=f.resolved,
               on_time=pct(r["on_time_rate"]), overdue=f.overdue_now,
               response=pct(r["response_rate"]),
               median=f.median_accept_minutes if f.median_accept_minutes is not None else "—",
               satisfaction=pct(r["satisfaction_rate"]),
               resolution=pct(r["resolution_rate"]), coverage=pct(r["callback_coverage"]),
               no_callback=f.no_callback, reopen=pct(r["reopen_rate"]),
               reopened_many=f.reopened_many),
             t("stats_appointments", booked=sum(report.appointments.values()),
               attended=report.appointments["attended"],
               no_show=report.appointments["no_show"],
               converted=report.appointments["converted"])]
    ranked = ranking(report)[:top]
    if ranked:
        lines.append(t("stats_ranking_header"))
        for i, (name, g) in enumerate(ranked, start=1):
            gr = g.rates
            lines.append(t("stats_ranking_line", rank=i, name=name, received=g.received,
                           on_time=pct(gr["on_time_rate"]),
                           satisfaction=pct(gr["satisfaction_rate"]),
                           overdue=g.overdue_now))
    return "\n".join(lines)


def _font() -> str | None:
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in available), None)


def chart_png(report: Report) -> bytes:
    """Received vs resolved per day; on-time and satisfaction rate per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = _font()
    if font is None:
        raise RuntimeError("no CJK font installed (e.g. apt-get install fonts-wqy-microhei)")
    plt.rcParams["font.family"] = [font]
    plt.rcParams["axes.unicode_minus"] = False
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 8), dpi=100)
    days = list(report.daily)
    top.plot(days, [report.daily[d][0] for d in days], marker="o", label="受理")
    top.plot(days, [report.daily[d][1] for d in days], marker="s", label="办结")
    top.set_title("每日受理与办结")
    top.legend()
    top.tick_params(axis="x", labelrotation=45)
    ranked = ranking(report)[:12]
    names = [name for name, _ in ranked]
    x = range(len(names))
    on_time = [(g.rates["on_time_rate"] or 0) * 100 for _, g in ranked]
    satisfied = [(g.rates["satisfaction_rate"] or 0) * 100 for _, g in ranked]
    bottom.bar([i - 0.2 for i in x], on_time, width=0.4, label="按时办结率%")
    bottom.bar([i + 0.2 for i in x], satisfied, width=0.4, label="满意率%")
    bottom.set_xticks(list(x), names, rotation=30, ha="right")
    bottom.set_ylim(0, 105)
    bottom.set_title("各单位按时办结率与满意率")
    bottom.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


FIGURE_LABELS = {
    "received": "受理", "auto_routed": "自动分派", "triaged": "人工分派", "corrected": "改派",
    "correction_rate": "改派率", "assignments": "派单次数", "responded": "按时响应",
    "response_rate": "响应率", "median_accept_minutes": "接单用时中位数(分钟)",
    "resolved": "办结", "on_time": "按时办结", "on_time_rate": "按时办结率",
    "overdue_now": "当前超期", "closed": "关闭", "closed_satisfied": "满意关闭",
    "resolution_rate": "解决率", "answered": "已回访评价", "satisfied": "满意及基本满意",
    "satisfaction_rate": "满意率", "callback_coverage": "回访覆盖率", "no_callback": "未回访",
    "reopened": "退回重办", "reopen_rate": "重办率", "reopened_many": "多次重办",
}


def _figure_rows(f: Figures) -> list[list[Any]]:
    values = f.as_dict()
    return [[label, values[key]] for key, label in FIGURE_LABELS.items()]


async def workbook(session: AsyncSession, report: Report, tz: Any) -> bytes:
    """Summary sheet, one sheet per group, and the period's tickets with states and times."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    ws.append(["统计期间", fmt_moment(report.start, tz), fmt_moment(report.end, tz)])
    ws.append([])
    ws.append(["单位", "受理", "按时办结率", "满意率", "当前超期", "重办率"])
    for name, g in ranking(report):
        r = g.rates
        ws.append([name, g.received, r["on_time_rate"], r["satisfaction_rate"],
                   g.overdue_now, r["reopen_rate"]])
    ws.append([])
    for row in _figure_rows(report.total):
        ws.append(row)
    for key, value in report.appointments.items():
        ws.append([f"预约：{t(f'booking_{key}')}", value])
    for name, g in ranking(report):
        sheet = wb.create_sheet(title=_sheet_title(name, wb.sheetnames))
        for row in _figure_rows(g):
            sheet.append(row)
    tickets = wb.create_sheet(title="诉求清单")
    tickets.append(["编号", "状态", "类别", "承办单位", "受理时间", "办理时限", "办结时间",
                    "关闭时间", "结果", "评价", "重办次数"])
    units = {u.id: u.name for u in await session.scalars(sa.select(Unit))}
    rows = await session.scalars(sa.select(Ticket).where(
        Ticket.created_at >= report.start, Ticket.created_at < report.end)
        .order_by(Ticket.id))
    for tk in rows:
        tickets.append([tk.number, t(f"state_{tk.state}"), tk.category or "",
                        units.get(tk.unit_id or 0, ""), fmt_moment(tk.created_at, tz),
                        fmt_moment(tk.due_at, tz), fmt_moment(tk.resolved_at, tz),
                        fmt_moment(tk.closed_at, tz),
                        t(f"outcome_{tk.outcome}") if tk.outcome else "",
                        t(f"rating_{tk.rating}") if tk.rating else "", tk.reopen_count])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_title(name: str, taken: list[str]) -> str:
    """Excel: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:28] or "—"
    title, n = clean, 2
    while title in taken:
        title, n = f"{clean[:26]}-{n}", n + 1
    return title
