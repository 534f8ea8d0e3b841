"""What staff read about a ticket (HTML parse mode, user text escaped and clipped)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from models import Ticket
from services.intake import mask_phone
from services.texts import esc, fmt_day, fmt_moment, join, t
from services.work import StaffView, overdue

RECENT = 6


def ticket_view(v: StaffView, place_path: str, tz: ZoneInfo, now: dt.datetime) -> str:
    ticket = v.ticket
    phone = ticket.contact_phone or ""
    phone = (phone if v.show_phone else mask_phone(phone)) or t("no_phone")
    if ticket.anonymous:
        phone = t("anonymous_mark")
    recent = [join([fmt_moment(e.at, tz), " ", t(f"action_{e.action}"),
                    *(["：", esc(e.note, 60)] if e.note else [])], "")
              for e in v.events[-RECENT:]]
    text = t("staff_ticket", number=ticket.number, state=t(f"state_{ticket.state}"),
             overdue=t("overdue_mark") if overdue(ticket, now) else "",
             unit=esc(v.unit.name, 100) if v.unit else t("detail_unit_pending"),
             place=esc(place_path or ticket.address, 300) or "—",
             due=fmt_day(ticket.due_at, tz) if ticket.due_at else "—",
             resident=(t("anonymous_mark") if ticket.anonymous
                       else esc(v.resident.name if v.resident else "", 40) or "—"),
             phone=phone,
             assignee=esc(v.assignee.name, 40) if v.assignee else "—",
             photos=len(ticket.photos), text=esc(ticket.text, 1500),
             recent=join(recent))
    routing = ticket.routing or {}
    if routing.get("rule"):
        text += "\n" + t("staff_routing", rule=t(f"rule_{routing['rule']}"),
                         matter=esc(routing.get("matter_name") or ticket.category or "—", 40),
                         confidence=round(100 * float(routing.get("confidence", 0))),
                         terms=esc(_terms(routing, 5), 100) or "—")
    return text


def queue_text(tickets: list[Ticket], tz: ZoneInfo, now: dt.datetime) -> str:
    if not tickets:
        return t("queue_empty")
    lines = [t("queue_header", count=len(tickets))]
    for ticket in tickets:
        lines.append(t("queue_line", number=ticket.number, state=t(f"state_{ticket.state}"),
                       due=fmt_day(ticket.due_at, tz) if ticket.due_at else "—",
                       overdue=t("overdue_mark") if overdue(ticket, now) else "",
                       text=esc(ticket.text.replace("\n", " "), 24)))
    return "\n".join(lines)


def _terms(routing: dict[str, Any], limit: int) -> str:
    return "、".join(str(term.get("term")) for term in routing.get("terms", [])[:limit]
                    if isinstance(term, dict))


def triage_text(ticket: Ticket, tz: ZoneInfo, unit_names: dict[str, str]) -> str:
    """The router's offers in plain words: matter -> unit (share), and the terms behind."""
    routing = ticket.routing or {}
    lines = [join([f"{i + 1}. ", esc(str(s.get("name")), 40), " → ",
                   esc(unit_names.get(str(s.get("unit")), str(s.get("unit") or "—")), 40),
                   f"（{round(100 * float(s.get('share', 0)))}%）"], "")
             for i, s in enumerate(routing.get("suggestions", [])) if isinstance(s, dict)]
    return t("triage_item", number=ticket.number, at=fmt_moment(ticket.updated_at, tz),
             text=esc(ticket.text, 1200),
             suggestions=join(lines) or t("triage_no_suggestion"),
             terms=esc(_terms(routing, 6), 200) or "—")


def callback_text(ticket: Ticket, tz: ZoneInfo) -> str:
    return t("callback_item", number=ticket.number,
             resolved=fmt_moment(ticket.resolved_at, tz),
             phone=ticket.contact_phone or t("no_phone"),
             attempts=ticket.callback_attempts, text=esc(ticket.text, 300),
             result=esc(ticket.result_text, 300))
