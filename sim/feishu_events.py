"""Pure helpers of the Feishu simulator: ids, crypto, event/callback bodies, message content.

Kept free of I/O and of simulator state so each wire format (feishu-api.md §1, §2, §4) can be
read and checked in one place. Everything here follows the reference document; the few shapes it
marks as inferred are noted where they are built.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from Crypto.Cipher import AES

JSON = dict[str, Any]

#: msg_type values accepted by send/reply (§5.3).
MSG_TYPES = frozenset(
    {"text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat", "share_user"}
)
#: file_type values of POST /im/v1/files (§5.5).
FILE_TYPES = frozenset({"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"})
#: locales a sent post may be wrapped in.
POST_LOCALES = ("zh_cn", "en_us", "ja_jp", "zh_hk", "zh_tw")

#: The case-sensitive emoji_type keys Feishu accepts for reactions (the 185 keys listed by
#: larksuite/cli's lark-im-reactions reference, quoted in feishu-api.md §5.8).
EMOJI_TYPES = frozenset(
    """OK THUMBSUP THANKS MUSCLE FINGERHEART APPLAUSE FISTBUMP JIAYI DONE SMILE BLUSH LAUGH SMIRK LOL
    FACEPALM LOVE WINK PROUD WITTY SMART SCOWL THINKING SOB CRY ERROR NOSEPICK HAUGHTY SLAP SPITBLOOD
    TOASTED GLANCE DULL INNOCENTSMILE JOYFUL WOW TRICK YEAH ENOUGH TEARS EMBARRASSED KISS SMOOCH DROOL
    OBSESSED MONEY TEASE SHOWOFF COMFORT CLAP PRAISE STRIVE XBLUSH SILENT WAVE WHAT FROWN SHY DIZZY
    LOOKDOWN CHUCKLE WAIL CRAZY WHIMPER HUG BLUBBER WRONGED HUSKY SHHH SMUG ANGRY HAMMER SHOCKED TERROR
    PETRIFIED SKULL SWEAT SPEECHLESS SLEEP DROWSY YAWN SICK PUKE BETRAYED HEADSET EatingFood MeMeMe Sigh
    Typing Lemon Get LGTM OnIt OneSecond VRHeadset YouAreTheBest SALUTE SHAKE HIGHFIVE UPPERLEFT ThumbsDown
    SLIGHT TONGUE EYESCLOSED RoarForYou CALF BEAR BULL RAINBOWPUKE ROSE HEART PARTY LIPS BEER CAKE GIFT
    CUCUMBER Drumstick Pepper CANDIEDHAWS BubbleTea Coffee Yes No OKR CheckMark CrossMark MinusOne Hundred
    AWESOMEN Pin Alarm Loudspeaker Trophy Fire BOMB Music XmasTree Snowman XmasHat FIREWORKS 2022
    REDPACKET FORTUNE LUCK FIRECRACKER StickyRiceBalls HEARTBROKEN POOP StatusFlashOfInspiration 18X
    CLEAVER Soccer Basketball GeneralDoNotDisturb Status_PrivateMessage GeneralInMeetingBusy StatusReading
    StatusInFlight GeneralBusinessTrip GeneralWorkFromHome StatusEnjoyLife GeneralTravellingCar StatusBus
    GeneralSun GeneralMoonRest MoonRabbit Mooncake JubilantRabbit TV Movie Pumpkin BeamingFace Delighted
    ColdSweat FullMoonFace Partying GoGoGo ThanksFace SaluteFace Shrug ClownFace HappyDragon""".split()  # noqa: SIM905
)


# --- ids ------------------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Compact JSON, as Feishu writes content strings and event bodies."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def now_ms() -> int:
    return int(time.time() * 1000)


def new_event_id() -> str:
    """32 lowercase hex chars, like Feishu's header.event_id."""
    return uuid.uuid4().hex


def new_message_id() -> str:
    return "om_" + secrets.token_hex(16)


def new_thread_id() -> str:
    return "omt_" + secrets.token_hex(7)


def new_image_key() -> str:
    return f"img_v3_02{secrets.token_hex(2)}_{uuid.uuid4()}g"


