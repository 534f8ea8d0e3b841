"""Pictures of the statistics, drawn with matplotlib (imported only when one is drawn):
the chat chart (PNG) and the one-page A4 monthly 通报 (PDF with the CJK font embedded,
or PNG). Everything here is CPU work: callers run it in a worker thread."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import TYPE_CHECKING, Any

from services.report_files import (
    RANKED_RATES,
    pct,
    period_words,
    rate_with_counts,
    scope_words,
    weights_words,
)
from services.stats import Appraisal, Figures, Report, ranking
from services.texts import plain

if TYPE_CHECKING:
    from services.errand_stats import ErrandFigures

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "SimHei", "Microsoft YaHei", "PingFang SC")
COLORS = {"received": "#4C72B0", "resolved": "#55A868", "response_rate": "#8172B2",
          "resolution_rate": "#C44E52", "satisfaction_rate": "#DD8452",
          "on_time_rate": "#55A868"}
CHART_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")
A4 = (8.27, 11.69)
_lock = threading.Lock()  # pyplot's state is global: one drawing at a time


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    available = {f.name for f in font_manager.fontManager.ttflist}
    font = next((name for name in CJK_FONTS if name in available), None)
    if font is None:
        raise RuntimeError("no CJK font installed (e.g. apt-get install fonts-wqy-microhei)")
    plt.rcParams["font.family"] = [font]
    plt.rcParams["axes.unicode_minus"] = False
    plt.rcParams["pdf.fonttype"] = 42  # embed the TrueType font, so text can be extracted
    return plt


def _save(fig: Any, fmt: str, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()


def daily_axes(ax: Any, report: Report, figures: Figures | None = None) -> None:
    """Received vs resolved on every day of the period (zeros too) on a date axis."""
    from matplotlib import dates as mdates
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    f = figures or report.total
    days = report.days
    xs = [dt.datetime.combine(d, dt.time(12)) for d in days]  # bar centred on its day
    received = [f.daily_received[d] for d in days]
    resolved = [f.daily_resolved[d] for d in days]
    width = 0.4
    ax.bar([x - dt.timedelta(days=width / 2) for x in xs], received, width=width,
           color=COLORS["received"], label=f"{plain('fig_received')}（{sum(received):,} 件）")
    ax.bar([x + dt.timedelta(days=width / 2) for x in xs], resolved, width=width,
           color=COLORS["resolved"], label=f"{plain('fig_resolved')}（{sum(resolved):,} 件）")
    # The period's days only: the excluded end day gets no tick of its own.
    ax.set_xlim(dt.datetime.combine(days[0], dt.time(0)),
                dt.datetime.combine(days[-1], dt.time(23, 59)))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d" if len(days) <= 366
                                                      else "%Y-%m"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=2))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{int(v):,}"))
    ax.set_ylim(0, max(1, *received, *resolved) * 1.15)
    ax.set_ylabel("件数")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    ax.set_title("每日受理与办结（按工单，办结按期间内首次办结日）", fontsize=11)


def rates_axes(ax: Any, report: Report, appraisal: Appraisal, top: int = 12) -> None:
    """响应率, 解决率 and 满意率 per group as percentages, with the target lines."""
    from matplotlib.ticker import PercentFormatter

    ranked = ranking(report, appraisal.weights)[:top]
    names = [name for name, _, _ in ranked][::-1]  # best on top
    height = 0.8 / len(CHART_RATES)
    for i, name in enumerate(CHART_RATES):
        ys = [j + (i - 1) * height for j in range(len(names))]
        values = [g.rates[name] for _, g, _ in ranked][::-1]
        ax.barh(ys, [100 * (v or 0) for v in values], height=height,
                color=COLORS[name], label=plain(f"fig_{name}"))
        for y, v in zip(ys, values, strict=True):
            ax.text(101 if v is None else 100 * v + 1, y, pct(v), va="center", fontsize=7)
    targets: dict[float, list[str]] = {}
    for name in CHART_RATES:
        if name in appraisal.targets:
            targets.setdefault(appraisal.targets[name], []).append(plain(f"fig_{name}"))
    for value, rates in targets.items():  # one line per target value, naming its rates
        color = COLORS[CHART_RATES[0]] if len(targets) == 1 else None
        ax.axvline(100 * value, color=color or "#333333", linestyle="--", linewidth=1.2,
                   label=f"{'、'.join(rates)}目标 {value * 100:g}%")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlim(0, 112)
    ax.xaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.set_xticks(range(0, 101, 20))
    ax.grid(axis="x", alpha=0.3)
    if not names:
        ax.text(50, 0, "本期没有数据", ha="center", va="center")
    ax.legend(loc="lower right", fontsize=7, ncols=2)
    ax.set_title(f"各{'单位' if report.group == 'unit' else '组'}响应率、解决率、满意率"
                 f"（前{top}，虚线为目标）", fontsize=11)


def chart_png(report: Report, appraisal: Appraisal) -> bytes:
    """The chat chart: 1,800 × 1,500 pixels, so it reads when opened on a phone."""
    with _lock:
        plt = _pyplot()
        ranked = min(len(report.groups), 12)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(12, 10), height_ratios=[1, max(1.0, ranked / 8)],
            layout="constrained")
        daily_axes(top, report)
        rates_axes(bottom, report, appraisal)
        fig.suptitle(f"{scope_words(report)}　{period_words(report)['first']} 至 "
                     f"{period_words(report)['last']}", fontsize=13)
        try:
            return _save(fig, "png", 150)
        finally:
            plt.close(fig)


def _change(now: float | None, before: float | None, is_rate: bool) -> str:
    if now is None or before is None:
        return "上期无可比数据"
    diff = now - before
    if is_rate:
        return f"较上期 {diff * 100:+.1f} 个百分点"
    return f"较上期 {diff:+,.0f} 件"


def monthly_report(report: Report, previous: Report, appraisal: Appraisal,
                   fmt: str = "pdf", generated: str = "",
                   errands: ErrandFigures | None = None) -> bytes:
    """The A4 通报: headline figures with the change from the previous period, the ranking
    with scores, the daily chart, the units with the most overdue requests; in a PDF with
    `errands`, a second page of 红色代办 (figures, orders by errand, the rankings of 驿站
    and 双报到 units). A PNG is the first page."""
    with _lock:
        plt = _pyplot()
        fig = plt.figure(figsize=A4)
        try:
            _draw_report(fig, report, previous, appraisal, generated)
            if fmt != "pdf" or errands is None:
                return _save(fig, fmt, 200 if fmt == "png" else 72)
            from matplotlib.backends.backend_pdf import PdfPages

            second = plt.figure(figsize=A4)
            try:
                _draw_errands(second, report, errands, generated)
                buf = io.BytesIO()
                with PdfPages(buf) as pdf:
                    pdf.savefig(fig)
                    pdf.savefig(second)
                return buf.getvalue()
            finally:
                plt.close(second)
        finally:
            plt.close(fig)


def _table(fig: Any, top: float, title: str, header: list[str], rows: list[list[str]],
           widths: list[float], more: str = "") -> float:
    """A titled table from `top` down (figure coordinates); returns where it ends."""
    height = 0.02 * (max(len(rows), 1) + 1) + 0.01
    ax = fig.add_axes((0.05, top - height, 0.9, height))
    ax.axis("off")
    ax.set_title(title, fontsize=10, loc="left")
    if rows:
        table = ax.table(cellText=rows, colLabels=header, bbox=(0, 0, 1, 1),
                         cellLoc="center", colWidths=widths)
        table.auto_set_font_size(False)
        table.set_fontsize(7.5)
    else:
        ax.text(0.5, 0.5, "本期没有数据", ha="center")
    if more:
        fig.text(0.05, top - height - 0.012, more, fontsize=7)
    return top - height


def _draw_errands(fig: Any, report: Report, f: ErrandFigures, generated: str) -> None:
    words = period_words(report)
    fig.text(0.5, 0.965, "民意快车 红色代办月度通报", ha="center", fontsize=18)
    fig.text(0.5, 0.94, f"{scope_words(report)}　{words['first']} 至 {words['last']}",
             ha="center", fontsize=10)
    mean = f.mean_accept_hours
    headline = [
        ("点单", f"{f.ordered:,} 件"), ("优先对象", f"{f.priority:,} 件"),
        ("平均接单用时", "—" if mean is None else f"{mean:.1f} 小时"),
        ("完成率", "—" if f.completion is None else f"{f.completion * 100:.1f}%"),
        ("满意率", "—" if f.satisfaction is None else f"{f.satisfaction * 100:.1f}%"),
        ("超时未评价", f"{f.unrated:,} 件"), ("志愿服务", f"{f.hours:g} 小时"),
        ("双报到积分", f"{f.points:,}")]
    for i, (name, value) in enumerate(headline):
        x, y = 0.06 + (i % 4) * 0.235, 0.895 - (i // 4) * 0.06
        fig.text(x, y, name, fontsize=9, color="#555555")
        fig.text(x, y - 0.025, value, fontsize=13, color="#1F3A5F")
    header = ["排名", "{}", "确认完成", "服务时长", "积分", "志愿者"]
    widths = [0.08, 0.4, 0.13, 0.13, 0.13, 0.13]
    top = 0.77
    for title, label, rows, only in (
            ("驿站积分排名", "红帆驿站", f.venues, f.shown_venues),
            ("双报到单位积分排名", "双报到单位", f.units, f.shown_units)):
        ranked = f.shown(rows)  # in a scope, its own rows with their county rank
        if only is not None and not ranked:
            continue  # a unit leader's 通报 has no 驿站 ranking
        cells = [[str(rank), name[:18], f"{x.errands:,}", f"{x.hours:g}", f"{x.points:,}",
                  str(len(x.volunteers))] for rank, name, x in ranked[:8]]
        more = f"另有 {len(ranked) - 8} 个见明细表（/stats export）" if len(ranked) > 8 else ""
        top = _table(fig, top, title, [h.format(label) for h in header], cells, widths,
                     more) - 0.045
    items = f.by_item.most_common(8)
    if items and top > 0.2:
        ax = fig.add_axes((0.25, 0.09, 0.68, min(0.25, top - 0.13)))
        names = [name for name, _ in items][::-1]
        ax.barh(names, [n for _, n in items][::-1], color=COLORS["received"], label="点单")
        ax.barh(names, [f.done_by_item[name] for name in names], color=COLORS["resolved"],
                height=0.4, label="办完")
        ax.set_title("按事项的点单与办完", fontsize=10)
        ax.legend(loc="lower right", fontsize=7)
        ax.tick_params(labelsize=8)
    fig.text(0.06, 0.03, plain("def_errand_ranking").replace("；", "；\n", 1)
             + (f"　生成于 {generated}" if generated else ""), fontsize=7, color="#555555")


def _draw_report(fig: Any, report: Report, previous: Report, appraisal: Appraisal,
                 generated: str) -> None:
    words = period_words(report)
    f, p = report.total, previous.total
    fig.text(0.5, 0.965, "民意快车 接诉即办月度通报", ha="center", fontsize=18)
    fig.text(0.5, 0.94, f"{scope_words(report)}　{words['first']} 至 {words['last']}"
             f"（{words['days']}天，不含结束日 {words['end']}）", ha="center", fontsize=10)
    headline = [("received", False), ("resolved", False), ("response_rate", True),
                ("resolution_rate", True), ("satisfaction_rate", True),
                ("on_time_rate", True), ("reopen_rate", True), ("overdue_now", False)]
    for i, (name, is_rate) in enumerate(headline):
        x, y = 0.06 + (i % 4) * 0.235, 0.895 - (i // 4) * 0.075
        value = f.rates[name] if is_rate else getattr(f, name)
        before = p.rates[name] if is_rate else getattr(p, name)
        shown = rate_with_counts(f, name) if is_rate else f"{value:,} 件"
        fig.text(x, y, plain(f"fig_{name}"), fontsize=9, color="#555555")
        fig.text(x, y - 0.025, shown, fontsize=12 if is_rate else 14, color="#1F3A5F")
        fig.text(x, y - 0.045, _change(value, before, is_rate), fontsize=7, color="#555555")
    ranked = ranking(report, appraisal.weights)
    shown = min(len(ranked), 12)
    table_height = 0.022 * (shown + 1) + 0.01
    table_top = 0.735
    table_ax = fig.add_axes((0.05, table_top - table_height, 0.9, table_height))
    table_ax.axis("off")
    table_ax.set_title(f"单位排名（得分 = {weights_words(appraisal.weights)}）",
                       fontsize=10, loc="left")
    header = ["排名", "单位", "得分", "受理", "办结", *(plain(f"fig_{n}") for n in RANKED_RATES),
              "超期"]
    rows = [[str(i), name[:14], "—" if score is None else f"{score:.1f}", f"{g.received:,}",
             f"{g.resolved:,}", *(pct(g.rates[n]) for n in RANKED_RATES), f"{g.overdue_now:,}"]
            for i, (name, g, score) in enumerate(ranked[:12], start=1)]
    if rows:
        table = table_ax.table(cellText=rows, colLabels=header, bbox=(0, 0, 1, 1),
                               cellLoc="center", colWidths=[0.06, 0.22, *[0.08] * 9][:11])
        table.auto_set_font_size(False)
        table.set_fontsize(7.5)
    else:
        table_ax.text(0.5, 0.5, "本期没有数据", ha="center")
    if len(ranked) > 12:
        fig.text(0.05, table_top - table_height - 0.012,
                 f"另有 {len(ranked) - 12} 个单位见明细表（/stats export）", fontsize=7)
    chart_top = table_top - table_height - 0.06
    daily = fig.add_axes((0.08, max(0.2, chart_top - 0.3), 0.88,
                          min(0.3, chart_top - 0.2)))
    daily_axes(daily, report)
    overdue = sorted(((g.overdue_now, name) for name, g in report.groups.items()
                      if g.overdue_now), reverse=True)[:5]
    fig.text(0.06, 0.135, "超期诉求最多的单位（生成时）：", fontsize=10)
    lines = [f"{i}. {name}　{n:,} 件" for i, (n, name) in enumerate(overdue, start=1)]
    fig.text(0.08, 0.125, "\n".join(lines) or "无超期诉求", fontsize=9, va="top",
             linespacing=1.5)
    fig.text(0.06, 0.03, plain("def_rates_note") + "\n" + plain("def_period_note")
             + (f"　生成于 {generated}" if generated else ""), fontsize=7, color="#555555")
