"""The users' side of the Feishu simulator: people who post, reply and press card buttons.

`FeishuUsers` adds to the Open API state (`sim.feishu_store.FeishuState`) everything a chat
member does: upload a photo, send text/photos/posts/replies as schema-2.0
`im.message.receive_v1` events, click card buttons (`card.action.trigger`), answer
`url_verification`; each pushed to the bot's webhook encrypted and signed like Feishu, and
redelivered with the same event_id on a non-200 or a slow ack. The HTTP face
(`sim.feishu_app`) and the server (`sim.feishu.FeishuSimulator`) build on it.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from PIL import Image

from sim import feishu_events as ev
from sim.feishu_openapi import image_info
from sim.feishu_store import (
    CARD_TOKEN_TTL_S,
    DEFAULT_USER,
    FeishuState,
    SimUsageError,
    StoredFile,
    StoredImage,
    _Delivery,
    _Message,
)

JSON = dict[str, Any]
FILE_KINDS = ("video", "audio", "file")
_AUDIO_TYPES = {".ogg": "audio/ogg", ".opus": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav",
                ".m4a": "audio/mp4"}


def _media_ms(data: bytes) -> int | None:
    """The length of a video or audio in ms, as a Feishu client works it out before sending (None: unreadable)."""
    import av  # deferred: only users' videos and voice messages need PyAV here

    try:
        with av.open(io.BytesIO(data)) as container:
            if container.duration:
                return round(container.duration / 1000)
            for stream in (*container.streams.video, *container.streams.audio):
                if stream.duration is not None and stream.time_base is not None:
                    return round(float(stream.duration * stream.time_base) * 1000)
    except Exception:  # not a media file PyAV knows: sent without a duration
        return None
    return None


class FeishuUsers(FeishuState):
    """The Open API state plus its users: messages and button presses pushed to the webhook."""

    def upload_user_image(
        self,
        data: bytes | None = None,
        *,
        width: int = 640,
        height: int = 480,
        color: tuple[int, int, int] = (200, 120, 60),
    ) -> JSON:
        """Store a photo a user is about to send; without bytes, a JPEG of the given size."""
        if data is None:
            buf = io.BytesIO()
            Image.new("RGB", (width, height), color).save(buf, "JPEG", quality=85)
            data = buf.getvalue()
        try:
            fmt, w, h = image_info(data)
        except ValueError as exc:
            raise SimUsageError(str(exc)) from None
        key = ev.new_image_key()
        with self._lock:
            self._images[key] = StoredImage(
                key, data, Image.MIME.get(fmt, "application/octet-stream"), fmt, w, h, "user"
            )
        return {"image_key": key, "width": w, "height": h, "format": fmt}

    def upload_user_file(
        self,
        data: bytes,
        *,
        file_name: str,
        kind: str = "file",
        duration_ms: int | None = None,
    ) -> JSON:
        """Store a video (`kind="video"`, sent as a `media` message or in a post), a voice message
        (`"audio"`, Feishu's Opus) or a file a user is about to send; returns its `file_key`.

        `duration_ms` defaults to what PyAV reads (Feishu clients state it for videos and voice).
        A video gets a cover image (`image_key`), as a `media` message always has one.
        """
        if kind not in FILE_KINDS:
            raise SimUsageError(f"kind must be one of {', '.join(FILE_KINDS)}")
        if not data:
            raise SimUsageError("a file must not be empty")
        if not file_name:
            raise SimUsageError("file_name is required")
        if duration_ms is None and kind in ("video", "audio"):
            duration_ms = _media_ms(data)
        ext = ("." + file_name.rsplit(".", 1)[-1].lower()) if "." in file_name else ""
        if kind == "video":
            content_type, file_type = ("video/quicktime" if ext == ".mov" else "video/mp4"), "mp4"
        elif kind == "audio":
            content_type, file_type = _AUDIO_TYPES.get(ext, "audio/ogg"), "opus"
        else:
            content_type, file_type = "application/octet-stream", "stream"
        cover = None
        if kind == "video":
            cover = str(self.upload_user_image(width=480, height=270, color=(40, 40, 40))["image_key"])
        key = ev.new_file_key()
        with self._lock:
            self._files[key] = StoredFile(key, data, content_type, file_name, file_type, duration_ms,
                                          owner="user", kind=kind, cover=cover)
        return {"file_key": key, "image_key": cover, "file_name": file_name, "duration": duration_ms,
                "kind": kind, "size": len(data)}

    def send(
        self,
        *,
        text: str | None = None,
        chat_id: str | None = None,
        chat_type: str | None = None,
        user: dict[str, Any] | None = None,
        mention_bot: bool | None = None,
        mentions: Sequence[dict[str, Any]] = (),
        images: Sequence[str] = (),
        files: Sequence[str] = (),
        parent_id: str | None = None,
        thread_id: str | None = None,
        message_type: str | None = None,
        post_form: str = "direct",
        images_first: bool = False,
        event_id: str | None = None,
        message_id: str | None = None,
        deliver: bool = True,
        timestamp: int | None = None,
    ) -> JSON:
        """A user posts in a chat: record the message, push `im.message.receive_v1` to the webhook.

        `files` (keys from `upload_user_file`): one alone is a `media` (video), `audio` (voice) or
        `file` message; videos with text or images become `media` elements of a post.

        Returns the first attempt's {event_id, message_id, status, latency_ms, error, event}.
        Reusing a known `event_id` redelivers that very event; a known `message_id` sends a fresh
        envelope (new event_id) for the recorded message.
        """
        with self._lock:
            known = event_id is not None and event_id in self._deliveries
        if known:
            assert event_id is not None
            return (
                self.redeliver(event_id, timestamp=timestamp) if deliver else self._delivery_result(event_id)
            )
        with self._lock:
            if message_id is not None and message_id in self._messages:
                m = self._messages[message_id]
                sender_user = self._sender_user(m)
            else:
                m, sender_user = self._user_message(
                    text=text,
                    chat_id=chat_id,
                    chat_type=chat_type,
                    user=user,
                    mention_bot=mention_bot,
                    mentions=mentions,
                    images=images,
                    files=files,
                    parent_id=parent_id,
                    thread_id=thread_id,
                    message_type=message_type,
                    post_form=post_form,
                    images_first=images_first,
                    message_id=message_id,
                )
            eid = event_id or ev.new_event_id()
            payload = ev.message_receive_event(
                self._header("im.message.receive_v1", eid),
                sender=sender_user,
                tenant_key=self.tenant_key,
                message=self._event_message(m),
            )
            m.event_ids.append(eid)
            self._deliveries[eid] = _Delivery(eid, "im.message.receive_v1", payload, m.message_id, timestamp)
        first = self._deliver(eid, retry=True) if deliver else None
        return self._delivery_result(eid, first)

    def _sender_user(self, m: _Message) -> JSON:
        open_id = str(m.sender["id"])
        return {"open_id": open_id, "name": self._users.get(open_id, "")}

    def _user_message(
        self,
        *,
        text: str | None,
        chat_id: str | None,
        chat_type: str | None,
        user: dict[str, Any] | None,
        mention_bot: bool | None,
        mentions: Sequence[dict[str, Any]],
        images: Sequence[str],
        parent_id: str | None,
        thread_id: str | None,
        message_type: str | None,
        post_form: str,
        images_first: bool,
        message_id: str | None,
        files: Sequence[str] = (),
    ) -> tuple[_Message, JSON]:
        u = {**DEFAULT_USER, **(user or {})}
        open_id = str(u["open_id"])
        self._users[open_id] = str(u.get("name", ""))
        parent = self._messages.get(parent_id) if parent_id else None
        if parent_id and parent is None:
            raise SimUsageError(f"unknown parent message {parent_id!r}")
        chat_type = chat_type or (parent.chat_type if parent else None) or "group"
        if chat_type not in ("group", "p2p"):
            raise SimUsageError("chat_type must be group or p2p")
        if post_form not in ("direct", "zh_cn", "post"):
            raise SimUsageError("post_form must be direct, zh_cn or post")
        chat_id = (
            chat_id
            or (parent.chat_id if parent else None)
            or (ev.p2p_chat_id(open_id) if chat_type == "p2p" else "oc_sim_group")
        )
        self._chats[chat_id] = chat_type
        if mention_bot is None:
            mention_bot = chat_type == "group"
        imgs = []
        for key in images:
            if key not in self._images:
                raise SimUsageError(
                    f"unknown image {key!r}: upload it with upload_user_image / /__sim__/images"
                )
            im = self._images[key]
            imgs.append({"image_key": key, "width": im.width, "height": im.height})
        attached: list[StoredFile] = []
        for key in files:
            f = self._files.get(key)
            if f is None or f.owner != "user":
                raise SimUsageError(f"unknown file {key!r}: upload it with upload_user_file / POST /__sim__/files")
            attached.append(f)
        lone = {"video": "media", "audio": "audio", "file": "file"}
        if message_type is None and len(attached) == 1 and not text and not imgs:
            message_type = lone[attached[0].kind]
        mtype = message_type or ("image" if len(imgs) == 1 and not text else "post" if imgs or attached else "text")
        ats: list[tuple[str, str]] = []
        event_mentions: list[JSON] = []
        people = [{"open_id": self.bot_open_id, "name": self.bot_name, "bot": True}] if mention_bot else []
        if any(not isinstance(x, dict) or not x.get("open_id") for x in mentions):
            raise SimUsageError("mentions must be a list of {open_id, name}")
        people += [{**x, "bot": False} for x in mentions]
        if mtype not in ("image", "media", "audio", "file"):  # a picture, video, voice or file has no @
            for i, p in enumerate(people, 1):
                key = f"@_user_{i}"
                ids = (
                    ev.user_ids(p)
                    if not p["bot"]
                    else {
                        "union_id": ev.union_id_for(self.bot_open_id),
                        "user_id": "",
                        "open_id": self.bot_open_id,
                    }
                )
                ats.append((key, str(p.get("name", ""))))
                event_mentions.append(
                    {
                        "key": key,
                        "id": ids,
                        "mentioned_type": "bot" if p["bot"] else "user",
                        "name": str(p.get("name", "")),
                        "tenant_key": self.tenant_key,
                    }
                )
                self._users.setdefault(str(p["open_id"]), str(p.get("name", "")))
        if attached and mtype not in ("post", "media", "audio", "file"):
            raise SimUsageError(f"a {mtype} message cannot carry files")
        if mtype in ("media", "audio", "file"):
            if len(attached) != 1 or text or imgs:
                raise SimUsageError(f"a {mtype} message is exactly one file and no text or images")
            f = attached[0]
            if lone[f.kind] != mtype:
                raise SimUsageError(f"{f.file_name!r} is a {f.kind}, not sent as a {mtype} message")
            if mtype == "media":
                body_any: Any = {"file_key": f.key, "image_key": f.cover, "file_name": f.file_name,
                                 "duration": f.duration or 0}
            elif mtype == "audio":
                body_any = {"file_key": f.key, "duration": f.duration or 0}
            else:
                body_any = {"file_key": f.key, "file_name": f.file_name}
        if mtype == "text":
            if imgs:
                raise SimUsageError("a text message cannot carry images; use message_type post")
            body: Any = {"text": " ".join([k for k, _ in ats] + ([text] if text else []))}
        elif mtype == "image":
            if len(imgs) != 1 or text:
                raise SimUsageError("an image message is exactly one image and no text")
            body = {"image_key": imgs[0]["image_key"]}
        elif mtype == "post":
            if any(f.kind != "video" for f in attached):
                raise SimUsageError("a post can carry videos (media elements), not voice messages or files")
            media = [{"file_key": f.key, "image_key": f.cover} for f in attached]
            body = ev.wrap_post(ev.build_post(text, imgs, ats=ats, images_first=images_first, media=media),
                                post_form)
        elif mtype in ("media", "audio", "file"):
            body = body_any
        else:
            raise SimUsageError("message_type must be text, post, image, media, audio or file")
        now = self._now_ms()
        m = _Message(
            message_id or ev.new_message_id(),
            chat_id,
            chat_type,
            mtype,
            ev.dumps(body),
            now,
            {"id": open_id, "id_type": "open_id", "sender_type": "user", "tenant_key": self.tenant_key},
            False,
            mentions=event_mentions,
            update_ms=now,
        )
        if parent is not None:
            m.root_id = parent.root_id or parent.message_id
            m.parent_id = parent.message_id
            m.thread_id = thread_id or parent.thread_id
        elif thread_id:
            m.thread_id = thread_id
            root = next((x for x in self._messages.values() if x.thread_id == thread_id), None)
            if root is not None:
                m.root_id = m.parent_id = root.root_id or root.message_id
        m.versions.append({"content": m.content, "at": now, "source": "create"})
        self._messages[m.message_id] = m
        return m, u

    def _event_message(self, m: _Message) -> JSON:
        """`event.message` of im.message.receive_v1 (§1.3); absent ids are omitted, as Feishu does."""
        out: JSON = {"message_id": m.message_id}
        for key in ("root_id", "parent_id"):
            if getattr(m, key):
                out[key] = getattr(m, key)
        out.update({"create_time": str(m.create_ms), "update_time": str(m.update_ms), "chat_id": m.chat_id})
        if m.thread_id:
            out["thread_id"] = m.thread_id
        out.update({"chat_type": m.chat_type, "message_type": m.msg_type, "content": m.content})
        if m.mentions:
            out["mentions"] = [dict(x) for x in m.mentions]
        out["user_agent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Lark/7.30.0 (FeishuSimulator)"
        return out

    def _header(self, event_type: str, event_id: str) -> JSON:
        return ev.event_header(
            event_type,
            event_id=event_id,
            token=self.verification_token,
            app_id=self.app_id,
            tenant_key=self.tenant_key,
            create_time_ms=ev.now_ms(),
        )

    # --- delivery ---------------------------------------------------------------------------------------

    def _post(
        self, payload: JSON, *, encrypt: bool = True, sign: bool = True, timestamp: int | None = None
    ) -> JSON:
        """One HTTP push to the webhook; never holds the lock (the bot calls back meanwhile)."""
        at = time.time()
        url = self.webhook_url
        if not url:
            return {
                "status": None,
                "latency_ms": 0.0,
                "at": at,
                "error": "no webhook_url configured",
                "body": None,
            }
        key = self.encrypt_key if encrypt else ""
        body, headers = ev.wire_body(payload, encrypt_key=key, timestamp=timestamp)
        if not sign:
            headers = {k: v for k, v in headers.items() if not k.startswith("X-Lark")}
        t0 = time.perf_counter()
        try:
            with requests.Session() as s:
                s.trust_env = False  # loopback: never through a proxy
                r = s.post(url, data=body, headers=headers, timeout=(self.ack_timeout, self.ack_timeout))
        except requests.Timeout:
            return {
                "status": None,
                "latency_ms": (time.perf_counter() - t0) * 1000,
                "at": at,
                "error": "timeout",
                "body": None,
            }
        except requests.RequestException as exc:
            return {
                "status": None,
                "latency_ms": (time.perf_counter() - t0) * 1000,
                "at": at,
                "error": f"{type(exc).__name__}: {exc}",
                "body": None,
            }
        latency = (time.perf_counter() - t0) * 1000
        try:
            parsed: Any = r.json()
        except ValueError:
            parsed = r.text
        error = None if r.status_code == 200 else f"HTTP {r.status_code}"
        if error is None and latency > self.ack_timeout * 1000:
            error = "slow ack"
        return {"status": r.status_code, "latency_ms": latency, "at": at, "error": error, "body": parsed}

    def _attempt(self, event_id: str) -> JSON:
        with self._lock:
            d = self._deliveries.get(event_id)
            if d is None:  # forgotten by reset() while a redelivery was waiting
                return {"status": None, "latency_ms": 0.0, "at": time.time(), "error": "reset", "body": None}
            payload, ts = d.payload, d.timestamp
        result = self._post(payload, timestamp=ts)
        with self._lock:
            d.attempts.append({k: v for k, v in result.items() if k != "body"})
            d.acked = d.acked or result["error"] is None
        return result

    def _deliver(self, event_id: str, *, retry: bool) -> JSON:
        first = self._attempt(event_id)
        if first["error"] not in (None, "reset") and retry and self.retry_schedule and self._can_redeliver():
            with self._lock:
                if event_id not in self._deliveries:
                    return first
                self._deliveries[event_id].pending = True
                self._retrying += 1
            threading.Thread(
                target=self._retry_loop, args=(event_id,), name=f"feishu-retry-{event_id[:8]}", daemon=True
            ).start()
        return first

    def _can_redeliver(self) -> bool:
        """Whether a push has somewhere to go again (the long connection adds one, sim.feishu_ws)."""
        return bool(self.webhook_url)

    def _retry_loop(self, event_id: str) -> None:
        """Feishu's re-push: the same event, after each delay of retry_schedule, until acked."""
        try:
            for delay in self.retry_schedule:
                if self._stopping.wait(delay):
                    return
                if self._attempt(event_id)["error"] in (None, "reset"):
                    return
        finally:
            with self._lock:
                if event_id in self._deliveries:
                    self._deliveries[event_id].pending = False
                self._retrying -= 1
                self._idle.notify_all()

    def redeliver(self, event_id: str, *, timestamp: int | None = None) -> JSON:
        """Push a recorded event again, same event_id (what Feishu does on a missed ack)."""
        with self._lock:
            if event_id not in self._deliveries:
                raise SimUsageError(f"unknown event {event_id!r}")
            if timestamp is not None:
                self._deliveries[event_id].timestamp = timestamp
        return self._delivery_result(event_id, self._attempt(event_id))

    def _delivery_result(self, event_id: str, attempt: JSON | None = None) -> JSON:
        """What send/redeliver report: `attempt` (the one just made), else the latest recorded."""
        with self._lock:
            d = self._deliveries[event_id]
            last = attempt if attempt is not None else (d.attempts[-1] if d.attempts else {})
            return {
                "event_id": event_id,
                "message_id": d.message_id,
                "status": last.get("status"),
                "latency_ms": last.get("latency_ms"),
                "error": last.get("error"),
                "event": d.payload,
            }

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no redelivery is pending; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._retrying == 0, timeout)

    def challenge(
        self, challenge: str | None = None, *, encrypt: bool | None = None, token: str | None = None
    ) -> JSON:
        """POST a `url_verification` to the webhook (plain or encrypted, unsigned, §1.1)."""
        value = challenge or ev.new_event_id()
        payload = ev.url_verification(value, self.verification_token if token is None else token)
        r = self._post(payload, encrypt=bool(self.encrypt_key) if encrypt is None else encrypt, sign=False)
        body = r.pop("body")
        ok = r["status"] == 200 and isinstance(body, dict) and body.get("challenge") == value
        return {**r, "challenge": value, "body": body, "ok": ok}

    def click(
        self,
        message_id: str,
        button: Any = 0,
        *,
        user: dict[str, Any] | None = None,
        form_value: dict[str, Any] | None = None,
        timestamp: int | None = None,
    ) -> JSON:
        """A user clicks a card button: push `card.action.trigger` (§4.1) and apply the answer.

        A `{"card": {"type": "raw", "data": …}}` in the response becomes the card's next version.
        """
        u = {**DEFAULT_USER, **(user or {})}
        with self._lock:
            m = self._messages.get(message_id)
            if m is None or m.msg_type != "interactive":
                raise SimUsageError(f"{message_id!r} is not a recorded interactive message")
            try:
                btn, form = ev.find_button(json.loads(m.content), button)
            except LookupError as exc:
                raise SimUsageError(str(exc)) from None
            if btn.get("disabled") is True:
                raise SimUsageError(f"button {ev.button_text(btn)!r} is disabled")
            has_cb, value = ev.button_callback_value(btn)
            if not has_cb:
                raise SimUsageError(f"button {ev.button_text(btn)!r} has no callback behaviour")
            action: JSON = {"value": value, "tag": "button"}
            if btn.get("name"):
                action["name"] = btn["name"]
            if form is not None:
                action["form_value"] = {**ev.form_defaults(form), **(form_value or {})}
            card_token = ev.new_card_token()
            self._card_tokens[card_token] = {
                "message_id": message_id,
                "expires": self._now() + CARD_TOKEN_TTL_S,
                "uses": 0,
            }
            self._users[str(u["open_id"])] = str(u.get("name", ""))
            eid = ev.new_event_id()
            payload = ev.card_action_event(
                self._header("card.action.trigger", eid),
                operator=u,
                tenant_key=self.tenant_key,
                action=action,
                message_id=message_id,
                chat_id=m.chat_id,
                card_token=card_token,
            )
            d = _Delivery(eid, "card.action.trigger", payload, message_id, timestamp)
            self._deliveries[eid] = d
        r = self._post(payload, timestamp=timestamp)
        body = r.pop("body")
        card_updated = False
        with self._lock:
            d.attempts.append(dict(r))
            d.acked = r["error"] is None
            card = body.get("card") if isinstance(body, dict) else None
            if (
                r["status"] == 200
                and isinstance(card, dict)
                and card.get("type") == "raw"
                and isinstance(card.get("data"), dict)
            ):
                self._new_version(m, ev.dumps(card["data"]), "callback")
                card_updated = True
        toast = body.get("toast") if isinstance(body, dict) else None
        return {
            **r,
            "event_id": eid,
            "body": body,
            "toast": toast,
            "card_updated": card_updated,
            "action": action,
            "event": payload,
        }