def new_file_key() -> str:
    return f"file_v3_00{secrets.token_hex(2)}_{uuid.uuid4()}g"


def new_tenant_token() -> str:
    return "t-" + secrets.token_hex(20)


def new_card_token() -> str:
    """The card delayed-update token carried in card.action.trigger (`c-` + 40 hex)."""
    return "c-" + secrets.token_hex(20)


def new_reaction_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")


def new_log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(12).upper()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def union_id_for(open_id: str) -> str:
    """A stable union_id per open_id, so repeated messages from one user look consistent."""
    return "on_" + _digest("union", open_id)[:32]


def user_id_for(open_id: str) -> str:
    return _digest("user", open_id)[:8]


def p2p_chat_id(user_key: str) -> str:
    """The bot's one-to-one chat with a user: stable per user so events and replies agree."""
    return "oc_" + _digest("p2p", user_key)[:32]


# --- crypto (§2.1, §2.2) ----------------------------------------------------------------------------


def encrypt(plaintext: str, encrypt_key: str) -> str:
    """AES-256-CBC, key = sha256(encrypt_key), random IV prepended, PKCS7, base64 (§2.1)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    iv = os.urandom(16)
    data = plaintext.encode()
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    return base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(data)).decode()


def decrypt(blob_b64: str, encrypt_key: str) -> str:
    """Inverse of `encrypt` (tests use it to look inside what the simulator pushed)."""
    key = hashlib.sha256(encrypt_key.encode()).digest()
    blob = base64.b64decode(blob_b64)
    plain = AES.new(key, AES.MODE_CBC, blob[:16]).decrypt(blob[16:])
    return plain[: -plain[-1]].decode()


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """X-Lark-Signature = hex(sha256(utf8(timestamp + nonce + encrypt_key) || raw body)) (§2.2)."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def wire_body(
    payload: Mapping[str, Any], *, encrypt_key: str, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers Feishu would POST: encrypted and signed when an Encrypt Key is set.

    Without an Encrypt Key Feishu sends plaintext and no signature headers (§2.2: the signature
    only exists when a key is configured).
    """
    text = dumps(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Go-http-client/1.1"}
    if not encrypt_key:
        return text.encode(), headers
    body = dumps({"encrypt": encrypt(text, encrypt_key)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(8)
    headers.update(
        {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": signature(ts, nonce, encrypt_key, body),
        }
    )
    return body, headers


# --- envelopes (§1.1, §1.2, §4.1) ---------------------------------------------------------------------


def event_header(
    event_type: str, *, event_id: str, token: str, app_id: str, tenant_key: str, create_time_ms: int
) -> JSON:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "create_time": str(create_time_ms),
        "token": token,
        "app_id": app_id,
        "tenant_key": tenant_key,
    }


def url_verification(challenge: str, token: str) -> JSON:
    return {"challenge": challenge, "token": token, "type": "url_verification"}


def user_ids(user: Mapping[str, Any]) -> JSON:
    open_id = str(user["open_id"])
    return {
        "union_id": str(user.get("union_id") or union_id_for(open_id)),
        "user_id": str(user.get("user_id") or user_id_for(open_id)),
        "open_id": open_id,
    }


def message_receive_event(header: JSON, *, sender: Mapping[str, Any], tenant_key: str, message: JSON) -> JSON:
    """Schema-2.0 `im.message.receive_v1` (§1.2, §1.3)."""
    return {
        "schema": "2.0",
        "header": header,
        "event": {
            "sender": {"sender_id": user_ids(sender), "sender_type": "user", "tenant_key": tenant_key},
            "message": message,
        },
    }


def card_action_event(
    header: JSON,
    *,
    operator: Mapping[str, Any],
    tenant_key: str,
    action: JSON,
    message_id: str,
    chat_id: str,
    card_token: str,
) -> JSON:
    """Schema-2.0 `card.action.trigger` callback (§4.1)."""
    return {
        "schema": "2.0",
        "header": header,
        "event": {
            "operator": {"tenant_key": tenant_key, **user_ids(operator)},
            "token": card_token,
            "action": action,
            "host": "im_message",
            "delivery_type": "",
            "context": {
                "open_message_id": message_id,
                "open_chat_id": chat_id,
                "url": "",
                "preview_token": "",
            },
        },
    }


# --- message content (§1.4, §5.4) -----------------------------------------------------------------------


def text_paragraphs(text: str) -> list[str]:
    return text.split("\n")


def build_post(
    text: str | None,
    images: Sequence[Mapping[str, Any]],
    *,
    ats: Sequence[tuple[str, str]] = (),
    images_first: bool = False,
    media: Sequence[Mapping[str, Any]] = (),
) -> JSON:
    """Un-localised received post: text paragraphs (the first starting with the `at` elements),
    one `img` paragraph per image and one `media` paragraph per video (`{file_key, image_key}`).

    `ats` are (mention key, display name) pairs; the bot's is `("@_user_1", "VideoBot")` (§1.4).
    Image and video elements are always their own paragraph, as the send-side rule requires.
    """
    text_rows: list[list[JSON]] = []
    lines = text_paragraphs(text) if text else []
    for i, line in enumerate(lines or ([""] if ats else [])):
        row: list[JSON] = []
        if i == 0 and ats:
            row.extend({"tag": "at", "user_id": key, "user_name": name} for key, name in ats)
            line = " " + line if line else line
        if line:
            row.append({"tag": "text", "text": line})
        text_rows.append(row)
    img_rows: list[list[JSON]] = [
        [{"tag": "img", "image_key": im["image_key"], "width": im["width"], "height": im["height"]}]
        for im in images
    ]
    img_rows += [[{"tag": "media", "file_key": v["file_key"], "image_key": v["image_key"]}] for v in media]
    rows = img_rows + text_rows if images_first else text_rows + img_rows
    return {"title": "", "content": rows}


def wrap_post(post: JSON, form: str) -> JSON:
    """The three post shapes a robust parser must accept (§1.4): direct, {zh_cn:…}, {post:{zh_cn:…}}."""
    if form == "direct":
        return post
    if form == "zh_cn":
        return {"zh_cn": post}
    if form == "post":
        return {"post": {"zh_cn": post}}
    raise ValueError(f"post_form must be direct, zh_cn or post, not {form!r}")


def unwrap_post(content: Any) -> JSON | None:
    """The `{title, content}` body of a post in any of the three shapes, or None."""
    if not isinstance(content, dict):
        return None
    if isinstance(content.get("content"), list):
        return content
    inner = content.get("post")
    if isinstance(inner, dict):
        return unwrap_post(inner)
    for loc in (*POST_LOCALES, *content.keys()):
        body = content.get(loc)
        if isinstance(body, dict) and isinstance(body.get("content"), list):
            return body
    return None


def post_elements(content: Any) -> Iterator[JSON]:
    body = unwrap_post(content)
    if body is None:
        return
    for row in body.get("content") or []:
        if isinstance(row, list):
            for el in row:
                if isinstance(el, dict):
                    yield el


def resource_keys(msg_type: str, content: Any) -> dict[str, set[str]]:
    """Which keys a message owns, by resource type (`image`/`file`), for resource downloads (§5.7)."""
    images: set[str] = set()
    files: set[str] = set()
    if not isinstance(content, dict):
        return {"image": images, "file": files}
    if msg_type == "image" and content.get("image_key"):
        images.add(str(content["image_key"]))
    elif msg_type in ("file", "audio", "media"):
        if content.get("file_key"):
            files.add(str(content["file_key"]))
        if msg_type == "media" and content.get("image_key"):
            images.add(str(content["image_key"]))
    elif msg_type == "post":
        for el in post_elements(content):
            if el.get("tag") == "img" and el.get("image_key"):
                images.add(str(el["image_key"]))
            elif el.get("tag") == "media":
                if el.get("file_key"):
                    files.add(str(el["file_key"]))
                if el.get("image_key"):
                    images.add(str(el["image_key"]))
    return {"image": images, "file": files}


def plain_text(msg_type: str, content: Any) -> str | None:
    """A readable rendering of text and post messages (for assertions and the CLI), else None."""
    if not isinstance(content, dict):
        return None
    if msg_type == "text":
        return str(content.get("text", ""))
    if msg_type == "post":
        rows: list[str] = []
        body = unwrap_post(content) or {}
        for row in body.get("content") or []:
            parts = []
            for el in row if isinstance(row, list) else []:
                tag = el.get("tag") if isinstance(el, dict) else None
                if tag in ("text", "a", "md", "code_block"):
                    parts.append(str(el.get("text", "")))
                elif tag == "at":
                    parts.append("@" + str(el.get("user_name") or el.get("user_id", "")))
            rows.append("".join(parts))
        title = str(body.get("title") or "")
        return "\n".join([title, *rows] if title else rows)
    return None


_AT_TAG = re.compile(r"<at\s+(?:user_id|id)\s*=\s*\"?([^\">\s]+)\"?\s*>(.*?)</at>", re.S)


def received_form(
    msg_type: str, content: Any, tenant_key: str, names: Mapping[str, str]
) -> tuple[Any, list[JSON]]:
    """What a bot-sent message looks like when read back: `<at>` tags become `@_user_N` plus
    API-style mentions (string id + id_type, §1.3), and posts lose their locale wrapper."""
    mentions: list[JSON] = []

    def mention(open_id: str, name: str) -> str:
        key = f"@_user_{len(mentions) + 1}"
        mentions.append(
            {
                "key": key,
                "id": open_id,
                "id_type": "open_id",
                "name": name or names.get(open_id, ""),
                "tenant_key": tenant_key,
            }
        )
        return key

    if msg_type == "text" and isinstance(content, dict) and isinstance(content.get("text"), str):
        text = _AT_TAG.sub(lambda m: mention(m.group(1), m.group(2)), content["text"])
        return {**content, "text": text}, mentions
    if msg_type == "post":
        body = unwrap_post(content)
        if body is None:
            return content, mentions
        rows = []
        for row in body.get("content") or []:
            new_row = []
            for el in row if isinstance(row, list) else []:
                if (
                    isinstance(el, dict)
                    and el.get("tag") == "at"
                    and str(el.get("user_id", "")).startswith("ou_")
                ):
                    name = str(el.get("user_name") or names.get(str(el["user_id"]), ""))
                    el = {"tag": "at", "user_id": mention(str(el["user_id"]), name), "user_name": name}
                new_row.append(el)
            rows.append(new_row)
        return {"title": body.get("title", ""), "content": rows}, mentions
    return content, mentions


# --- cards (§4.3, §4.4) ----------------------------------------------------------------------------------


def iter_buttons(node: Any, *, in_form: JSON | None = None) -> Iterator[tuple[JSON, JSON | None]]:
    """Every button of a card in document order, with the enclosing `form` container if any.

    Walks Card JSON 2.0 (`body.elements`, nested column_set/columns/elements, collapsible panels,
    forms) and 1.0 (`elements`, `action.actions`) alike.
    """
    if isinstance(node, list):
        for item in node:
            yield from iter_buttons(item, in_form=in_form)
        return
    if not isinstance(node, dict):
        return
    if node.get("tag") == "button":
        yield node, in_form
        return
    form = node if node.get("tag") == "form" else in_form
    for key in ("body", "elements", "columns", "actions", "extra"):
        if key in node:
            yield from iter_buttons(node[key], in_form=form)
    if isinstance(node.get("i18n_elements"), dict):  # 1.0 localised cards: the first locale
        yield from iter_buttons(next(iter(node["i18n_elements"].values()), []), in_form=form)


def button_text(button: Mapping[str, Any]) -> str:
    text = button.get("text")
    if isinstance(text, dict):
        return str(text.get("content", ""))
    return str(text or "")


def button_callback_value(button: Mapping[str, Any]) -> tuple[bool, Any]:
    """(has a callback, value): 2.0 `behaviors[type=callback].value`, else 1.0 `value`."""
    behaviors = button.get("behaviors")
    if isinstance(behaviors, list):
        for b in behaviors:
            if isinstance(b, dict) and b.get("type") == "callback":
                return True, b.get("value", {})
        if any(isinstance(b, dict) and b.get("type") == "form_action" for b in behaviors):
            return True, {}
        return False, None
    if "value" in button:
        return True, button["value"]
    if button.get("form_action_type") in ("submit", "reset") or button.get("action_type") == "form_submit":
        return True, {}
    return False, None


def form_defaults(form: Mapping[str, Any]) -> JSON:
    """Default values of a form's named inputs: what a user who changes nothing submits."""
    values: JSON = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            name = node.get("name")
            if name and node.get("tag") not in ("button", "form") and "default_value" in node:
                values[str(name)] = node["default_value"]
            elif name and node.get("tag") in ("select_static", "select_person") and "initial_option" in node:
                values[str(name)] = node["initial_option"]
            for key in ("elements", "columns"):
                if key in node:
                    walk(node[key])

    walk(form.get("elements"))
    return values


