"""The sandbox page in headless Chromium (Debian's package, driven by Playwright).

A resident submits a request in the first pane and sees the number; the grid worker's pane
then shows the assignment. The screenshot is kept in test-artifacts/sandbox.png.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from pathlib import Path

import pytest

from bot.sandbox import run_sandbox
from services.texts import t
from tests.conftest import ROOT

ARTIFACTS = ROOT / "test-artifacts"
LAMP = "泗河社区小区路灯坏了好几天，晚上出行很不方便"


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_sandbox_page_resident_then_grid_worker(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    executable = chromium()
    from playwright.async_api import async_playwright, expect

    monkeypatch.chdir(tmp_path)
    port = free_port()
    stop, ready = asyncio.Event(), asyncio.Event()
    server = asyncio.create_task(run_sandbox(port, tmp_path / "sandbox.db", stop, ready))
    await asyncio.wait_for(ready.wait(), 60)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=executable,
                                               args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1500, "height": 900})
            await page.goto(f"http://127.0.0.1:{port}/")
            resident, worker = page.locator(".pane").nth(0), page.locator(".pane").nth(1)
            await expect(resident.locator("select")).to_have_value("resident")
            await worker.locator("select").select_option("grid")
            box = resident.locator("input[type=text]")
            await box.fill("/start")
            await box.press("Enter")
            await resident.locator(".reply button", has_text=t("btn_report")).click()
            await expect(resident.locator(".log")).to_contain_text("请用文字描述", timeout=15000)
            await box.fill(LAMP)
            await box.press("Enter")
            await expect(resident.locator(".log")).to_contain_text("也可以选择所在镇街",
                                                                   timeout=15000)
            await resident.locator("button[title='发送位置']").click()
            await expect(resident.locator(".reply button",
                                          has_text=t("btn_no_phone"))).to_be_visible(
                timeout=15000)
            await resident.locator(".reply button", has_text=t("btn_no_phone")).click()
            await resident.locator(".kb button", has_text="确认提交").click(timeout=15000)
            await expect(resident.locator(".log")).to_contain_text("提交成功", timeout=15000)
            text = await resident.locator(".log").inner_text()
            number = re.search(r"MY\d{8}-\d{4}", text)
            assert number is not None
            await expect(worker.locator(".log")).to_contain_text(number.group(0),
                                                                 timeout=20000)
            await expect(worker.locator(".kb button", has_text="接单").first).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "sandbox.png"), full_page=True)
            await browser.close()
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
    assert (ARTIFACTS / "sandbox.png").stat().st_size > 10_000
