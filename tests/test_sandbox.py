"""The sandbox's JSON API without a browser: files with their type and name, alerts and
commands per chat, chats and the clock kept over a restart; and the report libraries
(matplotlib, openpyxl) not loaded until a report is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import ROOT
from tests.procs import free_port, until
from tests.test_browser import XLSX, Sandbox

DISPATCHER, RESIDENT = 10005, 10001


async def test_files_alerts_commands_and_restart(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path / "sandbox.db")
    await sandbox.start()
    base = f"http://127.0.0.1:{sandbox.port}"
    try:
        async with aiohttp.ClientSession(headers={"Origin": base}) as http:
            async def chat(user: int) -> dict[str, Any]:
                async with http.get(f"{base}/api/chat/{user}") as r:
                    return await r.json()

            async def say(user: int, text: str) -> None:
                async with http.post(f"{base}/api/send",
                                     json={"user_id": user, "text": text}) as r:
                    assert r.status == 200

            # Staff personas have their own "/" list from the start; residents the default.
            assert [c["command"] for c in (await chat(DISPATCHER))["commands"]][:3] == [
                "start", "triage", "callbacks"]
            assert "report" in [c["command"] for c in (await chat(RESIDENT))["commands"]]
            await say(DISPATCHER, "/stats export")
            async def dispatcher_got(kind: str) -> dict[str, Any] | None:
                data = await chat(DISPATCHER)
                return data if any(kind in m for m in data["messages"]) else None

            data = await until(lambda: dispatcher_got("document"), every=0.2)
            doc = next(m["document"] for m in data["messages"] if "document" in m)
            async with http.get(f"{base}/api/file/{doc['file_id']}") as r:
                assert r.headers["Content-Type"] == XLSX
                assert r.headers["Content-Disposition"] == (
                    f"attachment; filename*=UTF-8''{doc['file_name']}")
                assert (await r.read()).startswith(b"PK")
            await say(DISPATCHER, "/stats")
            data = await until(lambda: dispatcher_got("photo"), every=0.2)
            photo = next(m["photo"][-1] for m in data["messages"] if "photo" in m)
            async with http.get(f"{base}/api/file/{photo['file_id']}") as r:
                assert r.headers["Content-Type"] == "image/png"
                assert r.headers["Content-Disposition"].startswith("inline;")
            async with http.post(f"{base}/api/clock", json={"action": "workday"}) as r:
                moved = (await r.json())["now"]
            count = len((await chat(DISPATCHER))["messages"])
        await sandbox.stop()
        await sandbox.start()
        async with aiohttp.ClientSession(headers={"Origin": base}) as http:
            async with http.get(f"{base}/api/chat/{DISPATCHER}") as r:
                kept = await r.json()
            async with http.get(f"{base}/api/clock") as r:
                now = (await r.json())["now"]
            async with http.get(f"{base}/api/file/{doc['file_id']}") as r:
                assert r.status == 200 and r.headers["Content-Type"] == XLSX
        assert len(kept["messages"]) == count
        assert now >= moved  # the clock did not go back
        assert kept["commands"][1]["command"] == "triage"
    finally:
        await sandbox.stop()


def test_report_libraries_load_only_for_a_report(tmp_path: Path) -> None:
    """The sandbox process up to serving (bot built, org seeded) imports neither."""
    code = f"""
import asyncio, sys
from pathlib import Path
from bot.sandbox import run_sandbox

async def main():
    stop, ready = asyncio.Event(), asyncio.Event()
    db = Path({str(tmp_path / 'sb.db')!r})
    task = asyncio.create_task(run_sandbox({free_port()}, db, stop, ready))
    await asyncio.wait_for(ready.wait(), 60)
    loaded = sorted(m for m in ("matplotlib", "openpyxl", "numpy", "PIL") if m in sys.modules)
    stop.set(); await task
    print("LOADED", loaded)

asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={"PYTHONPATH": str(ROOT),
                                                      "PATH": "/usr/bin:/bin"})
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
