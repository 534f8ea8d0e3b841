"""Workbooks people open in Excel or WPS: typed cells, formats, frozen headers, filters,
fitted widths — and user text that can never become a formula.

openpyxl is imported by the functions that build a workbook, not with this module, so the
bot does not load it until someone asks for a file.
"""

from __future__ import annotations

import datetime as dt
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PERCENT = "0.0%"
MOMENT = "yyyy-mm-dd hh:mm"
DAY = "yyyy-mm-dd"
# A text starting with one of these is a formula (or DDE) to Excel, LibreOffice and WPS.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Pct:
    """A rate: a fraction shown as a percentage; None is shown as "—"."""

    value: float | None


@dataclass(frozen=True)
class Moment:
    """An aware datetime, written as local time with a date format (Excel has no zones)."""

    value: dt.datetime | None
    tz: Any


def new_workbook() -> Any:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    return wb


def add_table(wb: Any, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]],
              caption: Sequence[str] = (), freeze_columns: int = 0) -> Any:
    """A sheet: caption lines, a bold header row (frozen, with an auto-filter over the
    table), the rows with typed cells, and column widths fitted to the content."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title=sheet_title(title, wb.sheetnames))
    for line in caption:
        put_row(ws, [line])
    if caption:
        ws.append([])
    header_row = len(caption) + 2 if caption else 1
    put_row(ws, header)
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for row in rows:
        put_row(ws, row)
    last_col = get_column_letter(max(len(header), 1))
    ws.freeze_panes = f"{get_column_letter(freeze_columns + 1)}{header_row + 1}"
    ws.auto_filter.ref = f"A{header_row}:{last_col}{max(ws.max_row, header_row)}"
    _fit_widths(ws, header_row)
    return ws


def put_row(ws: Any, values: Sequence[Any]) -> None:
    """Append one row: text always as text, rates as percentages, moments as dates."""
    from openpyxl.styles import Alignment

    ws.append([_plain(v) for v in values])
    row = ws._current_row  # ws[row] would scan every cell for the width: quadratic
    for col, value in enumerate(values, start=1):
        cell = ws.cell(row, col)
        if isinstance(value, str):
            cell.data_type = "s"  # never a formula, whatever the text starts with
            if value.startswith(FORMULA_STARTS):
                cell.quotePrefix = True  # and it stays text when someone edits the cell
        elif isinstance(value, Pct):
            if value.value is None:
                cell.alignment = Alignment(horizontal="right")
            else:
                cell.number_format = PERCENT
        elif isinstance(value, Moment) and value.value is not None:
            cell.number_format = MOMENT


def _plain(value: Any) -> Any:
    if isinstance(value, Pct):
        return "—" if value.value is None else value.value
    if isinstance(value, Moment):
        return None if value.value is None else value.value.astimezone(
            value.tz).replace(tzinfo=None)
    return value


def save(wb: Any) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def display_width(value: Any, number_format: str = "General") -> int:
    """Columns as Excel counts them: a CJK character takes two."""
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        return len("2026-11-30 23:59")
    if isinstance(value, float) and number_format == PERCENT:
        return len("100.0%")
    text = str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _fit_widths(ws: Any, header_row: int) -> None:
    from openpyxl.utils import get_column_letter

    widths: dict[int, int] = {}
    for row in ws.iter_rows(min_row=header_row):
        for cell in row:
            width = display_width(cell.value, cell.number_format)
            widths[cell.column] = max(widths.get(cell.column, 0), width)
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, 6), 60)


def sheet_title(name: str, taken: Sequence[str]) -> str:
    """Excel: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)[:28] or "—"
    title, n = clean, 2
    while title in taken:
        title, n = f"{clean[:26]}-{n}", n + 1
    return title
