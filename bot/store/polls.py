"""When to look at each Ark task next, and work to redo later (retries with backoff).

    {p}:polls   ZSET  rid -> time of the next look at its Ark task (the scheduler's tick
                      takes what is due, asks Ark about all of it at once, and plans again)
    {p}:later   ZSET  a stream entry (JSON) -> when to emit it (a step retried after a
                      transient failure); the tick moves due entries into their stream
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

import redis

from bot.store.jobs import JobKeys

# Move due entries of `later` into their streams, atomically (no entry is lost or doubled).
# KEYS: later; ARGV: now, limit, stream prefix allowed ("{p}:")
_MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, item in ipairs(due) do
  local entry = cjson.decode(item)
  local stream = entry['stream']
  if type(stream) == 'string' and string.sub(stream, 1, string.len(ARGV[3])) == ARGV[3] then
    local fields = {}
    for k, v in pairs(entry['fields']) do
      fields[#fields + 1] = k
      fields[#fields + 1] = v
    end
    redis.call('XADD', stream, '*', unpack(fields))
    moved = moved + 1
  end
  redis.call('ZREM', KEYS[1], item)
end
return moved
"""


class Polls:
    """The next-look schedule of Ark tasks and the delayed-work schedule."""

    def __init__(self, r: redis.Redis, keys: JobKeys) -> None:
        self.r = r
        self.keys = keys
        self._move_due = r.register_script(_MOVE_DUE)

    def plan(self, rid: str, at: float) -> None:
        """Look at `rid`'s task at `at` (replacing any earlier plan)."""
        self.r.zadd(self.keys.polls, {rid: at})

    def pull_forward(self, rid: str, at: float) -> None:
        """Look no later than `at` (a callback said the task changed); never postpones a look."""
        self.r.zadd(self.keys.polls, {rid: at}, lt=True)

    def planned(self, rid: str) -> float | None:
        score = self.r.zscore(self.keys.polls, rid)
        return float(score) if score is not None else None

    def due(self, now: float, limit: int) -> list[str]:
        return cast(list[str], self.r.zrangebyscore(self.keys.polls, "-inf", now, start=0, num=limit))

    def drop(self, rid: str) -> None:
        self.r.zrem(self.keys.polls, rid)

    def count(self) -> int:
        return int(self.r.zcard(self.keys.polls))

    # --- delayed work ---------------------------------------------------------------------
    def later(self, stream: str, fields: Mapping[str, str], at: float) -> None:
        """Emit `fields` on `stream` at `at` (one entry per distinct content)."""
        item = json.dumps({"stream": stream, "fields": dict(fields)}, sort_keys=True)
        self.r.zadd(self.keys.later, {item: at})

    def move_due(self, now: float, limit: int = 500) -> int:
        return int(cast(int, self._move_due(keys=[self.keys.later], args=[now, limit, f"{self.keys.ns}:"])))

    def later_count(self) -> int:
        return int(self.r.zcard(self.keys.later))
