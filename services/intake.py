"""Taking a resident's request in: check what they wrote, route it, submit it exactly once.

The conversation (handlers/report.py) keeps a JSON draft in FSM state; nothing reaches the
tickets table before the resident confirms. The draft's random key becomes the ticket's
`submission_key`, so a second tap on 确认 (or a retried update) finds the same ticket.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import Matter, Person, PlaceKind, Ticket, Unit
from routing.catalogue import Matter as CatalogueMatter
from routing.classifier import KeywordClassifier
from routing.decide import Decider, Decision
from routing.text import load_dictionary
from services import access, people, places, privacy
from services.errors import Conflict, InvalidInput, NotAllowed
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
    max_attachments: int = 5  # voice and video notes
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


MAX_ADDRESS = 300


def clip_address(text: str | None) -> str:
    return (text or "").strip()[:MAX_ADDRESS]


def check_address(text: str | None) -> str:
    """A typed address as kept (clipped), or InvalidInput when it says nothing."""
    address = clip_address(text)
    if sum(ch.isalnum() for ch in address) < 2:
        raise InvalidInput("err_address_meaningless")
    return address


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


class Term(TypedDict):
    term: str
    weight: float


class Suggestion(TypedDict):
    """A matter the router offers (to the resident, or the dispatcher at triage)."""

    matter: str
    name: str
    unit: str | None
    share: float


class RoutingRecord(TypedDict, total=False):
    """`Ticket.routing`: what decided the unit, kept with the ticket for staff and learning.

    rule: matter | place (a 属地 matter, the town of the place) | learned (the category
    table) | resident (the resident picked the matter) | dispatcher (代录, confirmed or
    corrected) | triage (asked and "都不是", or nothing recognised)."""

    rule: str
    unit: str | None
    matter: str | None
    matter_name: str | None
    category: str | None
    confidence: float
    terms: list[Term]
    suggestions: list[Suggestion]
    places: list[str]
    days: int | None
    resident_choice: str  # the matter code the resident picked, or "none"
    router_unit: str | None  # 代录: the router's own unit, before the dispatcher chose
    dispatcher_id: int
    missing_unit: str


def record_of(decision: Decision) -> RoutingRecord:
    return RoutingRecord(
        rule=decision.rule if decision.routed or decision.rule == "resident" else "triage",
        unit=decision.unit, matter=decision.matter, matter_name=decision.matter_name,
        category=decision.category, confidence=round(decision.confidence, 4),
        terms=[Term(term=t, weight=round(w, 4)) for t, w in decision.terms[:10]],
        suggestions=[Suggestion(matter=c.matter, name=c.name, unit=c.unit,
                                share=round(c.share, 4)) for c in decision.candidates],
        places=decision.places, days=decision.days)


NO_MATTER = "none"  # the resident's "都不是 / 说不清"


@dataclass
class ReportDraft:
    """The 我要反映 conversation's draft, kept in FSM data (`to_dict` / `from_dict`: the
    stored keys are the field names) until 确认 turns it into a ticket (`ticket_draft`).
    `key` becomes the ticket's submission key."""

    key: str = ""  # none: no draft (a stale button)
    text: str = ""
    matter: str | None = None  # the matter code the resident picked, or NO_MATTER
    offers: list[tuple[str, str]] = field(default_factory=list)  # (code, name) asked about
    photos: list[str] = field(default_factory=list)
    attachments: list[dict[str, str]] = field(default_factory=list)  # {kind, file_id}
    group: str | None = None  # the media group the last photo came in
    lat: float | None = None
    lon: float | None = None
    place_id: int | None = None
    address: str = ""
    phone: str | None = None
    phone_declined: bool = False
    anonymous: bool = False
    needs_consent: bool = False  # no consent yet: the summary carries the notice
    editing: bool = False  # back to the summary after the step

    @classmethod
    def new(cls, resident: Person) -> ReportDraft:
        return cls(key=uuid.uuid4().hex[:16], needs_consent=resident.consent_at is None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReportDraft:
        known = {f.name for f in fields(cls)}
        draft = cls(**{k: v for k, v in data.items() if k in known})
        draft.offers = [(code, name) for code, name in draft.offers]
        return draft

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def changes(cls, **changes: Any) -> dict[str, Any]:
        """Fields to update in the stored draft, by name: a name that is not a field fails
        instead of being stored beside the draft and never read."""
        unknown = changes.keys() - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"not a ReportDraft field: {sorted(unknown)}")
        return changes

    def ticket_draft(self) -> Draft:
        return Draft(text=self.text, photos=list(self.photos),
                     attachments=list(self.attachments), latitude=self.lat,
                     longitude=self.lon, address=self.address, contact_phone=self.phone,
                     phone_declined=self.phone_declined, place_id=self.place_id,
                     submission_key=self.key, anonymous=self.anonymous, matter=self.matter)


