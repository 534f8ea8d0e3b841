import collections
import time

from services.texts import t
from tests.bench.load import DESCRIPTIONS, PLACES


async def test_steps(harness, engine) -> None:
    cpu = collections.defaultdict(float)
    n = 40
    for i in range(n + 5):
        u = harness.user(8400 + i)
        steps = [("start", u.say, "/start"), ("report", u.say, t("btn_report")),
                 ("text", u.say, DESCRIPTIONS[i % 4]), ("location", u.location, PLACES[i % 4]),
                 ("phone", u.say, t("btn_no_phone")), ("submit", u.press, "确认提交")]
        for name, fn, arg in steps:
            t0 = time.process_time()
            await (fn(*arg) if name == "location" else fn(arg))
            if i >= 5:
                cpu[name] += time.process_time() - t0
        assert "提交" in u.last.text
    for k, v in cpu.items():
        print(f"\n{k}: {v / n * 1000:.2f} ms")
