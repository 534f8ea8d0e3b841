"""Taking a resident's request in: check what they wrote, route it, submit it exactly once.

The conversation (handlers/report.py) keeps a JSON draft in FSM state; nothing reaches the
tickets table before the resident confirms. The draft's random key becomes the ticket's
`submission_key`, so a second tap on 确认 (or a retried update) finds the same ticket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Person, Ticket, Unit
from routing.classifier import Decision, Router
from services import privacy
from services.errors import Conflict, InvalidInput
from services.tickets import Draft, Route

if TYPE_CHECKING:  # services.context builds on IntakeRules
    from services.context import ServiceContext

MOBILE = re.compile(r"1[3-9]\d{9}")
LANDLINE = re.compile(r"0\d{2,3}\d{7,8}")  # area code + number, separators removed
_PHONE_NOISE = re.compile(r"[\s\-()（）]")


@dataclass(frozen=True)
class IntakeRules:
    max_text: int = 2000
    min_text_chars: int = 4
    max_photos: int = 5
    max_km: float = 10.0  # a shared location farther from every place is outside the county
    page_size: int = 5


def check_description(text: str | None, rules: IntakeRules) -> str:
    """The description as kept, or InvalidInput saying in Chinese what is wrong."""
    text = (text or "").strip()
    if len(text) > rules.max_text:
        raise InvalidInput("err_text_too_long", length=len(text), limit=rules.max_text)
    # Letters, digits and Chinese characters carry meaning; emoji and punctuation do not.
    if sum(ch.isalnum() for ch in text) < rules.min_text_chars:
        raise InvalidInput("err_text_meaningless", minimum=rules.min_text_chars)
    return text


def normalise_phone(raw: str | None) -> str:
    """A mainland mobile (13812345678) or landline with area code (05374212345)."""
    digits = _PHONE_NOISE.sub("", raw or "")
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and MOBILE.fullmatch(digits[len(prefix):]):
            digits = digits[len(prefix):]
    if MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits):
        return digits
    raise InvalidInput("err_phone_invalid")


def mask_phone(phone: str | None) -> str:
    """138****5678: enough for a person to recognise their own number."""
    if not phone:
        return ""
    return phone[:3] + "*" * max(len(phone) - 7, 0) + phone[-4:] if len(phone) > 7 else phone


class RequestRouter:
    """The keyword router plus the org's units: a routing Decision becomes a `Route`."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def classify(self, text: str) -> Decision:
        return self.router.classify(text)

    def _suggestions(self, decision: Decision) -> list[list[Any]]:
        units = dict(zip(self.router.names, self.router.units, strict=True))
        pairs = [(decision.target, decision.confidence),
                 (decision.runner_up, decision.runner_up_confidence)]
        return [[name, units.get(name), round(conf, 4)] for name, conf in pairs if name]

    async def route(self, session: AsyncSession, text: str) -> Route:
        decision = self.classify(text)
        details: dict[str, Any] = {
            "target": decision.target, "runner_up": decision.runner_up,
            "runner_up_confidence": round(decision.runner_up_confidence, 4),
            "explanation": [[term, round(w, 4)] for term, w in decision.explanation],
            "places": decision.places, "triage": decision.triage,
            # The top two (category, unit code, confidence): the dispatcher's one-tap choices.
            "suggestions": self._suggestions(decision),
        }
        unit_id = None
        if decision.unit and not decision.triage:
            unit_id = await session.scalar(
                sa.select(Unit.id).where(Unit.code == decision.unit, Unit.active))
            if unit_id is None:  # the table names a unit the org file does not have
                details["missing_unit"] = decision.unit
        return Route(unit_id=unit_id, category=decision.target,
                     confidence=decision.confidence, details=details)


async def by_submission_key(session: AsyncSession, key: str) -> Ticket | None:
    return await session.scalar(sa.select(Ticket).where(Ticket.submission_key == key))


async def submit(session: AsyncSession, ctx: ServiceContext, router: RequestRouter,
                 resident: Person, draft: Draft) -> tuple[Ticket, bool]:
    """Create the ticket once per draft key; returns (ticket, created)."""
    if draft.submission_key:
        existing = await by_submission_key(session, draft.submission_key)
        if existing is not None:
            if existing.resident_id != resident.id:
                raise Conflict()
            return existing, False
    if draft.contact_phone and not resident.phone and not draft.anonymous:
        resident.phone = draft.contact_phone  # offered next time as "use this number"
    # The summary the resident confirmed carried the privacy notice: confirming it is the
    # consent, recorded in the transaction that stores the first request.
    privacy.consent(resident, ctx.clock)
    route = await router.route(session, " ".join(filter(None, [draft.title, draft.text,
                                                                  draft.address])))
    try:
        ticket = await ctx.lifecycle(session).submit(resident, draft, route)
    except IntegrityError as exc:  # the same draft confirmed concurrently elsewhere
        raise InvalidInput("err_already_submitted") from exc
    return ticket, True
