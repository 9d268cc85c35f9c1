"""Feishu inbound events built the way Feishu builds them, independently of the bot's code.

Shapes follow the documented examples (feishu-api.md §1.1-§1.4, §4.1); the
crypto follows §2.1-§2.2 and uses pycryptodome directly, so a bug in how the
bot verifies cannot be mirrored here. Every builder returns a plain dict;
`encrypt`, `sign` and `delivery` turn one into the bytes and headers of a
real push.

    body, headers = delivery(message_event(text="/video a cat"), key=KEY)
    requests.post(url, data=body, headers=headers)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from typing import Any

from Crypto.Cipher import AES

TOKEN = "test-verification-token"
ENCRYPT_KEY = "test-encrypt-key-123"
APP_ID = "cli_test_app"
TENANT = "2ca1d211f64f6438"
BOT_OPEN_ID = "ou_bot0000000000000000000000000000"
USER_OPEN_ID = "ou_84aad35d084aa403a838cf73ee18467"


def new_id(prefix: str = "") -> str:
    return prefix + uuid.uuid4().hex


def _now_ms() -> str:
    return str(int(time.time() * 1000))


def _header(event_type: str, event_id: str | None, token: str) -> dict[str, str]:
    return {
        "event_id": event_id or new_id(),
        "event_type": event_type,
        "create_time": _now_ms(),
        "token": token,
        "app_id": APP_ID,
        "tenant_key": TENANT,
    }


def sender_user(open_id: str = USER_OPEN_ID, sender_type: str = "user") -> dict[str, Any]:
    """`event.sender` as documented; `sender_type="bot"` (or "app") for a bot's own message."""
    return {
        "sender_id": {"open_id": open_id, "union_id": "on_" + open_id[3:], "user_id": "e33ggbyz"},
        "sender_type": sender_type,
        "tenant_key": TENANT,
    }


def mention_bot(key: str = "@_user_1", open_id: str = BOT_OPEN_ID, name: str = "VideoBot") -> dict[str, Any]:
    """One `message.mentions[]` entry; in events `id` is an object of ids (§1.3)."""
    return {"key": key, "id": {"open_id": open_id, "union_id": "on_bot", "user_id": ""},
            "mentioned_type": "bot", "name": name, "tenant_key": TENANT}


def _receive_event(
    message_type: str, content: dict[str, Any], *, chat_type: str, mentions: list[dict[str, Any]] | None,
    event_id: str | None, message_id: str | None, sender: dict[str, Any] | None, chat_id: str,
    token: str, extra_message_fields: dict[str, Any] | None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id or new_id("om_"),
        "create_time": _now_ms(),
        "update_time": _now_ms(),
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_type": message_type,
        "content": json.dumps(content, ensure_ascii=False),  # a JSON *string*, as Feishu sends it
        "user_agent": "Mozilla/5.0 (Macintosh) Lark/7.30.0",
    }
    if mentions:
        message["mentions"] = mentions
    message.update(extra_message_fields or {})
    return {
        "schema": "2.0",
        "header": _header("im.message.receive_v1", event_id, token),
        "event": {"sender": sender or sender_user(), "message": message},
    }