def find_button(card: Any, selector: Any) -> tuple[JSON, JSON | None]:
    """The button a user clicks: by index, by its label, or by a subset of its callback value."""
    buttons = list(iter_buttons(card))
    if not buttons:
        raise LookupError("the card has no buttons")
    if isinstance(selector, bool):
        raise LookupError("button selector must be an index, a label or a value dict")
    if isinstance(selector, int):
        if -len(buttons) <= selector < len(buttons):
            return buttons[selector]
        raise LookupError(f"button index {selector} out of range (the card has {len(buttons)})")
    if isinstance(selector, str):
        for b in buttons:
            if button_text(b[0]) == selector:
                return b
        for b in buttons:
            if button_text(b[0]).strip().casefold() == selector.strip().casefold():
                return b
        labels = [button_text(b[0]) for b in buttons]
        raise LookupError(f"no button labelled {selector!r}; labels: {labels}")
    if isinstance(selector, dict):
        for b in buttons:
            _, value = button_callback_value(b[0])
            if isinstance(value, dict) and all(value.get(k) == v for k, v in selector.items()):
                return b
        raise LookupError(f"no button whose value contains {selector!r}")
    raise LookupError("button selector must be an index, a label or a value dict")


def card_update_multi(card: Any) -> bool:
    """Whether a card is shared (`config.update_multi`), which PATCH requires (§4.5).

    Card JSON 2.0 defaults it to true; 1.0 defaults to false. A template card cannot be inspected
    here and is treated as shared.
    """
    if not isinstance(card, dict):
        return False
    if card.get("type") == "template":
        return True
    raw_config = card.get("config")
    config: JSON = raw_config if isinstance(raw_config, dict) else {}
    if str(card.get("schema", "")) == "2.0":
        return config.get("update_multi", True) is True
    return config.get("update_multi", False) is True


