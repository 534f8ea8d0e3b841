"""The sandbox page in headless Chromium (Debian's package, driven by Playwright).

A resident submits a request in the first pane and sees the number; the grid worker's pane
then shows the assignment; the dispatcher's pane gets a chart (opens large) and an XLSX
(a download with its name and type). Panes pick any persona and keep it over a reload;
alerts stay with their chat and fade; an edited message scrolls into view; the page has
no missing glyph; a restart keeps the chats and the moved clock. Screenshots are kept in
test-artifacts/ (sandbox.png, sandbox-chart.png, sandbox-restarted.png).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import run_sandbox
from services.texts import t
from tests.conftest import ROOT
from tests.procs import free_port

ARTIFACTS = ROOT / "test-artifacts"
LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Every character of the page drawn on a canvas in the page's font, compared with the
# drawing of two unassigned code points (the "tofu" box a missing glyph becomes).
MISSING_GLYPHS_JS = r"""
() => {
  const font = getComputedStyle(document.body).fontFamily;
  const c = document.createElement("canvas"); c.width = c.height = 48;
  const g = c.getContext("2d", {willReadFrequently: true});
  const draw = ch => {
    g.clearRect(0, 0, 48, 48); g.font = `32px ${font}`; g.fillStyle = "#000";
    g.textBaseline = "top"; g.fillText(ch, 4, 4);
    return g.getImageData(0, 0, 48, 48).data.join(",");
  };
  const tofu = new Set([draw("\u0378"), draw("\u{10FFFD}")]);
  const text = document.body.innerText + [...document.querySelectorAll("input, option")]
    .map(e => (e.placeholder || "") + (e.textContent || "")).join("");
  const chars = [...new Set([...text])].filter(
    ch => ch.trim() && ch.codePointAt(0) > 0x7f && !["\uFE0F", "\u200D"].includes(ch));
  return {tofuKinds: tofu.size, checked: chars.length,
          missing: chars.filter(ch => tofu.has(draw(ch)))};
}
"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed under CI (.ci/run installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed under CI (the dev extra has it)")
        pytest.skip("playwright not installed: pip install -e '.[dev]'")
    return path


class Sandbox:
    """`minyi sandbox` in this process; stop() and start() again on the same database."""

    def __init__(self, db: Path) -> None:
        self.db, self.port = db, free_port()
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.stop_event, ready = asyncio.Event(), asyncio.Event()
        self.task = asyncio.create_task(run_sandbox(self.port, self.db, self.stop_event,
                                                    ready))
        await asyncio.wait_for(ready.wait(), 60)

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)


async def no_missing_glyphs(page: Any) -> None:
    result = await page.evaluate(MISSING_GLYPHS_JS)
    assert result["tofuKinds"] == 1, "the missing-glyph box is not recognisable"
    assert result["checked"] > 50
    assert result["missing"] == [], f"drawn as empty boxes: {result['missing']}"


