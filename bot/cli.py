"""The `minyi` command: run the bot, migrate, import org data, check the install."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bot import routing_cli
from bot.config import Config, ConfigError, load_config
from models.people import Role

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

ICONS = {"ok": "✓", "warn": "!", "fail": "✗"}
INVITE_ROLES = (Role.GRID_WORKER, Role.UNIT_STAFF, Role.UNIT_LEADER, Role.DISPATCHER,
                Role.CALLBACK_STAFF, Role.REPRESENTATIVE, Role.ADMIN)
WEEKDAYS = "一二三四五六日"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minyi", description="民意快车 chat bot and tools")
    p.add_argument("--config", help="TOML config file (default: $MINYI_CONFIG or ./config.toml)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="start the bot (polling or webhook, as configured)")
    sb = sub.add_parser("sandbox", help="everything locally, no token: open the printed URL")
    sb.add_argument("--port", type=int, default=8080)
    sb.add_argument("--db", type=Path, default=Path("sandbox.db"))
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_cmd",
                                                                     required=True)
    db.add_parser("upgrade", help="apply all migrations")
    db.add_parser("current", help="print the schema revision")
    org = sub.add_parser("org", help="org data").add_subparsers(dest="org_cmd", required=True)
    imp = org.add_parser("import", help="import places, venues, units, staff and the "
                         "dispatch catalogue ([[matters]]) from TOML files, in order")
    imp.add_argument("file", type=Path, nargs="+")
    cal = sub.add_parser("calendar", help="working-day calendar").add_subparsers(
        dest="cal_cmd", required=True)
    due = cal.add_parser("due", help="the due moment N working days after a moment")
    due.add_argument("moment", help="ISO moment, local time if no offset: 2026-09-30T10:00")
    due.add_argument("--days", type=int, default=None, help="default: deadlines.working_days")
    sub.add_parser("doctor", help="check config, database, migrations, Redis, calendar, org "
                   "data")
    ob = sub.add_parser("outbox", help="messages pushed by the system").add_subparsers(
        dest="outbox_cmd", required=True)
    ob.add_parser("status", help="counts by state and the oldest pending message's age")
    st = sub.add_parser("stats", help="接诉即办 figures for a period (text, --xlsx, --png, "
                                      "--report)")
    st.add_argument("--from", dest="start", required=True, help="first day, 2026-11-01")
    st.add_argument("--to", dest="end", required=True, help="last day (inclusive)")
    st.add_argument("--group", default="unit",
                    choices=["unit", "town", "grid", "category", "channel"])
    st.add_argument("--xlsx", type=Path, help="write the workbook here")
    st.add_argument("--png", type=Path, help="write the chart here")
    st.add_argument("--report", type=Path,
                    help="write the one-page A4 通报 here (.pdf or .png; by unit)")
    inv = sub.add_parser("invite", help="a one-time link that binds a staff member's Telegram")
    inv.add_argument("role", nargs="?", choices=[r.value for r in INVITE_ROLES],
                     help="role of a new staff member (omit with --person)")
    where = inv.add_mutually_exclusive_group()
    where.add_argument("--unit", help="unit code (unit_staff, unit_leader)")
    where.add_argument("--grid", help="grid code (grid_worker)")
    inv.add_argument("--name", default="", help="the new staff member's name")
    inv.add_argument("--phone", default="")
    inv.add_argument("--person", help="code of a staff member already in the org file")
    wh = sub.add_parser("webhook", help="webhook mode").add_subparsers(dest="webhook_cmd",
                                                                     required=True)
    wh.add_parser("secret", help="print a strong new telegram.webhook.secret")
    sf = sub.add_parser("staff", help="remove staff or unbind a lost Telegram account"
                        ).add_subparsers(dest="staff_cmd", required=True)
    for name, text in (("remove", "take every staff role and the Telegram binding away"),
                       ("unbind", "unbind the Telegram account (roles stay; invite anew)")):
        sf.add_parser(name, help=text).add_argument("code", help="the person's code")
    au = sub.add_parser("audit", help="the audit log, newest first")
    au.add_argument("--limit", type=int, default=50)
    au.add_argument("--action", help="only actions starting with this, e.g. staff, phone")
    routing_cli.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log.level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.log.level != "DEBUG":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command in ("routing", "route"):
        return routing_cli.run(config, args)
    if args.command == "webhook":
        print(secrets.token_urlsafe(48))  # 64 characters of A-Z a-z 0-9 _ -
        return 0
    handler = {"run": _run, "db": _db, "org": _org, "calendar": _calendar,
               "doctor": _doctor, "outbox": _outbox, "invite": _invite,
               "stats": _stats, "sandbox": _sandbox, "staff": _staff,
               "audit": _audit}[args.command]
    try:
        return asyncio.run(handler(config, args))
    except KeyboardInterrupt:
        return 130
    finally:
        if args.command in ("run", "sandbox"):
            # aiogram's thousands of pydantic classes take the interpreter's final garbage
            # collections 1-2 s to walk; frozen, they are skipped and the OS frees the
            # memory, so Ctrl-C stops the process at once (measured in the notes).
            gc.freeze()


async def _run(config: Config, _args: argparse.Namespace) -> int:
    if not config.telegram.token.get_secret_value():
        from services.texts import t

        print(t("cli_no_token"), file=sys.stderr)  # before the slow imports below
        return 2
    from bot.app import StartupError, build_app
    from bot.runners import run_polling, run_webhook

    try:
        app = await build_app(config)
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 2
    if config.telegram.mode == "webhook":
        await run_webhook(app)
    else:
        await run_polling(app)
    return 0


async def _db(config: Config, args: argparse.Namespace) -> int:
    from models import migrate
    from models.db import make_engine

    engine = make_engine(config.database.url)
    try:
        if args.db_cmd == "upgrade":
            await migrate.upgrade(engine)
        print(f"schema revision: {await migrate.current_revision(engine)} "
              f"(head {migrate.head_revision()})")
    finally:
        await engine.dispose()
    return 0


async def _org(config: Config, args: argparse.Namespace) -> int:
    from services.audit import cli_label
    from services.clock import SystemClock
    from services.org_import import OrgImportError, import_org

    for path in args.file:
        if not path.is_file():
            print(f"文件不存在：{path}", file=sys.stderr)
            return 2
    async with _db_session(config) as session:
        reports = []
        for path in args.file:  # one transaction: a bad row in any file writes nothing
            try:
                reports.append((path, await import_org(
                    session, path.read_text(encoding="utf-8"), SystemClock(), cli_label())))
            except OrgImportError as exc:
                print(f"导入失败，未写入任何数据（{len(exc.errors)} 处错误）：", file=sys.stderr)
                for line in exc.errors:
                    print(f"  {path}: {line}", file=sys.stderr)
                return 1
        await session.commit()
    for path, report in reports:
        if len(reports) > 1:
            print(f"{path}:")
        for section, created in report.created.items():
            gone = report.matters_deactivated if section == "matters" else 0
            print(f"{section}: 新增 {created}，更新 {report.updated[section]}"
                  + (f"，停用 {gone}" if gone else ""))
        if report.deactivated:
            print(f"已停用（active = false）：{'、'.join(report.deactivated)}")
        if report.not_in_file:
            print(f"! 数据库中有 {len(report.not_in_file)} 名工作人员不在此文件中，仍保留角色："
                  f"{'、'.join(report.not_in_file[:20])}；如需移除，请在文件中写 active = false "
                  "或运行 minyi staff remove CODE", file=sys.stderr)
    return 0


async def _staff(config: Config, args: argparse.Namespace) -> int:
    from services import staff_admin
    from services.audit import cli_label
    from services.clock import SystemClock
    from services.errors import DomainError

    async with _db_session(config) as session:
        try:
            act = staff_admin.remove if args.staff_cmd == "remove" else staff_admin.unbind
            person = await act(session, args.code, SystemClock(), cli_label())
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 2
        left = await staff_admin.open_assigned(session, person)
        await session.commit()
    done = ("已移除（不再有任何工作人员角色，Telegram 账号已解绑）"
            if args.staff_cmd == "remove"
            else "已解绑 Telegram 账号（角色保留，可用 minyi invite --person 重新绑定）")
    print(f"{person.name or person.code}（{person.code}）：{done}。运行中的机器人立即生效。")
    if left:
        print(f"! 仍有 {len(left)} 件在办诉求由其承办，请转派或由派单员重新分派："
              f"{'、'.join(left[:20])}", file=sys.stderr)
    return 0


async def _audit(config: Config, args: argparse.Namespace) -> int:
    from services import audit

    async with _db_session(config) as session:
        rows = await audit.entries(session, limit=args.limit, action=args.action)
    for row in reversed(rows):
        at = row.at.astimezone(config.tz)
        print(f"{at:%Y-%m-%d %H:%M:%S}  {row.actor:<24} {row.action:<18} {row.target}"
              + (f"  {row.detail}" if row.detail else ""))
    if not rows:
        print("审计日志为空")
    return 0


@asynccontextmanager
async def _db_session(config: Config) -> AsyncIterator[AsyncSession]:
    """A session on the configured database (the embedded one created if missing)."""
    from models.db import make_engine, make_sessionmaker

    engine = make_engine(config.database.url)
    try:
        await _ensure_sqlite_schema(engine)
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def _ensure_sqlite_schema(engine: AsyncEngine) -> None:
    """The embedded database creates itself; PostgreSQL is migrated explicitly."""
    if engine.dialect.name == "sqlite":
        from models import migrate

        await migrate.upgrade(engine)


async def _calendar(config: Config, args: argparse.Namespace) -> int:
    from bot.calendar import make_calendar
    from services.texts import fmt_moment

    cal = make_calendar(config)
    try:
        moment = dt.datetime.fromisoformat(args.moment)
    except ValueError:
        print(f"无法解析时间 {args.moment!r}：请用 2026-09-30T10:00 的格式", file=sys.stderr)
        return 2
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.tz)
    days = config.deadlines.working_days if args.days is None else args.days
    if days < 0:
        print("--days 不能为负数", file=sys.stderr)
        return 2
    due = cal.add_working_days(moment, days)
    print(due.isoformat())
    print(f"{fmt_moment(due, config.tz)}（星期{WEEKDAYS[due.weekday()]}）")
    for year in sorted(cal.uncovered_years):
        print(f"! {year} 年没有官方节假日数据：按周一至周五及配置补充日期计算", file=sys.stderr)
    return 0


async def _doctor(config: Config, _args: argparse.Namespace) -> int:
    from bot.app import make_context
    from bot.health import health_report
    from models.db import make_engine

    engine = make_engine(config.database.url)
    try:
        report = await health_report(config, engine, make_context(config))
    finally:
        await engine.dispose()
    for check in report["checks"]:
        print(f"{ICONS[check['status']]} {check['name']}: {check['detail']}")
    print("状态：正常" if report["ok"] else "状态：有错误，请按上面的提示处理")
    return 0 if report["ok"] else 1


async def _outbox(config: Config, _args: argparse.Namespace) -> int:
    from services import outbox
    from services.clock import SystemClock

    async with _db_session(config) as session:
        report = await outbox.status(session, SystemClock().now())
    names = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "失败",
             "blocked": "无法送达"}
    for state, n in report["counts"].items():
        print(f"{names[state]}（{state}）：{n}")
    age = report["oldest_pending_seconds"]
    print("最早的待发送消息：" + ("无" if age is None else f"已等待 {age:.0f} 秒"))
    return 0


async def _invite(config: Config, args: argparse.Namespace) -> int:
    from services import invites
    from services.clock import SystemClock
    from services.errors import DomainError

    username = config.telegram.username or await _bot_username(config)
    if not username:
        print("需要机器人的用户名：请设置 telegram.username（或 telegram.token 以便查询）",
              file=sys.stderr)
        return 2
    async with _db_session(config) as session:
        try:
            if args.person:
                person = await invites.existing_staff(session, args.person)
            else:
                if not args.role:
                    print("请给出角色，或用 --person 邀请组织文件中已有的人员", file=sys.stderr)
                    return 2
                person = await invites.new_staff(
                    session, Role(args.role), unit_code=args.unit, grid_code=args.grid,
                    name=args.name, phone=args.phone, clock=SystemClock())
            invite = await invites.create(session, person, SystemClock(),
                                          config.telegram.invite_hours)
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 2
        await session.commit()
    print(f"https://t.me/{username}?start={invite.token}")
    until = invite.expires_at.astimezone(config.tz)
    print(f"（{person.name or person.code}，有效期至 {until:%Y-%m-%d %H:%M}，只能使用一次）")
    return 0


async def _bot_username(config: Config) -> str:
    if not config.telegram.token.get_secret_value():
        return ""
    from bot.app import StartupError, make_bot

    try:
        bot = make_bot(config)
    except StartupError:
        return ""
    try:
        return (await bot.me()).username or ""
    except Exception:
        return ""
    finally:
        await bot.session.close()


async def _stats(config: Config, args: argparse.Namespace) -> int:
    from bot.app import make_context
    from services import errand_stats, report_charts, report_files, reports

    ctx = make_context(config)
    try:
        start, end = reports.period(ctx, f"{args.start}..{args.end}")
    except ValueError:
        print("日期格式应为 2026-11-01，且 --to 不早于 --from", file=sys.stderr)
        return 2
    if args.report and args.report.suffix.lower() not in (".pdf", ".png"):
        print("--report 的文件名应以 .pdf 或 .png 结尾", file=sys.stderr)
        return 2
    appraisal = ctx.appraisal
    async with _db_session(config) as session:
        report = await reports.compute(session, ctx, start, end, appraisal, group=args.group)
        errands = await reports.errand_figures(session, start, end)
        print(report_files.summary_text(report, appraisal, top=50))
        print(errand_stats.section_text(errands, top=50))
        written = []
        if args.xlsx:
            args.xlsx.write_bytes(await report_files.workbook(session, report, appraisal,
                                                              errands))
            written.append(args.xlsx)
        if args.report:
            args.report.write_bytes(await reports.monthly_report(
                session, ctx, start, end, appraisal, fmt=args.report.suffix.lower()[1:]))
            written.append(args.report)
    if args.png:
        args.png.write_bytes(report_charts.chart_png(report, appraisal))
        written.append(args.png)
    for path in written:
        print(f"已写入 {path}")
    return 0


async def _sandbox(_config: Config, args: argparse.Namespace) -> int:
    from bot.sandbox import run_sandbox

    await run_sandbox(args.port, args.db)
    return 0
