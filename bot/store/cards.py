"""Card updates within Feishu's limits: a deployment-wide token bucket and a queue of cards to patch.

    {p}:cards:bucket  HASH  tokens, ts — one bucket for every process of the deployment
    {p}:cards:due     ZSET  rid -> when its card should be patched (finals scored first)
    {p}:cards:pause   STRING set after a 429, for as long as Feishu said (x-ogw-ratelimit-reset)

Feishu allows an app 50 messages a second (1000 a minute) and a message 5 patches a second
(feishu-api.md §5); the bucket keeps card patches well below that, leaves a reserve only
final states (done, failed, cancelled) may use, and a card that can't be patched now waits
in the queue instead of being dropped.
"""

from __future__ import annotations

from typing import cast

import redis

from bot.store.keys import Keys

FINAL_SCORE = -1.0  # finals sort before everything that is merely due

# KEYS: bucket; ARGV: rate per second, burst, now, reserve, final ('1'/'0'). Returns 1 if a token was taken.
_TAKE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reserve = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or burst
local ts = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local floor = 1
if ARGV[5] ~= '1' then floor = 1 + reserve end
local ok = 0
if tokens >= floor then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], 3600)
return ok
"""

# KEYS: due; ARGV: now, limit. Pop what is due (finals first).
_POP_DUE = """
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, rid in ipairs(items) do redis.call('ZREM', KEYS[1], rid) end
return items
"""


class CardUpdates:
    def __init__(self, r: redis.Redis, keys: Keys, *, rate: float) -> None:
        self.r = r
        self.keys = keys
        self.rate = max(rate, 0.1)
        self.burst = max(2.0, 2 * self.rate)
        self.reserve = self.burst / 4
        self._take = r.register_script(_TAKE)
        self._pop = r.register_script(_POP_DUE)

    def take_token(self, *, final: bool, now: float) -> bool:
        """A token to patch one card now; finals may dip into the reserve. False while paused."""
        if self.paused():
            return False
        return bool(self._take(keys=[self.keys.card_bucket], args=[self.rate, self.burst, now, self.reserve,
                                                                   "1" if final else "0"]))

    def later(self, rid: str, at: float, *, final: bool) -> None:
        """Patch `rid`'s card at `at` (finals: as soon as a token allows). Never postpones a final."""
        if final:
            self.r.zadd(self.keys.card_due, {rid: FINAL_SCORE})
        else:
            self.r.zadd(self.keys.card_due, {rid: at}, nx=True)

    def due(self, now: float, limit: int) -> list[str]:
        return cast(list[str], self._pop(keys=[self.keys.card_due], args=[now, limit]))

    def next_due(self, now: float) -> tuple[str, bool] | None:
        """The card first in line if it is due, without taking it: (rid, final)."""
        head = cast(list[tuple[str, float]], self.r.zrange(self.keys.card_due, 0, 0, withscores=True))
        if not head or head[0][1] > now:
            return None
        return head[0][0], head[0][1] == FINAL_SCORE

    def take(self, rid: str) -> bool:
        """Take `rid` off the queue; False if another process took it first."""
        return bool(self.r.zrem(self.keys.card_due, rid))

    def waiting(self) -> int:
        return int(self.r.zcard(self.keys.card_due))

    def pause(self, seconds: float) -> None:
        """Feishu said 429: no card patches for `seconds` (its x-ogw-ratelimit-reset)."""
        self.r.set(self.keys.card_pause, "1", px=max(int(seconds * 1000), 100))

    def paused(self) -> bool:
        return bool(self.r.exists(self.keys.card_pause))
