"""The dispatch catalogue: its data, the one explained decision, the import, the figures."""

from __future__ import annotations

import json
import tomllib
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main
from models import Matter, Ticket, TicketEvent
from routing.catalogue import (
    PLACE_UNIT,
    CatalogueError,
    parse_catalogue,
    places_of_org,
)
from routing.classifier import KeywordClassifier
from routing.decide import Decider
from routing.table import DEFAULT_TABLE, parse_table
from routing.text import load_dictionary
from services.clock import ManualClock
from services.org_import import OrgImportError, import_org
from tests.conftest import EXAMPLE_CATALOGUE, EXAMPLE_ORG, ROOT, Org

CHAT_DEV = ROOT / "examples" / "routing_chat_dev.csv"
CHAT_HOLDOUT = ROOT / "examples" / "routing_chat_holdout.csv"


@pytest.fixture(scope="module")
def decider() -> Decider:
    places = places_of_org(EXAMPLE_ORG.read_text("utf-8"))
    load_dictionary(places)
    return Decider(parse_catalogue(EXAMPLE_CATALOGUE.read_text("utf-8")),
                   KeywordClassifier(parse_table(DEFAULT_TABLE.read_text("utf-8"))),
                   min_confidence=0.65, places=places)


def test_the_example_catalogue_covers_every_unit_of_the_county() -> None:
    org = tomllib.loads(EXAMPLE_ORG.read_text("utf-8"))
    matters = parse_catalogue(EXAMPLE_CATALOGUE.read_text("utf-8"),
                              {u["code"] for u in org["units"]})
    assert len(matters) >= 120
    per_unit = Counter(m.unit for m in matters)
    departments = [u["code"] for u in org["units"] if not u.get("place")]
    assert all(per_unit[code] >= 4 for code in departments), per_unit
    towns = [u["code"] for u in org["units"] if u.get("place")]
    local = [m for m in matters if m.unit == PLACE_UNIT]
    assert len(local) >= 10 and all(m.fallback in departments for m in local)
    assert {"邻里纠纷", "村务公开和村干部作风", "村内道路", "村内路灯", "农村改厕和户厕",
            "红白事扰民和大操大办"} <= {m.name for m in local}
    assert len(towns) == 13  # each reached through 属地 matters and the place


@pytest.mark.parametrize(("text", "unit", "rule"), [
    ("小区路灯坏了好几天", "CG", "matter"),       # was 住建局
    ("村里停电两天了", "GD", "matter"),           # was 住建局
    ("广场舞噪音扰民", "GA", "matter"),           # was 住建局
    ("停水了", "SW", "matter"),                  # was 住建局
    ("孩子上学报名", "JY", "matter"),             # was triaged as 商贸旅游
    ("下水道堵了", "CG", "matter"),               # matched nothing
    ("泉林镇卞桥村的路灯晚上不亮", "U-QL", "place"),  # a village's lights: its town
    ("俺跟邻居因为宅基地吵了好几年", "ZRZY", "matter"),  # 属地, place unknown: fallback
])
def test_the_issue_examples(decider: Decider, text: str, unit: str, rule: str) -> None:
    d = decider.decide(text)
    assert (d.unit, d.rule) == (unit, rule), d
    assert d.matter and d.terms


def test_the_place_settles_local_matters_and_is_not_evidence(decider: Decider) -> None:
    quarrel = "邻居天天往俺家门口倒脏水"
    assert decider.decide(quarrel).unit == "SF"  # no place: the matter's fallback
    d = decider.decide(quarrel, town="U-JZ")
    assert (d.unit, d.rule, d.matter) == ("U-JZ", "place", "SD01")
    # A department's matter stays with the department wherever it happens.
    assert decider.decide("停水了", town="U-JZ").unit == "SW"
    # Place names are found, never scored: "泉林" is part of a 文旅 phrase (泉林泉群).
    d = decider.decide("泉林村停电了")
    assert d.unit == "GD" and d.places == ["泉林村"]
    assert all("泉林" not in term for term, _ in d.terms)


def test_unsure_asks_with_up_to_three_matters_and_nothing_is_triage(
        decider: Decider) -> None:
    d = decider.decide("这条路坑坑洼洼的 电动车过去颠死了")  # 城区 (城管) or 公路 (交通)?
    assert d.rule == "ask" and d.unit is None and 2 <= len(d.candidates) <= 3
    assert len({c.unit for c in d.candidates}) == len(d.candidates)
    assert {"JT", "CG"} <= set(d.top_units())
    chosen = decider.choose(d.candidates[1].matter)
    assert chosen.rule == "resident" and chosen.unit == d.candidates[1].unit
    nothing = decider.decide("你好在吗")
    assert nothing.rule == "triage" and not nothing.candidates


@pytest.mark.parametrize("text", ["", "   ", "😀😀😀", "路灯" * 5000, "\x00控制字符",
                                  "ＡＢＣ停水"])
def test_any_input_gives_a_decision(decider: Decider, text: str) -> None:
    d = decider.decide(text)
    assert d.rule in ("matter", "place", "learned", "ask", "triage")
    assert 0.0 <= d.confidence <= 1.0


