"""The outbox messages each errand transition causes: who is told what.

The beneficiary's address and phone go only to the organisers of the 驿站 and to the
volunteer who accepted; an offer names the errand, the community and the time, no contact.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from models import Errand, Person, Venue
from services.outbox import NORMAL, URGENT, Keyboard, enqueue, keyboard, refresh_copies
from services.texts import Html, esc, fmt_moment, t


def buttons(errand: Errand, party: str) -> dict[str, object]:
    """The abstract keyboard of `party` for the errand's state (rendered by the bot)."""
    return keyboard(Keyboard.ERRAND, errand_id=errand.id, party=party, state=errand.state.value)


def summary(errand: Errand, venue_name: str, *, contact: bool, orderer: Html | None = None
            ) -> Html:
    """An errand as staff read it; the contact (and, 替人点单, who ordered: `orderer`
    from `errands.orderer_line`) only where `contact` is allowed."""
    text = t("errand_summary", id=errand.id, item=errand.item, venue=venue_name,
             day=f"{errand.wanted_day.month}月{errand.wanted_day.day}日",
             window=t(f"errand_window_{errand.window}"),
             first=t("errand_first") if errand.priority else "",
             age=errand.beneficiary_age,
             care=t("errand_care_shown", care=t(f"errand_care_{errand.care}"))
             if errand.care else "")
    if contact:
        text = Html(text + "\n" + t("errand_contact", name=errand.beneficiary_name,
                                    address=esc(errand.address, 300),
                                    phone=errand.phone))
        if orderer:
            text = Html(text + "\n" + orderer)
    return text


class ErrandNotices:
    def __init__(self, session: AsyncSession, tz: ZoneInfo) -> None:
        self.session = session
        self.tz = tz

    async def _organisers(self, venue_id: int) -> list[int]:
        from services.errands import organiser_chats

        return await organiser_chats(self.session, venue_id)

    async def _chat(self, person_id: int | None) -> list[int]:
        person = await self.session.get(Person, person_id) if person_id else None
        return [person.tg_user_id] if person and person.tg_user_id else []

    async def _orderer(self, errand: Errand) -> Html:
        from services.errands import orderer_line

        return await orderer_line(self.session, errand)

    async def _venue_name(self, errand: Errand) -> str:
        venue = await self.session.get(Venue, errand.venue_id)
        return venue.name if venue else "—"

    def _send(self, errand: Errand, chats: list[int], **message: Any) -> None:
        """Every message of an errand for someone over 70 or 重点关爱 goes out first."""
        message.setdefault("priority", URGENT if errand.priority else NORMAL)
        enqueue(self.session, chats, **message)

    async def refresh(self, errand: Errand, now: dt.datetime) -> None:
        """The errand's state changed: every card of it already sent shows the buttons of
        now (the new-order card loses 按轮值派单 once assigned, an invitation 已完成 once
        done); an invitation that went to someone else loses its buttons."""
        volunteer = await self._chat(errand.volunteer_id)
        await refresh_copies(
            self.session, Keyboard.ERRAND, "errand_id", errand.id, errand.state.value, now,
            lambda chat_id, party: party != "volunteer" or chat_id in volunteer)

    async def ordered(self, errand: Errand, venue: Venue, now: dt.datetime) -> None:
        self._send(errand, await self._organisers(venue.id), kind="errand_new", now=now,
                   markup=buttons(errand, "organiser"),
                   text=t("ob_errand_new", summary=summary(
                       errand, venue.name, contact=True, orderer=await self._orderer(errand))))

    async def offered(self, errand: Errand, volunteer: Person, now: dt.datetime) -> None:
        self._send(errand, await self._chat(volunteer.id), kind="errand_offer", now=now,
                   markup=buttons(errand, "volunteer"),
                   text=t("ob_errand_offer", summary=summary(
                       errand, await self._venue_name(errand), contact=False),
                       until=fmt_moment(errand.offer_until, self.tz)))

    async def accepted(self, errand: Errand, volunteer: Person, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.orderer_id), kind="errand_accepted",
                   now=now, text=t("ob_errand_accepted", id=errand.id, item=errand.item,
                                   volunteer=volunteer.name))
        self._send(errand, await self._organisers(errand.venue_id),
                   kind="errand_accepted", now=now,
                   text=t("ob_errand_accepted_org", id=errand.id, volunteer=volunteer.name))

    async def exhausted(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._organisers(errand.venue_id), kind="errand_exhausted",
                   now=now, priority=URGENT, markup=buttons(errand, "organiser"),
                   text=t("ob_errand_exhausted", summary=summary(
                       errand, await self._venue_name(errand), contact=True,
                       orderer=await self._orderer(errand))))

    async def visited(self, errand: Errand, volunteer: Person, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.orderer_id), kind="errand_visited",
                   now=now, text=t("ob_errand_visited", id=errand.id, volunteer=volunteer.name))

    async def completed(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.orderer_id), kind="errand_done", now=now,
                   markup=buttons(errand, "orderer"),
                   photos=[errand.result_photo] if errand.result_photo else [],
                   text=t("ob_errand_done", id=errand.id, item=errand.item,
                          note=esc(errand.result_note, 2000) or "—"))

    async def unsatisfied(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._organisers(errand.venue_id),
                   kind="errand_unsatisfied", now=now, priority=URGENT,
                   markup=buttons(errand, "organiser"),
                   text=t("ob_errand_unsatisfied", summary=summary(
                       errand, await self._venue_name(errand), contact=True,
                       orderer=await self._orderer(errand))))

    async def closed(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.volunteer_id), kind="errand_closed",
                   now=now, text=t("ob_errand_closed", id=errand.id,
                                   rating=t(f"errand_rating_{errand.rating}"),
                                   hours=f"{errand.hours:g}", points=errand.points))

    async def confirm_reminder(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.orderer_id), kind="errand_confirm",
                   now=now, markup=buttons(errand, "orderer"),
                   text=t("ob_errand_confirm_reminder", id=errand.id, item=errand.item,
                          close=fmt_moment(errand.close_at, self.tz)))

    async def timed_out(self, errand: Errand, now: dt.datetime) -> None:
        self._send(errand, await self._chat(errand.orderer_id), kind="errand_timeout",
                   now=now, text=t("ob_errand_timed_out", id=errand.id, item=errand.item,
                                   venue=await self._venue_name(errand)))
        await self.closed(errand, now)

    async def cancelled(self, errand: Errand, offered_to: int | None,
                        now: dt.datetime) -> None:
        chats = await self._organisers(errand.venue_id) + await self._chat(offered_to)
        self._send(errand, chats, kind="errand_cancelled", now=now,
                   text=t("ob_errand_cancelled", id=errand.id, item=errand.item))

