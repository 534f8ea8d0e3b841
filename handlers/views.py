"""Rendering what residents read (HTML parse mode): user-written parts are escaped and
long parts clipped so every message stays under Telegram's 4,096 characters."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from models import EventAction, Ticket, TicketEvent, TicketState
from services.intake import ReportDraft
from services.my_requests import PUBLIC_NOTES, Page, TicketDetail
from services.texts import Html, answer_words, esc, fmt_day, fmt_moment, join, t

HISTORY_LIMIT = 15


__all__ = ["esc", "summary", "submitted", "ticket_page", "ticket_detail"]


def summary(draft: ReportDraft, place_path: str, phone_masked: str) -> str:
    where = esc(place_path, 300) if place_path else t("summary_no_place")
    address = draft.address.strip()
    if address and address not in place_path:  # "东关社区" typed: the path already says it
        typed = esc(address, 300)
        where = join([where, "（", typed, "）"], "") if place_path else typed
    if draft.lat is not None:
        where = join([where, t("summary_pin")], "")
    phone = phone_masked or (t("summary_phone_declined") if draft.phone_declined
                             else t("summary_no_phone"))
    if draft.anonymous:
        phone = t("summary_anonymous")
    return t("summary", text=esc(draft.text, 2500), photos=len(draft.photos),
             voices=len(draft.attachments), where=where, phone=phone)


def state_label(ticket: Ticket) -> str:
    """The state as the resident reads it: a closed request is 已办结, unless it was closed
    as invalid or withdrawn."""
    if ticket.state == TicketState.CLOSED and ticket.outcome in ("invalid", "withdrawn"):
        return t(f"state_closed_{ticket.outcome}")
    return t(f"state_{ticket.state}")


def submitted(ticket: Ticket, unit_name: str | None, tz: ZoneInfo, days: int) -> str:
    if ticket.state == TicketState.TRIAGE or unit_name is None:
        return t("submitted_triage", number=ticket.number, days=days)
    return t("submitted", number=ticket.number, unit=esc(unit_name, 200),
             due=fmt_day(ticket.due_at, tz), days=days)


def ticket_page(page: Page) -> str:
    if page.total == 0:
        return t("my_empty")
    lines = [t("my_header", total=page.total, page=page.page + 1, pages=page.pages)]
    for ticket in page.tickets:
        lines.append(t("my_line", number=ticket.number, state=state_label(ticket),
                       text=esc(ticket.text.replace("\n", " "), 30)))
    return "\n".join(lines)


def _event_line(event: TicketEvent, tz: ZoneInfo, unit_names: dict[int, str]) -> Html:
    action = t(f"action_{event.action}")
    if event.action == EventAction.ASSIGN and event.data.get("unit_id") in unit_names:
        action = t("history_assigned", unit=esc(unit_names[event.data["unit_id"]], 100))
    elif event.action in (EventAction.RATE, EventAction.CALLBACK) and event.data.get("rating"):
        action = t("history_rated", answer=answer_words(event.data.get("solved"),
                                                        event.data["rating"]))
    parts = [fmt_moment(event.at, tz), "  ", action]
    if event.action in PUBLIC_NOTES and event.note:
        parts += ["：", esc(event.note, 80)]
    return join(parts, "")


def ticket_detail(detail: TicketDetail, place_path: str, tz: ZoneInfo,
                  unit_names: dict[int, str]) -> str:
    ticket = detail.ticket
    events = detail.events
    history = [_event_line(e, tz, unit_names) for e in events[-HISTORY_LIMIT:]]
    if len(events) > HISTORY_LIMIT:
        history.insert(0, t("history_omitted", count=len(events) - HISTORY_LIMIT))
    text = t("detail", number=ticket.number, state=state_label(ticket),
             unit=esc(detail.unit.name, 100) if detail.unit else t("detail_unit_pending"),
             due=fmt_day(ticket.due_at, tz) if ticket.due_at else "—",
             place=esc(place_path or ticket.address, 300) or "—",
             text=esc(ticket.text, 600), history=join(history))
    if ticket.result_text:
        text += "\n\n" + t("detail_result", result=esc(ticket.result_text, 600))
    return text