def test_bad_catalogue_rows_name_their_line() -> None:
    text = ("[[matters]]\ncode = \"A\"\nname = \"x\"\nunit = \"CG\"\nphrases = { \"a\" = 1 }\n"
            "\n[[matters]]\ncode = \"A\"\nname = \"y\"\nunit = \"属地\"\nphrases = { \"b\" = 1 }\n"
            "\n[[matters]]\ncode = \"C\"\nname = \"z\"\nunit = \"NOPE\"\nphrases = { \"c\" = -1 }"
            "\ndays = 99\n")
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text, {"CG"})
    joined = "\n".join(err.value.errors)
    assert "第7行" in joined and "fallback" in joined
    assert "第13行" in joined and "'NOPE'" in joined and "权重应为正数" in joined
    assert "days" in joined


def test_chat_requests_meet_the_targets_on_the_part_never_tuned_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Regression floor (the benchmark prints the figures): by unit, as `routing eval`."""
    assert main(["routing", "eval", str(CHAT_HOLDOUT), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "triage_rate", "accuracy_routed", "in_top3", "per_unit",
            "per_second", "lcut_ratio"} <= set(result)
    assert result["n"] >= 150
    assert result["accuracy"] >= 0.85 and result["accuracy_routed"] >= 0.95
    assert result["triage_rate"] <= 0.15 and result["in_top3"] >= 0.9
    assert main(["routing", "eval", str(CHAT_DEV), "--by", "unit"]) == 0
    assert "准确率" in capsys.readouterr().out


def test_the_labelled_chat_requests() -> None:
    rows = [line.split(",") for line in
            (CHAT_DEV.read_text("utf-8") + CHAT_HOLDOUT.read_text("utf-8")).splitlines()
            if line and line != "text,units"]
    assert len(rows) >= 400 and all(len(r) == 2 for r in rows)
    org = tomllib.loads(EXAMPLE_ORG.read_text("utf-8"))
    per_unit = Counter(u for _, units in rows for u in units.split("|"))
    assert set(per_unit) <= {u["code"] for u in org["units"]}
    assert all(per_unit[u["code"]] >= 8 for u in org["units"]), per_unit
    short = sum(4 <= len(text) <= 30 for text, _ in rows)
    assert short / len(rows) > 0.9


async def test_import_validates_then_the_running_router_follows_the_file(
        session: AsyncSession, clock: ManualClock, org: Org, harness) -> None:  # type: ignore[no-untyped-def]
    router = harness.dp.workflow_data["ctx"].router
    lamp = "小区路灯坏了"
    assert (await router.route(session, lamp)).details["unit"] == "CG"
    text = EXAMPLE_CATALOGUE.read_text("utf-8")
    bad = text.replace('code = "CG01"\nname = "路灯不亮或损坏"\nunit = "CG"',
                       'code = "CG01"\nname = "路灯不亮或损坏"\nunit = "NOPE"')
    with pytest.raises(OrgImportError) as err:
        await import_org(session, bad, clock)
    line = text[:text.index('code = "CG01"')].count("\n")  # the [[matters]] header's line
    assert any(e.startswith(f"第{line}行 [[matters]] code='CG01'") for e in err.value.errors)
    await session.rollback()
    assert (await router.route(session, lamp)).details["unit"] == "CG"  # nothing written
    # The county moves street lights to 住建 and drops a matter: no restart, no retraining.
    moved = text.replace('code = "CG01"\nname = "路灯不亮或损坏"\nunit = "CG"',
                         'code = "CG01"\nname = "路灯不亮或损坏"\nunit = "ZJ"')
    moved = moved.replace('[[matters]]\ncode = "CG06"', '[[ignored]]\ncode = "CG06"')
    report = await import_org(session, moved, clock)
    await session.commit()
    assert report.updated["matters"] == 1 and report.matters_deactivated == 1
    assert report.deactivated == [] and report.not_in_file == []  # staff untouched
    route = await router.route(session, lamp)
    assert route.details["unit"] == "ZJ" and route.details["matter"] == "CG01"
    assert (await session.scalar(sa.select(Matter.active).where(Matter.code == "CG06"))) \
        is False
    assert (await router.route(session, "井盖没了")).details["matter"] != "CG06"


async def test_a_matter_with_its_own_days_sets_the_deadline(
        session: AsyncSession, ctx, org: Org, harness) -> None:  # type: ignore[no-untyped-def]
    from models import Membership, Role
    from services.tickets import Draft
    from tests.helpers import new_resident

    router = harness.dp.workflow_data["ctx"].router
    gas_staff = await new_resident(session, ctx.clock, 7002, "燃气公司值班员")
    gas_staff.memberships.append(Membership(role=Role.UNIT_STAFF,
                                            unit_id=(await org.unit("RQ")).id))
    resident = await new_resident(session, ctx.clock, 7001)
    life = ctx.lifecycle(session)
    gas = await life.submit(resident, Draft("家里一股煤气味 是不是漏气了"),
                            await router.route(session, "家里一股煤气味 是不是漏气了"))
    lamp = await life.submit(resident, Draft("小区路灯坏了"),
                             await router.route(session, "小区路灯坏了"))
    assert gas.routing["days"] == 1 and gas.category == "燃气泄漏"
    assert ctx.calendar.add_working_days(ctx.clock.now(), 1) == gas.due_at
    assert ctx.calendar.add_working_days(ctx.clock.now(), 3) == lamp.due_at
    events = await session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == gas.id, TicketEvent.action == "assign"))
    assert [e.actor_id for e in events] == [None]
    assert (await session.get(Ticket, gas.id)).unit_id == (await org.unit("RQ")).id
