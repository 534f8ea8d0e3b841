import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from models import Membership, Person, Place, PlaceKind, Role, Unit, Venue
from services.clock import ManualClock
from services.org_import import OrgImportError, import_org
from tests.conftest import EXAMPLE_ORG


async def count(session: AsyncSession, model: type) -> int:
    return await session.scalar(sa.select(sa.func.count()).select_from(model))


async def test_example_county_imports_and_reimport_is_idempotent(
        session: AsyncSession, clock: ManualClock) -> None:
    text = EXAMPLE_ORG.read_text(encoding="utf-8")
    first = await import_org(session, text, clock)
    await session.commit()
    towns = (await session.scalars(sa.select(Place.name).where(Place.kind == PlaceKind.TOWN)))
    assert len(set(towns)) == 13
    assert first.created["units"] == await count(session, Unit) >= 13
    grids = await session.scalar(sa.select(sa.func.count()).select_from(Place)
                                 .where(Place.kind == PlaceKind.GRID))
    assert grids > 13
    before = {m: await count(session, m) for m in (Place, Venue, Unit, Person, Membership)}
    second = await import_org(session, text, clock)
    await session.commit()
    assert sum(second.created.values()) == 0 and sum(second.updated.values()) == 0
    assert before == {m: await count(session, m) for m in before}


async def test_reimport_updates_in_place_and_keeps_resident_role(
        session: AsyncSession, clock: ManualClock) -> None:
    base = """
[[places]]
code = "C"
name = "县"
kind = "county"

[[units]]
code = "CG"
name = "城管局"

[[units]]
code = "ZJ"
name = "住建局"

[[people]]
code = "p1"
name = "甲"
roles = ["unit_staff"]
unit = "CG"
"""
    await import_org(session, base, clock)
    await session.commit()
    person = (await session.scalars(sa.select(Person).where(Person.code == "p1"))).one()
    person.memberships.append(Membership(role=Role.RESIDENT))
    await session.commit()
    changed = base.replace('name = "城管局"', 'name = "县城市管理局"').replace(
        'unit = "CG"', 'unit = "ZJ"')
    report = await import_org(session, changed, clock)
    await session.commit()
    assert report.updated == {"places": 0, "venues": 0, "units": 1, "people": 1, "matters": 0}
    session.expire_all()
    person = (await session.scalars(sa.select(Person).where(Person.code == "p1"))).one()
    zj = (await session.scalars(sa.select(Unit).where(Unit.code == "ZJ"))).one()
    assert sorted((m.role, m.unit_id) for m in person.memberships) == [
        (Role.RESIDENT, None), (Role.UNIT_STAFF, zj.id)]


async def test_bad_rows_are_reported_with_their_line_and_nothing_is_written(
        session: AsyncSession, clock: ManualClock) -> None:
    text = """# header comment
[[places]]
code = "C"
name = "县"
kind = "county"
latitude = 95.0
longitude = 117.0

[[places]]
code = "T"
name = "镇"
kind = "town"
parent = "NOPE"

[[places]]
code = "G"
name = "网格"
kind = "grid"
parent = "C"

[[units]]
code = "U"
name = "单位"

[[people]]
code = "p"
name = "乙"
roles = ["grid_worker", "wizard"]
grids = ["C"]
telegram_id = -5
"""
    try:
        await import_org(session, text, clock)
    except OrgImportError as exc:
        errors = exc.errors
    else:
        raise AssertionError("import should have failed")
    joined = "\n".join(errors)
    assert "第2行 [[places]] code='C': latitude/longitude 超出范围" in joined
    assert "第9行 [[places]] code='T': parent 'NOPE' 不存在" in joined
    assert "第15行 [[places]] code='G': grid 不能属于 county" in joined
    assert "第25行 [[people]] code='p': telegram_id 应为正整数" in joined
    assert "未知角色 'wizard'" in joined
    assert "网格 'C' 不存在" in joined
    await session.rollback()
    assert await count(session, Place) == 0 and await count(session, Unit) == 0


async def test_syntax_error_and_duplicate_codes(session: AsyncSession,
                                                clock: ManualClock) -> None:
    for text, expected in [
        ("[[places]\ncode=1", "TOML 语法错误"),
        ('[[units]]\ncode = "A"\nname = "x"\n\n[[units]]\ncode = "A"\nname = "y"\n',
         "第5行 [[units]] code='A': code 重复"),
        ('[[units]]\ncode = "A"\n', "code 和 name 必填"),
    ]:
        try:
            await import_org(session, text, clock)
        except OrgImportError as exc:
            assert expected in "\n".join(exc.errors)
        else:
            raise AssertionError(text)
