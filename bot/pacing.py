"""Telegram's limits shared by every replica's outbox sender, through Redis.

Each sender paces itself (bot.sender); with several replicas that is not enough: two
senders could each send to one chat within the same second, or together exceed the bot's
overall rate. With Redis configured a sender asks before each message: one atomic script
takes the chat's slot (`per_chat_seconds`) and a place in the current second's budget
(`max_per_second`, then the total of all replicas), or says how long to wait.
"""

from __future__ import annotations

from typing import Any

_RESERVE_LUA = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then return ttl end
local t = redis.call('TIME')
local second = KEYS[2] .. ':' .. t[1]
local n = redis.call('INCR', second)
if n == 1 then redis.call('PEXPIRE', second, 2000) end
if n > tonumber(ARGV[2]) then return 1000 - math.floor(tonumber(t[2]) / 1000) end
if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
"""


class RedisPacer:
    def __init__(self, redis: Any, per_chat_seconds: float, max_per_second: float,
                 prefix: str = "minyi") -> None:
        self.per_chat_ms = int(per_chat_seconds * 1000)
        self.max_per_second = max(1, int(max_per_second))
        self.prefix = prefix
        self.script = redis.register_script(_RESERVE_LUA)

    async def reserve(self, chat_id: int) -> float:
        """0 if this sender may send to `chat_id` now (the slot is taken), else the seconds
        to wait before asking again."""
        wait_ms = await self.script(keys=[f"{self.prefix}:chat:{chat_id}",
                                          f"{self.prefix}:sends"],
                                    args=[self.per_chat_ms, self.max_per_second])
        return int(wait_ms) / 1000