async def test_sandbox_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium()
    from playwright.async_api import async_playwright, expect

    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(tmp_path / "sandbox.db")
    await sandbox.start()
    url = f"http://127.0.0.1:{sandbox.port}/"
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable,
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1500, "height": 900},
                                          accept_downloads=True)
            await page.goto(url)
            panes = page.locator(".pane")
            # A first-time visitor: a hint, three panes on this width, each with its commands.
            await expect(page.locator("#intro")).to_contain_text("/start")
            await expect(panes).to_have_count(3)
            resident, worker, dispatcher = panes.nth(0), panes.nth(1), panes.nth(2)
            await expect(resident.locator("select")).to_have_value("resident")
            await expect(worker.locator("select")).to_have_value("grid")
            await expect(dispatcher.locator("select")).to_have_value("dispatcher")
            await expect(worker.locator(".cmds")).to_contain_text("/queue")
            await expect(dispatcher.locator(".cmds")).to_contain_text("/triage")
            await expect(resident.locator(".cmds")).to_contain_text("/report")
            await expect(resident.locator(".log")).to_contain_text("还没有对话")
            # The resident's request, step by step.
            box = resident.locator("input[type=text]")
            await resident.locator(".cmds button", has_text="/start").click()
            await resident.locator(".reply button", has_text=t("btn_report")).click()
            await expect(resident.locator(".log")).to_contain_text("请用文字描述", timeout=15000)
            await box.fill(LAMP)
            await box.press("Enter")
            await expect(resident.locator(".log")).to_contain_text("也可以选择所在镇街",
                                                                   timeout=15000)
            await resident.locator("button[title='发送位置']").click()
            no_phone = resident.locator(".reply button", has_text=t("btn_no_phone"))
            await expect(no_phone).to_be_visible(timeout=15000)
            await no_phone.click()
            await expect(resident.locator(".reply button")).to_have_count(0)  # summary: none
            await resident.locator(".kb button", has_text="确认提交").click(timeout=15000)
            await expect(resident.locator(".log")).to_contain_text("提交成功", timeout=15000)
            # The callback answer is an alert of this chat only, and it fades.
            await expect(resident.locator(".alert")).to_contain_text("已提交", timeout=5000)
            await expect(worker.locator(".alert")).to_have_text("")
            await expect(resident.locator(".alert.fade")).to_have_count(1, timeout=8000)
            number = re.search(r"MY\d{8}-\d{4}", await resident.locator(".log").inner_text())
            assert number is not None
            await expect(worker.locator(".log")).to_contain_text(number.group(0),
                                                                 timeout=20000)
            await expect(worker.locator(".kb button", has_text="接单").first).to_be_visible()
            # 我的诉求 → the detail (an edit that grows the message) scrolls into view.
            await resident.locator(".reply button", has_text=t("btn_my")).click()
            await resident.locator(".kb button", has_text=number.group(0)).click(timeout=15000)
            detail = resident.locator(".msg", has_text="办理记录")
            await expect(detail).to_be_visible(timeout=15000)
            log_box = await resident.locator(".log").bounding_box()
            detail_box = await detail.bounding_box()
            assert log_box and detail_box
            assert detail_box["y"] >= log_box["y"] - 1
            assert (detail_box["y"] + detail_box["height"] <= log_box["y"] + log_box["height"] + 1
                    or detail_box["y"] <= log_box["y"] + 1)  # taller than the pane: its top
            await page.screenshot(path=str(ARTIFACTS / "sandbox.png"), full_page=True)
            await no_missing_glyphs(page)
            # The dispatcher's chart opens large; the XLSX is a download with name and type.
            await dispatcher.locator(".cmds button", has_text="/start").click()
            await dispatcher.locator(".reply button", has_text="统计").click()
            chart = dispatcher.locator(".msg img")
            await expect(chart).to_be_visible(timeout=30000)
            await chart.click()
            await expect(page.locator("#lightbox.open img")).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / "sandbox-chart.png"))
            await page.locator("#lightbox").click()
            await dispatcher.locator("input[type=text]").fill("/stats export")
            await dispatcher.locator("input[type=text]").press("Enter")
            link = dispatcher.locator("a.doc")
            await expect(link).to_contain_text(".xlsx", timeout=30000)
            href = await link.get_attribute("href")
            response = await page.request.get(url.rstrip("/") + (href or ""))
            assert response.headers["content-type"] == XLSX
            assert "filename*=UTF-8''stats-" in response.headers["content-disposition"]
            async with page.expect_download() as download_info:
                await link.click()
            assert (await download_info.value).suggested_filename.endswith(".xlsx")
            # Any persona in any pane, kept over a reload; its alert does not follow.
            await dispatcher.locator("select").select_option("callback")
            await expect(dispatcher.locator(".cmds")).to_contain_text("/callbacks")
            await page.locator("#add").click()
            await expect(panes).to_have_count(4)
            await panes.nth(3).locator("select").select_option("representative")
            before = await page.locator("#clock").inner_text()
            await page.locator("#workday").click()
            await expect(page.locator("#clock")).not_to_have_text(before)
            moved = await page.locator("#clock").inner_text()
            assert moved[:10] > before[:10]
            # 知道了 hides the intro for good; after a reload the rest of the page still works.
            await page.locator("#hide-intro").click()
            await expect(page.locator("#intro")).to_have_count(0)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.reload()
            await expect(panes).to_have_count(4)
            await expect(panes.nth(2).locator("select")).to_have_value("callback")
            await expect(panes.nth(3).locator("select")).to_have_value("representative")
            await expect(page.locator("#intro")).to_have_count(0)
            await expect(page.locator("#clock")).to_have_text(re.compile(moved[:10]))
            await page.locator("#workday").click()
            await expect(page.locator("#clock")).not_to_have_text(re.compile(moved[:10]))
            moved = await page.locator("#clock").inner_text()
            # A press on a button the message no longer has (a double tap): Chinese, not the
            # emulator's English 400.
            first = panes.nth(0).locator(".msg").first
            await expect(first).to_be_visible(timeout=15000)
            await page.evaluate("id => press(states[0], Number(id), 'gone')",
                                await first.get_attribute("data-id"))
            await expect(panes.nth(0).locator(".alert")).to_have_text(
                "按钮已失效，请看最新的消息。")
            assert errors == []
            # A restart keeps the chats and the clock.
            await sandbox.stop()
            await sandbox.start()
            await page.reload()
            await expect(panes.nth(0).locator(".log")).to_contain_text(number.group(0),
                                                                       timeout=15000)
            await expect(page.locator("#clock")).to_have_text(re.compile(moved[:10]))
            assert (await page.locator("#clock").inner_text()) >= moved
            await page.screenshot(path=str(ARTIFACTS / "sandbox-restarted.png"),
                                  full_page=True)
            await browser.close()
    finally:
        await sandbox.stop()
    assert (ARTIFACTS / "sandbox.png").stat().st_size > 10_000


