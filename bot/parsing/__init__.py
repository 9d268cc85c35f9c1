"""Message understanding: Feishu event dicts → `IncomingMessage` → a command, a reply or nothing.

Rule: this package does no I/O (no network, Redis, environment, clock or Flask); every function is pure.

    msg = parse_message_event(body, bot_open_id=bot_id)        # events.py
    result = parse_command(msg, bot_open_id=bot_id)             # commands.py
    # result is Ignore | Reply | VideoCommand | StatusCommand | ...
"""

from __future__ import annotations

from bot.parsing.commands import (
    COMMANDS,
    FLAGS,
    ApproveCommand,
    CancelCommand,
    Command,
    CommandDef,
    ExtendCommand,
    FlagDef,
    HelpCommand,
    Ignore,
    ListCommand,
    ModelsCommand,
    ParseResult,
    QuotaCommand,
    Reply,
    SettingsCommand,
    StatusCommand,
    VideoCommand,
    coerce_defaults,
    help_data,
    help_text,
    image_source,
    parse_command,
    parse_image_source,
    render_reply,
    with_images,
)
from bot.parsing.events import CardAction, IncomingMessage, Mention, parse_card_action, parse_message_event

__all__ = [
    "COMMANDS",
    "FLAGS",
    "ApproveCommand",
    "CancelCommand",
    "CardAction",
    "Command",
    "CommandDef",
    "ExtendCommand",
    "FlagDef",
    "HelpCommand",
    "Ignore",
    "IncomingMessage",
    "ListCommand",
    "Mention",
    "ModelsCommand",
    "ParseResult",
    "QuotaCommand",
    "Reply",
    "SettingsCommand",
    "StatusCommand",
    "VideoCommand",
    "coerce_defaults",
    "help_data",
    "help_text",
    "image_source",
    "parse_card_action",
    "parse_command",
    "parse_image_source",
    "parse_message_event",
    "render_reply",
    "with_images",
]