def message_event(
    text: str = "@_user_1 /video a kitten yawning",
    *,
    chat_type: str = "group",
    mentions: list[dict[str, Any]] | None = None,
    event_id: str | None = None,
    message_id: str | None = None,
    sender: dict[str, Any] | None = None,
    chat_id: str = "oc_5ce6d572455d361153b7xx51da133945",
    token: str = TOKEN,
    extra_message_fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A text `im.message.receive_v1`; in a group it @-mentions the bot unless `mentions` says otherwise."""
    if mentions is None and chat_type == "group" and "@_user_1" in text:
        mentions = [mention_bot()]
    return _receive_event("text", {"text": text}, chat_type=chat_type, mentions=mentions,
                          event_id=event_id, message_id=message_id, sender=sender, chat_id=chat_id,
                          token=token, extra_message_fields=extra_message_fields)


def post_event(
    text: str = " /video make it dance",
    image_keys: tuple[str, ...] = ("img_v3_02ab_test",),
    *,
    title: str = "",
    chat_type: str = "group",
    mention: bool = True,
    event_id: str | None = None,
    message_id: str | None = None,
    sender: dict[str, Any] | None = None,
    chat_id: str = "oc_5ce6d572455d361153b7xx51da133945",
    token: str = TOKEN,
) -> dict[str, Any]:
    """A "photo with caption": `message_type="post"`, un-localised, one paragraph per image (§1.4)."""
    first: list[dict[str, Any]] = []
    if mention:
        first.append({"tag": "at", "user_id": "@_user_1", "user_name": "VideoBot"})
    first.append({"tag": "text", "text": text})
    paragraphs: list[list[dict[str, Any]]] = [first]
    paragraphs += [[{"tag": "img", "image_key": k, "width": 1024, "height": 768}] for k in image_keys]
    return _receive_event("post", {"title": title, "content": paragraphs}, chat_type=chat_type,
                          mentions=[mention_bot()] if mention else None, event_id=event_id,
                          message_id=message_id, sender=sender, chat_id=chat_id, token=token,
                          extra_message_fields=None)


def card_action(
    value: dict[str, Any] | None = None,
    *,
    operator: str = USER_OPEN_ID,
    event_id: str | None = None,
    message_id: str = "om_card0000000000000000000000000",
    chat_id: str = "oc_5ce6d572455d361153b7xx51da133945",
    token: str = TOKEN,
) -> dict[str, Any]:
    """A `card.action.trigger` callback (schema 2.0, §4.1) for a button whose value is `value`."""
    return {
        "schema": "2.0",
        "header": _header("card.action.trigger", event_id, token),
        "event": {
            "operator": {"tenant_key": TENANT, "user_id": "e33ggbyz", "open_id": operator,
                         "union_id": "on_" + operator[3:]},
            "token": "c-" + new_id(),
            "action": {"value": value if value is not None else {}, "tag": "button",
                       "timezone": "Asia/Shanghai"},
            "host": "im_message",
            "delivery_type": "",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id,
                        "url": "", "preview_token": ""},
        },
    }


def url_verification(challenge: str = "ajls384kdjx98XX", token: str = TOKEN) -> dict[str, Any]:
    """The request-URL check Feishu sends when the URL is saved (§1.1): echo `challenge` in 1 s."""
    return {"challenge": challenge, "token": token, "type": "url_verification"}


def generic_event(event_type: str, event: dict[str, Any] | None = None, *, event_id: str | None = None,
                  token: str = TOKEN) -> dict[str, Any]:
    """Any schema-2.0 event, e.g. one the bot does not subscribe to."""
    return {"schema": "2.0", "header": _header(event_type, event_id, token), "event": event or {}}


def encrypt(body: dict[str, Any] | str | bytes, key: str) -> dict[str, str]:
    """`{"encrypt": base64(iv + AES-256-CBC(sha256(key), PKCS#7(json)))}` with a random IV (§2.1)."""
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False)
    data = body.encode() if isinstance(body, str) else body
    k = hashlib.sha256(key.encode()).digest()
    iv = os.urandom(16)
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    return {"encrypt": base64.b64encode(iv + AES.new(k, AES.MODE_CBC, iv).encrypt(data)).decode()}


def sign(timestamp: str, nonce: str, key: str, body: bytes) -> dict[str, str]:
    """The three signature headers: hex(sha256(utf8(ts + nonce + key) + raw body)) (§2.2)."""
    digest = hashlib.sha256((timestamp + nonce + key).encode() + body).hexdigest()
    return {
        "X-Lark-Request-Timestamp": timestamp,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": digest,
    }


def delivery(
    event: dict[str, Any],
    *,
    key: str | None = ENCRYPT_KEY,
    signing_key: str | None = None,
    timestamp: float | None = None,
    signed: bool = True,
) -> tuple[bytes, dict[str, str]]:
    """Body bytes and headers of one push: encrypted with `key` (None = plaintext), then signed.

    `signing_key` defaults to `key`; pass another to forge a signature.
    """
    body = json.dumps(encrypt(event, key) if key else event, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Go-http-client/1.1"}
    if signed and (signing_key or key):
        ts = str(int(timestamp if timestamp is not None else time.time()))
        headers.update(sign(ts, new_id(), signing_key or key or "", body))
    return body, headers