def card_problem(card: Any) -> str | None:
    """Why Feishu would refuse a card body, or None. Checks only documented structural rules."""
    if not isinstance(card, dict):
        return "card content must be a JSON object"
    if card.get("type") == "template":
        data = card.get("data")
        if not isinstance(data, dict) or not data.get("template_id"):
            return "template card needs data.template_id"
        return None
    if str(card.get("schema", "")) == "2.0":
        if "elements" in card:
            return "schema 2.0 card: components belong in body.elements, not top-level elements"
        body = card.get("body", {})
        if not isinstance(body, dict) or not isinstance(body.get("elements", []), list):
            return "schema 2.0 card: body.elements must be a list"
        config = card.get("config", {})
        if isinstance(config, dict) and config.get("update_multi", True) is not True:
            return "schema 2.0 card: config.update_multi only supports true"
        if any(True for _ in _tags(body, "action")):
            return "schema 2.0 card: the 1.0 'action' module is not supported"
        return None
    if "elements" in card and not isinstance(card["elements"], list):
        return "card elements must be a list"
    if "i18n_elements" not in card and "elements" not in card and "header" not in card:
        return "card has no elements"
    return None


def _tags(node: Any, tag: str) -> Iterator[JSON]:
    if isinstance(node, list):
        for n in node:
            yield from _tags(n, tag)
    elif isinstance(node, dict):
        if node.get("tag") == tag:
            yield node
        for v in node.values():
            if isinstance(v, (list, dict)):
                yield from _tags(v, tag)
