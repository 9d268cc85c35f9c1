"""The suites' local deployment: `sim.stack.LocalStack`, as the end-to-end tests run it.

Every part is a separate process started through the real console script (`seedance-bot sim
ark`, `seedance-bot sim feishu`, and the bot: `serve`, or `web` + `worker` + `scheduler`), all
sharing one real redis-server (`redis_url`). What differs from a plain `LocalStack`: no per-user
daily budget, since the suites make many videos per user (the default budget has its own tests
in `e2e/test_spend.py`, which lift this with `bot_env_unset`), and the suites' own group chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sim.stack import (
    APP_ID,
    APP_SECRET,
    ARK_KEY,
    ENCRYPT_KEY,
    VERIFICATION_TOKEN,
    LocalStack,
    RedisServer,
    StackError,
    free_port,
    wait_until,
)


@dataclass
class Stack(LocalStack):
    bot_defaults: dict[str, str] = field(default_factory=lambda: {"BOT_USER_DAILY_SECONDS": "0"})
    chat_id: str = "oc_e2e_group"  # where send() posts unless told otherwise


__all__ = ["APP_ID", "APP_SECRET", "ARK_KEY", "ENCRYPT_KEY", "VERIFICATION_TOKEN", "RedisServer", "Stack",
           "StackError", "free_port", "wait_until"]