QUARREL = "邻居天天往俺家门口倒脏水，说了也不听"


async def test_sandbox_routes_by_the_catalogue(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """路灯 reaches the 城管局 persona (the catalogue's matter); a quarrel between
    neighbours with the shared location reaches the 泗河街道 persona (属地)."""
    executable = chromium()
    from playwright.async_api import async_playwright, expect

    monkeypatch.chdir(tmp_path)
    sandbox = Sandbox(tmp_path / "sandbox.db")
    await sandbox.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable,
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1500, "height": 900})
            await page.goto(f"http://127.0.0.1:{sandbox.port}/")
            panes = page.locator(".pane")
            await expect(panes).to_have_count(3)
            resident, unit = panes.nth(0), panes.nth(2)
            await unit.locator("select").select_option("unit")
            box = resident.locator("input[type=text]")
            await resident.locator(".cmds button", has_text="/start").click()
            number = await submit(resident, box, LAMP, expect)
            await expect(unit.locator(".log")).to_contain_text(number, timeout=20000)
            await unit.locator("select").select_option("town")
            second = await submit(resident, box, QUARREL, expect)
            await expect(unit.locator(".log")).to_contain_text(second, timeout=20000)
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "sandbox-routing.png"), full_page=True)
            await browser.close()
    finally:
        await sandbox.stop()


async def submit(resident: Any, box: Any, text: str, expect: Any) -> str:
    """我要反映 → text → shared location → no phone → confirm: the ticket's number."""
    log = resident.locator(".log")
    asked = (await log.inner_text()).count("请用文字描述")
    await resident.locator(".reply button", has_text=t("btn_report")).click()
    await grown(log, "请用文字描述", asked)
    asked = (await log.inner_text()).count("也可以选择所在镇街")
    await box.fill(text)
    await box.press("Enter")
    await grown(log, "也可以选择所在镇街", asked)
    await resident.locator("button[title='发送位置']").click()
    no_phone = resident.locator(".reply button", has_text=t("btn_no_phone"))
    await expect(no_phone).to_be_visible(timeout=15000)
    await no_phone.click()
    done = (await log.inner_text()).count("提交成功")
    await resident.locator(".kb button", has_text="确认提交").last.click(timeout=15000)
    await grown(log, "提交成功", done)
    return re.findall(r"MY\d{8}-\d{4}", await log.inner_text())[-1]


async def grown(log: Any, phrase: str, before: int) -> None:
    for _ in range(200):
        if (await log.inner_text()).count(phrase) > before:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{phrase!r} did not appear")
