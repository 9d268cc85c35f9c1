"""Message understanding: Feishu event dicts → `IncomingMessage` → a command, a reply or nothing.

Rule: this package does no I/O (no network, Redis, environment, clock or Flask) and imports
neither `handlers` nor `bot.engine`; every function is pure.

    msg = parse_message_event(body, bot_open_id=bot_id)        # events.py
    result = parse_command(msg, bot_open_id=bot_id)             # parser.py
    # result is Ignore | Reply | VideoCommand | StatusCommand | ...

Every command is declared once in the registry (`registry.commands`, filled from the family
modules `video`, `jobs`, `info`, `settings`, `account`, `help`); see `parser` for the map.
"""

from __future__ import annotations

from bot.parsing.account import QuotaCommand
from bot.parsing.events import (
    Attachment,
    CardAction,
    IncomingMessage,
    Mention,
    content_attachments,
    parse_card_action,
    parse_message_event,
)
from bot.parsing.help import HelpCommand, commands_table, help_data, help_text
from bot.parsing.info import ModelsCommand
from bot.parsing.jobs import (
    APPROVE_RESOLUTIONS,
    ApproveCommand,
    CancelCommand,
    ExtendCommand,
    ListCommand,
    StatusCommand,
)
from bot.parsing.options import FLAGS, FlagDef
from bot.parsing.parser import parse_command, render_reply
from bot.parsing.registry import CommandSpec, Invocation
from bot.parsing.registry import commands as COMMANDS
from bot.parsing.results import Command, Ignore, ParseResult, PlainCommand, Reply
from bot.parsing.settings import SettingsCommand, coerce_defaults
from bot.parsing.video import (
    VideoCommand,
    file_source,
    image_source,
    parse_file_source,
    parse_image_source,
    with_images,
)

__all__ = [
    "APPROVE_RESOLUTIONS",
    "COMMANDS",
    "FLAGS",
    "ApproveCommand",
    "Attachment",
    "CancelCommand",
    "CardAction",
    "Command",
    "CommandSpec",
    "ExtendCommand",
    "FlagDef",
    "HelpCommand",
    "Ignore",
    "IncomingMessage",
    "Invocation",
    "ListCommand",
    "Mention",
    "ModelsCommand",
    "ParseResult",
    "PlainCommand",
    "QuotaCommand",
    "Reply",
    "SettingsCommand",
    "StatusCommand",
    "VideoCommand",
    "coerce_defaults",
    "commands_table",
    "content_attachments",
    "file_source",
    "help_data",
    "help_text",
    "image_source",
    "parse_card_action",
    "parse_command",
    "parse_file_source",
    "parse_image_source",
    "parse_message_event",
    "render_reply",
    "with_images",
]