def add_photo(draft: ReportDraft, file_id: str, rules: IntakeRules) -> bool:
    """Keep a photo; False (not kept) past `rules.max_photos`: the resident is told."""
    return keep(draft.photos, file_id, rules.max_photos)


def add_attachment(draft: ReportDraft, kind: str, file_id: str, rules: IntakeRules) -> bool:
    """Keep a voice or video note; False (not kept) past `rules.max_attachments`."""
    return keep(draft.attachments, {"kind": kind, "file_id": file_id}, rules.max_attachments)


def keep(items: list[Any], item: Any, limit: int) -> bool:
    """Append `item` unless `items` already holds `limit`: whether it was kept, so the
    caller tells the person what was dropped instead of dropping it silently."""
    if len(items) >= limit:
        return False
    items.append(item)
    return True


async def place_of(session: AsyncSession, draft: ReportDraft) -> places.PlaceRow | None:
    """The draft's place; None without one (or when an org import removed it)."""
    return await places.find(session, draft.place_id)


async def take_address(session: AsyncSession, draft: ReportDraft, text: str | None) -> None:
    """A typed address: kept as written (checked, clipped); a place name in it settles the
    place."""
    draft.address = check_address(text)
    named = await places.named_in(session, draft.address, limit=1)
    if named:
        draft.place_id = (await places.settle(session, named[0])).id


@dataclass
class _OrgView:
    """What the router needs from the org, re-read when an import changed it."""

    key: tuple[Any, ...] = ()
    parents: dict[int, tuple[int | None, PlaceKind]] = field(default_factory=dict)
    town_units: dict[int, str] = field(default_factory=dict)  # town place id -> unit code

    def town_unit(self, place_id: int | None) -> str | None:
        """The unit of the town/street a place lies in (属地), if the org has one."""
        seen = 0
        while place_id is not None and place_id in self.parents and seen < 10:
            parent, kind = self.parents[place_id]
            if kind == PlaceKind.TOWN:
                return self.town_units.get(place_id)
            place_id, seen = parent, seen + 1
        return None


# What tells a changed catalogue or org (read per routed request; built once: a statement
# object caches its own cache key, a new one computes it again).
_CATALOGUE_KEY = sa.select(
    sa.select(sa.func.max(Matter.revision)).scalar_subquery(),
    sa.select(sa.func.count()).select_from(Matter).scalar_subquery(),
    sa.select(sa.func.count()).select_from(Unit).where(Unit.active).scalar_subquery())


class RequestRouter:
    """The dispatch catalogue (from the database) + the learned table -> a `Route`.

    The catalogue is read from the database and re-read whenever `minyi org import`
    changed it (one cheap query per request), so a county's edit takes effect in the running
    bot without a restart; the places come from the process's place tree (services.places:
    an import elsewhere shows within its TTL)."""

    def __init__(self, classifier: KeywordClassifier | None, *,
                 min_confidence: float = 0.65) -> None:
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.decider = Decider([], classifier, min_confidence=min_confidence)
        self.org = _OrgView()

    @property
    def ready(self) -> bool:
        """Whether routing answers without waiting (see bot.app.DeferredRequestRouter)."""
        return True

    async def refresh(self, session: AsyncSession) -> None:
        tree = await places.directory(session)
        key = (*(await session.execute(_CATALOGUE_KEY)).one(), tree.rows)
        if key == self.org.key:
            return
        rows = tree.in_id_order
        town_units = dict((await session.execute(
            sa.select(Unit.place_id, Unit.code).where(Unit.active,
                                                      Unit.place_id.is_not(None)))).all())
        org = _OrgView(key, {p.id: (p.parent_id, p.kind) for p in rows}, town_units)
        names = {p.name: (org.town_unit(p.id), p.kind.value) for p in rows
                 if p.kind != PlaceKind.GRID}
        matters = [CatalogueMatter(m.code, m.name, m.unit, dict(m.phrases), dict(m.terms),
                           dict(m.negatives), m.fallback, m.days)
                   for m in await session.scalars(
                       sa.select(Matter).where(Matter.active).order_by(Matter.code))]
        load_dictionary(names)
        self.decider = Decider(matters, self.classifier, min_confidence=self.min_confidence,
                               places=names)
        self.org = org

    async def decide(self, session: AsyncSession, text: str,
                     place_id: int | None = None) -> Decision:
        await self.refresh(session)
        return self.decider.decide(text, self.org.town_unit(place_id))

    async def route(self, session: AsyncSession, text: str, place_id: int | None = None,
                    chosen: str | None = None) -> Route:
        """Route `text` (the request's own words, never its typed address). `chosen`: the
        matter the resident picked when asked, or NO_MATTER for "都不是/说不清"."""
        await self.refresh(session)
        town = self.org.town_unit(place_id)
        decision = self.decider.decide(text, town)
        if chosen and chosen in self.decider.by_code:
            decision = replace(self.decider.choose(chosen, town), terms=decision.terms,
                               candidates=decision.candidates, places=decision.places)
        record = record_of(decision)
        if chosen == NO_MATTER:
            record |= RoutingRecord(rule="triage", unit=None)
        if chosen:
            record["resident_choice"] = chosen
        unit_id = None
        if record["unit"]:
            unit_id = await session.scalar(
                sa.select(Unit.id).where(Unit.code == record["unit"], Unit.active))
            if unit_id is None:  # the catalogue names a unit the org does not have
                record["missing_unit"] = record["unit"]
        category = decision.matter_name or decision.category
        return Route(unit_id=unit_id, category=category, confidence=decision.confidence,
                     details=dict(record), days=decision.days)


