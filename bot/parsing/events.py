"""Feishu event bodies (decrypted, schema 2.0) → small typed values the rest of the bot can trust.

Why a layer of its own: Feishu's payloads are loose (content is a JSON *string*, posts come in
three shapes, mentions are `@_user_N` placeholders resolved through a side list, ids may be
missing). Everything downstream sees one `IncomingMessage` with the text already readable:
the bot's own @-mention removed, other mentions turned into `@Name`, images listed in order.
See shared/reference/feishu-api.md §1.3-§1.5 and §4.1. No I/O here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MESSAGE_EVENT = "im.message.receive_v1"
CARD_EVENT = "card.action.trigger"
# Locales tried, in order, when a post arrives wrapped as {"zh_cn": {...}, "en_us": {...}}.
POST_LOCALES = ("zh_cn", "en_us", "ja_jp", "zh_hk", "zh_tw")

_AT_TAG = re.compile(r"<at\s+(?:user_id|open_id|id)=\"?([^\">\s]*)\"?\s*>(.*?)</at>", re.S)


@dataclass(frozen=True)
class Mention:
    """One `message.mentions[]` entry: `key` is the placeholder used inside the content."""

    key: str
    open_id: str
    name: str
    mentioned_type: str = ""  # "user" | "bot" | "" (not always sent)


VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".opus", ".amr", ".flac")


@dataclass(frozen=True)
class Attachment:
    """A video, voice message or file of a message (feishu-api.md §1.4), as `--ref` can use it.

    `kind`: "video" (a `media` message, a post's `media` element, a `file` named *.mp4/*.mov),
    "audio" (an `audio` voice message, a `file` named *.mp3/*.wav/…) or "file" (anything else).
    Downloaded with `GET /im/v1/messages/:id/resources/:file_key?type=file` (§5.7).
    """

    kind: str
    file_key: str
    file_name: str = ""
    duration_ms: int = 0  # as Feishu states it; 0 = not stated

    @property
    def seconds(self) -> float | None:
        return self.duration_ms / 1000 if self.duration_ms > 0 else None


@dataclass(frozen=True)
class IncomingMessage:
    """One received chat message, normalised. `text` is what a person would read, minus the bot's @."""

    event_id: str
    message_id: str
    chat_id: str
    chat_type: str  # "p2p" | "group" (anything but "p2p" is treated as a group)
    sender_open_id: str
    sender_type: str  # "user" for people; "bot"/"app" for bots
    message_type: str  # text | post | image | file | audio | media | sticker | ...
    text: str = ""
    image_keys: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # videos, voice messages, files (in order)
    mentions_bot: bool = False
    thread_id: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    create_time: int = 0  # ms since the epoch, as Feishu stamped it
    mentions: tuple[Mention, ...] = ()
    tenant_key: str = ""

    @property
    def from_bot(self) -> bool:
        """Messages from bots (ours or others) are never commands: avoids bot-to-bot loops."""
        return self.sender_type != "user"

    @property
    def is_group(self) -> bool:
        return self.chat_type != "p2p"

    @property
    def is_reply(self) -> bool:
        return bool(self.parent_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for queues and logs); `from_dict` reverses it."""
        data = asdict(self)
        data["image_keys"] = list(self.image_keys)
        data["attachments"] = [asdict(a) for a in self.attachments]
        data["mentions"] = [asdict(m) for m in self.mentions]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IncomingMessage:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["image_keys"] = tuple(values.get("image_keys") or ())
        values["attachments"] = tuple(
            Attachment(**{k: v for k, v in a.items() if k in Attachment.__dataclass_fields__})
            for a in values.get("attachments") or () if isinstance(a, Mapping)
        )
        values["mentions"] = tuple(
            Mention(**{k: v for k, v in m.items() if k in Mention.__dataclass_fields__})
            for m in values.get("mentions") or ()
        )
        return cls(**values)


@dataclass(frozen=True)
class CardAction:
    """A click on one of our cards (`card.action.trigger`, or the legacy v1 body)."""

    event_id: str
    operator_open_id: str
    value: dict[str, Any] = field(default_factory=dict)
    open_message_id: str = ""
    open_chat_id: str = ""
    token: str = ""  # the card's delayed-update token (30 min, 2 uses), not the Verification Token
    tag: str = ""
    form_value: dict[str, Any] = field(default_factory=dict)
    input_value: str | None = None
    option: str | None = None
    create_time: int = 0

    @property
    def action(self) -> str:
        """`value["action"]` as a string (our cards always set it), or ""."""
        return str(self.value.get("action") or "")


# --- helpers ---------------------------------------------------------------------------------------


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _opt(value: Any) -> str | None:
    text = _s(value).strip()
    return text or None


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _load_content(raw: Any) -> Any:
    """`message.content` is a JSON string on the wire; simulators sometimes pass the object."""
    if isinstance(raw, dict | list):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return {}


def _mentions(raw: Any) -> tuple[Mention, ...]:
    out: list[Mention] = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict):
            continue
        ident = item.get("id")
        # Events carry an object of ids; API responses carry a string + id_type (§1.3).
        open_id = _s(ident.get("open_id")) if isinstance(ident, dict) else _s(ident)
        out.append(Mention(key=_s(item.get("key")), open_id=open_id, name=_s(item.get("name")),
                           mentioned_type=_s(item.get("mentioned_type"))))
    return tuple(out)


def _is_bot(m: Mention, bot_open_id: str) -> bool:
    """Ours by open_id; without a known open_id, any mention typed as a bot (best effort)."""
    if bot_open_id:
        return bool(m.open_id) and m.open_id == bot_open_id
    return m.mentioned_type == "bot"


class _Resolver:
    """Turns mention placeholders into display text: the bot's own → removed, others → @Name."""

    def __init__(self, mentions: tuple[Mention, ...], bot_open_id: str) -> None:
        self.by_key = {m.key: m for m in mentions if m.key}
        self.by_open_id = {m.open_id: m for m in mentions if m.open_id}
        self.bot_open_id = bot_open_id
        keys = sorted(self.by_key, key=len, reverse=True)
        alternatives = [re.escape(k) + r"(?![0-9A-Za-z_])" for k in keys] + [r"@_all\b", r"@_user_\d+"]
        self.pattern = re.compile("(" + "|".join(alternatives) + r")([ \u00a0\u3000]?)")

    def label(self, mention: Mention | None, fallback: str) -> str | None:
        """None for the bot itself (drop it), else the text to show."""
        if mention is not None:
            if _is_bot(mention, self.bot_open_id):
                return None
            return "@" + (mention.name or fallback.lstrip("@"))
        return fallback

    def text(self, raw: str) -> str:
        def at_tag(m: re.Match[str]) -> str:
            return self.at_element({"user_id": m.group(1), "user_name": m.group(2)})

        def placeholder(m: re.Match[str]) -> str:
            key, space = m.group(1), m.group(2)
            if key == "@_all" and key not in self.by_key:
                return "@all" + space
            shown = self.label(self.by_key.get(key), key)
            return "" if shown is None else shown + space

        return self.pattern.sub(placeholder, _AT_TAG.sub(at_tag, raw))

    def at_element(self, elem: Mapping[str, Any]) -> str:
        ident = _s(elem.get("user_id") or elem.get("open_id"))
        name = _s(elem.get("user_name") or elem.get("name"))
        if ident in ("all", "@_all"):
            return "@all"
        found = self.by_key.get(ident) or self.by_open_id.get(ident)
        if found is None and ident and ident == self.bot_open_id:
            return ""
        shown = self.label(found, "@" + (name or ident))
        return "" if shown is None else shown


def _unwrap_post(content: Any) -> dict[str, Any] | None:
    """Accept the three post shapes: direct, {"zh_cn": {...}}, {"post": {"zh_cn": {...}}}."""
    if not isinstance(content, dict):
        return None
    if "post" in content and isinstance(content["post"], dict):
        content = content["post"]
    if isinstance(content.get("content"), list):
        return content
    for loc in POST_LOCALES:
        inner = content.get(loc)
        if isinstance(inner, dict) and isinstance(inner.get("content"), list):
            return inner
    for inner in content.values():
        if isinstance(inner, dict) and isinstance(inner.get("content"), list):
            return inner
    return None


def _post_text(post: Mapping[str, Any], resolver: _Resolver) -> tuple[str, list[str]]:
    """Title + paragraphs joined by newlines, and the image keys in order of appearance."""
    images: list[str] = []
    lines: list[str] = []
    title = _s(post.get("title")).strip()
    if title:
        lines.append(title)
    for paragraph in post.get("content") or []:
        elems = paragraph if isinstance(paragraph, list) else [paragraph]
        parts: list[str] = []
        after_bot = False  # the space typed after the bot's @ goes with it
        for elem in elems:
            if not isinstance(elem, dict):
                continue
            tag = _s(elem.get("tag"))
            piece = ""
            if tag == "img":
                key = _s(elem.get("image_key"))
                if key:
                    images.append(key)
                continue
            elif tag == "at":
                piece = resolver.at_element(elem)
                if not piece:
                    after_bot = True
                    continue
            elif tag == "a":
                piece = _s(elem.get("text")) or _s(elem.get("href"))
            elif tag == "emotion":
                emoji = _s(elem.get("emoji_type"))
                piece = f"[{emoji}]" if emoji else ""
            elif tag in ("media", "hr"):
                continue  # a video or a rule: nothing a prompt can use
            elif tag in ("text", "md", "code_block") or "text" in elem:
                piece = resolver.text(_s(elem.get("text")))
            if after_bot and piece[:1] in (" ", "\u00a0", "\u3000"):
                piece = piece[1:]
            after_bot = False
            parts.append(piece)
        line = "".join(parts)
        if line.strip():
            lines.append(line)
    return "\n".join(lines), images


def _clean_join(text: str) -> str:
    """Trim the edges only: the user's own spacing inside the text is part of the prompt."""
    return text.strip()


def _file_kind(name: str) -> str:
    low = name.lower()
    if low.endswith(VIDEO_EXTENSIONS):
        return "video"
    if low.endswith(AUDIO_EXTENSIONS):
        return "audio"
    return "file"


def _post_media(post: Mapping[str, Any]) -> list[Attachment]:
    """The `media` elements (videos) of a post, in order."""
    out: list[Attachment] = []
    for paragraph in post.get("content") or []:
        for elem in paragraph if isinstance(paragraph, list) else [paragraph]:
            if isinstance(elem, dict) and _s(elem.get("tag")) == "media" and _s(elem.get("file_key")):
                out.append(Attachment("video", _s(elem.get("file_key")), _s(elem.get("file_name")),
                                      _int(elem.get("duration"))))
    return out


# --- public API ------------------------------------------------------------------------------------


def content_attachments(message_type: str, content: Any) -> list[Attachment]:
    """Videos, voice messages and files of a message's content (e.g. the parent of a reply).

    `media`: `{"file_key", "image_key" (cover), "file_name", "duration" (ms)}`; `audio`:
    `{"file_key", "duration"}`; `file`: `{"file_key", "file_name"}`; a `post` may hold `media`
    elements (feishu-api.md §1.4).
    """
    content = _load_content(content)
    body = _dict(content)
    key = _s(body.get("file_key"))
    if message_type == "media" and key:
        return [Attachment("video", key, _s(body.get("file_name")), _int(body.get("duration")))]
    if message_type == "audio" and key:
        return [Attachment("audio", key, _s(body.get("file_name")), _int(body.get("duration")))]
    if message_type == "file" and key:
        name = _s(body.get("file_name"))
        return [Attachment(_file_kind(name), key, name, _int(body.get("duration")))]
    if message_type == "post":
        post = _unwrap_post(content)
        if post is not None:
            return _post_media(post)
    return []



def content_image_keys(message_type: str, content: Any) -> list[str]:
    """Image keys of a message's content (an `image` message or a `post`), e.g. the parent of a reply."""
    content = _load_content(content)
    if message_type == "image":
        key = _s(_dict(content).get("image_key"))
        return [key] if key else []
    if message_type == "post":
        post = _unwrap_post(content)
        if post is not None:
            return _post_text(post, _Resolver((), ""))[1]
    return []


def parse_message_event(event: Mapping[str, Any], *, bot_open_id: str = "") -> IncomingMessage | None:
    """The message in an `im.message.receive_v1` body, or None if the body is anything else.

    `bot_open_id` (from GET /bot/v3/info) identifies our own @-mention; without it a mention
    whose `mentioned_type` is "bot" is taken to be ours. Unknown message types parse with empty
    text so the bot can answer with a hint rather than stay silent.
    """
    if not isinstance(event, Mapping):
        return None
    header = _dict(event.get("header"))
    event_type = _s(header.get("event_type"))
    if event_type and event_type != MESSAGE_EVENT:
        return None
    body = _dict(event.get("event"))
    message = _dict(body.get("message"))
    message_id = _s(message.get("message_id"))
    if not message_id:
        return None
    sender = _dict(body.get("sender"))
    sender_ids = _dict(sender.get("sender_id"))
    mentions = _mentions(message.get("mentions"))
    resolver = _Resolver(mentions, bot_open_id)
    message_type = _s(message.get("message_type") or message.get("msg_type"))
    content = _load_content(message.get("content"))

    text = ""
    images: list[str] = []
    attachments = content_attachments(message_type, content)
    if message_type == "text":
        text = resolver.text(_s(_dict(content).get("text")))
    elif message_type == "post":
        post = _unwrap_post(content)
        if post is not None:
            text, images = _post_text(post, resolver)
    elif message_type == "image":
        key = _s(_dict(content).get("image_key"))
        if key:
            images.append(key)

    return IncomingMessage(
        event_id=_s(header.get("event_id") or event.get("uuid")),
        message_id=message_id,
        chat_id=_s(message.get("chat_id")),
        chat_type=_s(message.get("chat_type")) or "p2p",
        sender_open_id=_s(sender_ids.get("open_id")),
        # Missing sender_type is not evidence of a bot; the documented value for people is "user".
        sender_type=_s(sender.get("sender_type")) or "user",
        message_type=message_type,
        text=_clean_join(text),
        image_keys=tuple(images),
        attachments=tuple(attachments),
        mentions_bot=any(_is_bot(m, bot_open_id) for m in mentions),
        thread_id=_opt(message.get("thread_id")),
        root_id=_opt(message.get("root_id")),
        parent_id=_opt(message.get("parent_id")),
        create_time=_int(message.get("create_time") or header.get("create_time")),
        mentions=mentions,
        tenant_key=_s(header.get("tenant_key") or sender.get("tenant_key")),
    )


def parse_card_action(event: Mapping[str, Any]) -> CardAction:
    """A card click from a `card.action.trigger` body (§4.1) or a legacy v1 body (§4.2).

    Missing fields come back empty rather than raising: the handler checks `value`/`action`.
    A string `action.value` that holds JSON is decoded; any other string becomes {"value": s}.
    """
    header = _dict(event.get("header")) if isinstance(event, Mapping) else {}
    body = _dict(event.get("event")) if isinstance(event, Mapping) and "event" in event else dict(event or {})
    operator = _dict(body.get("operator"))
    context = _dict(body.get("context"))
    action = _dict(body.get("action"))
    raw_value = action.get("value")
    value: dict[str, Any]
    if isinstance(raw_value, dict):
        value = dict(raw_value)
    elif isinstance(raw_value, str) and raw_value:
        try:
            decoded = json.loads(raw_value)
        except ValueError:
            decoded = None
        value = dict(decoded) if isinstance(decoded, dict) else {"value": raw_value}
    else:
        value = {}
    return CardAction(
        event_id=_s(header.get("event_id")),
        operator_open_id=_s(operator.get("open_id") or body.get("open_id")),
        value=value,
        open_message_id=_s(context.get("open_message_id") or body.get("open_message_id")),
        open_chat_id=_s(context.get("open_chat_id") or body.get("open_chat_id")),
        token=_s(body.get("token")),
        tag=_s(action.get("tag")),
        form_value=_dict(action.get("form_value")),
        input_value=_opt(action.get("input_value")),
        option=_opt(action.get("option")),
        create_time=_int(header.get("create_time")),
    )
