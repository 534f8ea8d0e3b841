import time

from services.texts import t


async def test_fixed(harness, engine) -> None:
    u = harness.user(8300)
    await u.say("/start")
    await u.press(t("btn_consent"))
    for label, text in (("help", "/help"), ("start", "/start"), ("menu my", t("btn_my"))):
        for _ in range(20):
            await u.say(text)
        t0 = time.process_time()
        for _ in range(300):
            await u.say(text)
        print(f"\n{label}: {(time.process_time() - t0) / 300 * 1000:.2f} ms CPU per update")