async def matters_to_offer(session: AsyncSession, router: RequestRouter,
                           text: str) -> list[tuple[str, str]]:
    """(code, plain name) of the matters to ask the resident about, or [] when the router
    is sure (or recognises nothing: then the dispatcher decides, as before)."""
    if not router.ready:  # still loading at start-up: do not keep the resident waiting
        return []
    decision = await router.decide(session, text)
    return [(c.matter, c.name) for c in decision.candidates] if decision.ask else []


async def by_submission_key(session: AsyncSession, key: str) -> Ticket | None:
    return await session.scalar(sa.select(Ticket).where(Ticket.submission_key == key))


async def submitted_before(session: AsyncSession, resident: Person, key: str
                           ) -> Ticket | None:
    """The ticket `resident`'s draft `key` already became, else None. A key that someone
    else's ticket carries is refused (Conflict): a forged key shows no other ticket."""
    existing = await by_submission_key(session, key)
    if existing is not None and existing.resident_id != resident.id:
        raise Conflict()
    return existing


async def submit(session: AsyncSession, ctx: ServiceContext, router: RequestRouter,
                 resident: Person, draft: Draft) -> tuple[Ticket, bool]:
    """Create the ticket once per draft key; returns (ticket, created)."""
    if draft.submission_key:
        existing = await submitted_before(session, resident, draft.submission_key)
        if existing is not None:
            return existing, False
    if draft.contact_phone and not resident.phone and not draft.anonymous:
        resident.phone = draft.contact_phone  # offered next time as "use this number"
    # The summary the resident confirmed carried the privacy notice: confirming it is the
    # consent, recorded in the transaction that stores the first request.
    privacy.consent(resident, ctx.clock)
    # The typed address is not routing evidence: the place (its town) is.
    route = await router.route(session, "\n".join(filter(None, [draft.title, draft.text])),
                               draft.place_id, draft.matter)
    try:
        ticket = await ctx.lifecycle(session).submit(resident, draft, route)
    except IntegrityError as exc:  # the same draft confirmed concurrently elsewhere
        raise InvalidInput("err_already_submitted") from exc
    return ticket, True


CHANNELS = ("phone", "counter")  # besides "chat": how a 代录 request came in


@dataclass(frozen=True)
class CallerRequest:
    """A request a dispatcher takes by phone or at the counter on the caller's behalf."""

    channel: str
    caller_name: str
    phone: str
    text: str
    place_id: int | None = None
    address: str = ""


def check_caller(req: CallerRequest, rules: IntakeRules) -> CallerRequest:
    if req.channel not in CHANNELS:
        raise InvalidInput("err_channel")
    name = (req.caller_name or "").strip()
    if not name:
        raise InvalidInput("err_caller_name")
    return replace(req, caller_name=name[:64], phone=normalise_phone(req.phone),
                   text=check_description(req.text, rules), address=clip_address(req.address))


async def record_on_behalf(session: AsyncSession, ctx: ServiceContext, router: RequestRouter,
                           dispatcher: Person, req: CallerRequest, rules: IntakeRules,
                           unit_id: int | None) -> Ticket:
    """代录: the same decision as a chat request, confirmed or corrected by the dispatcher:
    `unit_id` is the unit they chose (None: leave it in the triage queue). The caller has
    no chat, so the result and the satisfaction callback go through the callback staff."""
    if not access.may_dispatch(dispatcher):
        raise NotAllowed()
    req = check_caller(req, rules)
    if unit_id is not None and await session.get(Unit, unit_id) is None:
        raise InvalidInput("err_unknown_unit")
    caller = await people.ensure_caller(session, req.caller_name, req.phone, ctx.clock)
    route = await router.route(session, req.text, req.place_id)
    chosen = await session.get(Unit, unit_id) if unit_id is not None else None
    details = dict(route.details) | {
        "rule": "dispatcher" if chosen else "triage", "router_unit": route.details["unit"],
        "unit": chosen.code if chosen else None, "dispatcher_id": dispatcher.id}
    draft = Draft(text=req.text, address=req.address, contact_phone=req.phone,
                  place_id=req.place_id, channel=req.channel)
    return await ctx.lifecycle(session).submit(
        caller, draft, Route(unit_id, route.category, route.confidence, details, route.days
                             if chosen and chosen.code == route.details["unit"] else None))
