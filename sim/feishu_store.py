"""State and Open API of the Feishu simulator: what the bot's Feishu client talks to.

`FeishuState` holds every record (messages and their versions, uploads, reactions, deliveries,
tokens) behind one lock and implements the Open API operations of feishu-api.md §5 as plain
methods raising `ApiError`; `feishu_users.FeishuUsers` adds the users' side, `feishu_app` maps
it all to HTTP and `feishu.FeishuSimulator` serves it. It also keeps the fault plan (`sim.feishu_faults`: per-operation
one-shots and rates, before/after the work, counted) and the log of every Open API request.
"""

from __future__ import annotations

import collections
import json
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sim import feishu_events as ev
from sim.feishu_faults import ANY, Fault, FaultPlan, make_fault, parse_cli_fault, status_message
from sim.feishu_openapi import (
    APP_CREDENTIALS,
    CARD_OPEN_IDS_EMPTY,
    CARD_TOKEN_INVALID,
    CHAT_RATE_LIMIT,
    FIELD_VALIDATION,
    GATEWAY_RATE_LIMIT,
    INTERNAL_ERROR,
    INVALID_PARAM,
    NOT_SENDER,
    REACTION_INVALID,
    REACTION_NOT_FOUND,
    RECEIVE_ID_TYPES,
    RESOURCE_NOT_IN_MESSAGE,
    RESOURCE_UNSUPPORTED,
    TOKEN_INVALID,
    TOKEN_MISSING,
    ApiError,
    Part,
    check_content,
    check_file_upload,
    check_image_upload,
    check_message_body,
    require,
)

JSON = dict[str, Any]
PATCH_WINDOW_S = 14 * 24 * 3600
UUID_WINDOW_S = 3600
CARD_TOKEN_TTL_S = 30 * 60
DEFAULT_USER: JSON = {"open_id": "ou_sim_user", "name": "Sim User"}
_EXT = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "MPO": "jpg"}


class SimUsageError(ValueError):
    """A test or developer asked the simulator for something impossible (unknown key, no button…)."""


@dataclass
class StoredFile:
    key: str
    data: bytes
    content_type: str
    file_name: str
    file_type: str
    duration: int | None = None
    owner: str = "bot"  # "bot" (uploaded through the Open API) or "user" (a video/voice/file a user sends)
    kind: str = "file"  # what a user's file is sent as: "video" (media), "audio" (voice) or "file"
    cover: str | None = None  # a user's video: the image_key of its cover


@dataclass
class StoredImage:
    key: str
    data: bytes
    content_type: str
    format: str
    width: int
    height: int
    owner: str  # "bot" (uploaded through the Open API) or "user" (a photo a user sent)


@dataclass
class _Message:
    message_id: str
    chat_id: str
    chat_type: str
    msg_type: str
    content: str  # the current version, as sent (users' messages: as Feishu delivers them)
    create_ms: int
    sender: JSON  # API-style sender object (§5.3)
    from_bot: bool
    root_id: str | None = None
    parent_id: str | None = None
    thread_id: str | None = None
    upper_message_id: str | None = None
    uuid: str | None = None
    mentions: list[JSON] = field(default_factory=list)  # event-style (users' messages)
    versions: list[JSON] = field(default_factory=list)
    update_ms: int = 0
    event_ids: list[str] = field(default_factory=list)
    requests: int = 0  # send/reply requests answered with this message (creation + uuid replays)


@dataclass
class _Delivery:
    event_id: str
    event_type: str
    payload: JSON
    message_id: str | None
    timestamp: int | None = None
    attempts: list[JSON] = field(default_factory=list)
    acked: bool = False
    pending: bool = False


class FeishuState:
    """Everything Feishu remembers, plus the Open API operations. Thread-safe (one lock)."""

    def __init__(
        self,
        *,
        app_id: str = "cli_sim_app",
        app_secret: str = "sim-secret",
        encrypt_key: str = "",
        verification_token: str = "sim-verification-token",
        webhook_url: str | None = None,
        bot_open_id: str = "ou_bot_sim",
        bot_name: str = "VideoBot",
        tenant_key: str = "sim_tenant",
        retry_schedule: Sequence[float] = (0.5, 2.0, 5.0, 10.0),
        ack_timeout: float = 3.0,
        token_expire: int = 7200,
        chat_qps: int = 5,
        patch_qps: int = 5,
        file_limit: int = 30 * 1024 * 1024,
        image_limit: int = 10 * 1024 * 1024,
        fault_rate: float = 0.0,
        fault_statuses: Sequence[int] = (429, 500),
        faults: Sequence[str | Fault] = (),
        app_qps: int = 0,
        ratelimit_reset: float = 1.0,
        seed: int | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.encrypt_key = encrypt_key
        self.verification_token = verification_token
        self.webhook_url = webhook_url
        self.bot_open_id = bot_open_id
        self.bot_name = bot_name
        self.tenant_key = tenant_key
        self.retry_schedule = tuple(retry_schedule)
        self.ack_timeout = ack_timeout
        self.token_expire = token_expire
        self.chat_qps = chat_qps
        self.patch_qps = patch_qps
        self.file_limit = file_limit
        self.image_limit = image_limit
        self.fault_rate = fault_rate
        self.fault_statuses = tuple(fault_statuses)
        # Per-app limit on send/reply (feishu-api.md §5.2: 50/s per app); 0 = off. Exceeding it is
        # answered as the gateway does (§5): HTTP 429, code 99991400, x-ogw-ratelimit-* headers.
        self.app_qps = app_qps
        # x-ogw-ratelimit-reset (seconds) of injected 429s.
        self.ratelimit_reset = ratelimit_reset
        self._faults = FaultPlan()
        for spec in faults:
            self._faults.add(parse_cli_fault(spec) if isinstance(spec, str) else spec)
        self._app_hits: collections.deque[float] = collections.deque()
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._clock_offset = 0.0
        self._tokens: dict[str, float] = {}  # tenant token -> expiry (sim clock)
        self._retrying = 0  # redelivery threads alive (survives reset: they finish on their own)
        self._init_state()

    def _init_state(self) -> None:
        self._messages: dict[str, _Message] = {}
        self._files: dict[str, StoredFile] = {}
        self._images: dict[str, StoredImage] = {}
        self._reactions: dict[str, JSON] = {}  # reaction_id -> record (+ message_id)
        self._deliveries: dict[str, _Delivery] = {}
        self._uuids: dict[str, tuple[str, float]] = {}
        self._chats: dict[str, str] = {}  # chat_id -> chat_type
        self._users: dict[str, str] = {self.bot_open_id: self.bot_name}  # open_id -> name
        self._chat_hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._patch_hits: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._card_tokens: dict[str, JSON] = {}  # c-token -> {message_id, expires, uses}
        self._requests: list[JSON] = []  # every Open API request (see record_request)

    # --- test controls -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget messages, uploads, reactions, deliveries, the request log, pending one-shot faults
        and fault counters (fault rates stay). Issued tokens stay valid, because lark-oapi caches
        its token process-wide and never refreshes on 99991663."""
        with self._lock:
            self._init_state()
            self._faults.clear(rules=False)

    def advance_clock(self, seconds: float) -> None:
        """Move Feishu's clock (token expiry, uuid window, 14-day PATCH window) without sleeping."""
        with self._lock:
            self._clock_offset += seconds

    def expire_tokens(self) -> None:
        """Invalidate every issued tenant token (the next call with one gets 99991663)."""
        with self._lock:
            self._tokens.clear()

    def inject_faults(self, count: int = 1, status: int = 429) -> None:
        """Fail the next `count` Open API calls (not the token call) with HTTP 429 or 5xx."""
        self.inject_fault(ANY, status, count=count)

    def inject_fault(
        self, op: str, status: int, *, count: int = 1, when: str = "before", code: int | None = None
    ) -> None:
        """One-shot: the next `count` requests of `op` fail (see sim.feishu_faults)."""
        fault = make_fault(op, status, when=when, count=count, code=code)
        with self._lock:
            self._faults.add(fault)

    def set_fault_rate(
        self, op: str, status: int, rate: float, *, when: str = "before", code: int | None = None
    ) -> None:
        """A share of `op`'s requests fails with `status` (rate 0 removes the rule)."""
        fault = make_fault(op, status, when=when, rate=rate, code=code)
        with self._lock:
            self._faults.add(fault)

    def add_faults(self, faults: Sequence[Fault]) -> None:
        with self._lock:
            for fault in faults:
                self._faults.add(fault)

    def clear_faults(self) -> None:
        """Drop pending one-shots and rate rules, and reset the counters (fault_rate stays)."""
        with self._lock:
            self._faults.clear(rules=True)

    def fault_state(self) -> JSON:
        """{counts: {op: {"500": n, "500:after": n}}, total, pending, rules, log, fault_rate}."""
        with self._lock:
            out = self._faults.snapshot()
            out["fault_rate"] = self.fault_rate
            out["fault_statuses"] = list(self.fault_statuses)
            return out

    def _now(self) -> float:
        return time.time() + self._clock_offset

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    # --- Open API: auth -------------------------------------------------------------------------------

    def issue_token(self, body: Any) -> JSON:
        """tenant_access_token/internal (§5.1): same token while ≥30 min remain, else a new one."""
        body = body if isinstance(body, dict) else {}
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            raise ApiError(APP_CREDENTIALS, "app_id or app_secret is invalid")
        with self._lock:
            now = self._now()
            live = [(exp, tok) for tok, exp in self._tokens.items() if exp > now]
            exp, token = max(live) if live else (0.0, "")
            if not token or exp - now < 1800:
                token, exp = ev.new_tenant_token(), now + self.token_expire
                self._tokens[token] = exp
            return {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": max(0, int(exp - now))}

    def authenticate(self, authorization: str | None) -> None:
        value = (authorization or "").strip()
        if not value or value.lower() in ("bearer", "bearer "):
            raise ApiError(TOKEN_MISSING, "missing access token, Authorization header is empty")
        token = value[7:].strip() if value.lower().startswith("bearer ") else value
        with self._lock:
            exp = self._tokens.get(token)
            if exp is None or exp <= self._now():
                raise ApiError(
                    TOKEN_INVALID,
                    "Invalid access token for authorization. Please make a request with token attached.",
                )

    def take_fault(self, op: str, when: str = "before", **info: Any) -> Fault | None:
        """The fault injected into this request of `op` at `when`, counted; None if there is none.

        Order: the op's one-shots, the "*" one-shots, the rate rules, then the legacy
        `fault_rate` (before only, never on `token`)."""
        with self._lock:
            fault = self._faults.take(op, when, self._rng.random)
            legacy = fault is None and when == "before" and op != "token" and self.fault_rate > 0
            if legacy and self._rng.random() < self.fault_rate:
                fault = Fault(op, self._rng.choice(self.fault_statuses), "before", source="fault_rate")
            if fault is not None:
                self._faults.record(op, fault, **info)
            return fault

    def fault_error(self, fault: Fault) -> ApiError:
        """The answer to an injected fault, in Feishu's envelope (sim.feishu_faults)."""
        if fault.status == 429:
            return ApiError(
                GATEWAY_RATE_LIMIT if fault.code is None else fault.code,
                "request trigger frequency limit",
                429,
                self._ratelimit_headers(50, self.ratelimit_reset),
            )
        return ApiError(INTERNAL_ERROR if fault.code is None else fault.code, status_message(fault.status),
                        fault.status)

    @staticmethod
    def _ratelimit_headers(limit: int, reset: float) -> dict[str, str]:
        return {"x-ogw-ratelimit-limit": str(limit), "x-ogw-ratelimit-reset": str(max(1, math.ceil(reset)))}

    def maybe_fault(self, op: str = "bot_info") -> ApiError | None:
        """An injected failure before this call of `op`, if any (kept for older callers)."""
        fault = self.take_fault(op)
        return None if fault is None else self.fault_error(fault)

    def app_rate_limit(self, op: str) -> None:
        """The per-app send/reply limit (`app_qps`), answered as the gateway's 429."""
        if self.app_qps <= 0 or op not in ("send", "reply"):
            return
        with self._lock:
            now = time.monotonic()
            while self._app_hits and now - self._app_hits[0] >= 1.0:
                self._app_hits.popleft()
            if len(self._app_hits) >= self.app_qps:
                reset = 1.0 - (now - self._app_hits[0])
                raise ApiError(
                    GATEWAY_RATE_LIMIT,
                    f"request trigger frequency limit: at most {self.app_qps} messages per second per app",
                    429,
                    self._ratelimit_headers(self.app_qps, reset),
                )
            self._app_hits.append(now)

    def record_request(self, entry: JSON) -> None:
        with self._lock:
            entry["seq"] = len(self._requests) + 1
            self._requests.append(entry)

    def requests_log(self, ops: Sequence[str] | None = None) -> list[JSON]:
        """Every Open API request, oldest first (optionally only the given ops)."""
        with self._lock:
            return [dict(r) for r in self._requests if not ops or r["op"] in ops]

    def bot_info(self) -> JSON:
        return {
            "code": 0,
            "msg": "ok",
            "bot": {
                "activate_status": 2,
                "app_name": self.bot_name,
                "avatar_url": "",
                "ip_white_list": [],
                "open_id": self.bot_open_id,
            },
        }

    # --- Open API: messages ---------------------------------------------------------------------------

    def _bot_sender(self) -> JSON:
        return {"id": self.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": self.tenant_key}

    def _check(self, msg_type: str, content: str) -> Any:
        return check_content(
            msg_type,
            content,
            image_known=lambda k: k in self._images,
            file_type_of=lambda k: self._files[k].file_type if k in self._files else None,
        )

    def _uuid_hit(self, uuid: str | None) -> _Message | None:
        if not uuid:
            return None
        hit = self._uuids.get(uuid)
        if hit and self._now() - hit[1] < UUID_WINDOW_S and hit[0] in self._messages:
            return self._messages[hit[0]]
        return None

    def _rate_limit(self, hits: collections.deque[float], qps: int, what: str) -> None:
        if qps <= 0:
            return
        now = time.monotonic()
        while hits and now - hits[0] >= 1.0:
            hits.popleft()
        if len(hits) >= qps:
            raise ApiError(CHAT_RATE_LIMIT, f"{what} trigger frequency limit: at most {qps} per second")
        hits.append(now)

    def _record_bot_message(
        self,
        msg_type: str,
        content: str,
        chat_id: str,
        uuid: str | None,
        parent: _Message | None = None,
        reply_in_thread: bool = False,
    ) -> _Message:
        now = self._now_ms()
        m = _Message(
            ev.new_message_id(),
            chat_id,
            self._chats.get(chat_id, "group"),
            msg_type,
            content,
            now,
            self._bot_sender(),
            True,
            uuid=uuid,
            update_ms=now,
        )
        if parent is not None:
            m.root_id = parent.root_id or parent.message_id
            m.parent_id = m.upper_message_id = parent.message_id
            if parent.thread_id:
                m.thread_id = parent.thread_id
            elif reply_in_thread:
                parent.thread_id = m.thread_id = ev.new_thread_id()
        m.versions.append({"content": content, "at": now, "source": "create"})
        self._messages[m.message_id] = m
        if uuid:
            self._uuids[uuid] = (m.message_id, self._now())
        return m

    def create_message(self, receive_id_type: str | None, body: Any, outcome: JSON | None = None) -> JSON:
        """POST /im/v1/messages?receive_id_type=… (§5.2); `outcome` learns what happened."""
        outcome = {} if outcome is None else outcome
        require(
            receive_id_type in RECEIVE_ID_TYPES,
            FIELD_VALIDATION,
            f"receive_id_type must be one of {sorted(RECEIVE_ID_TYPES)}",
        )
        msg_type, content, uuid = check_message_body(body)
        receive_id = body.get("receive_id")
        require(isinstance(receive_id, str) and receive_id, FIELD_VALIDATION, "receive_id is required")
        with self._lock:
            self._check(msg_type, content)
            if receive_id_type == "chat_id":
                require(receive_id.startswith("oc_"), INVALID_PARAM, f"invalid receive_id {receive_id!r}")
                chat_id = receive_id
                self._chats.setdefault(chat_id, "group")
            else:
                prefix = {"open_id": "ou_", "union_id": "on_"}.get(str(receive_id_type), "")
                require(
                    receive_id.startswith(prefix) and (receive_id_type != "email" or "@" in receive_id),
                    INVALID_PARAM,
                    f"invalid receive_id {receive_id!r} for {receive_id_type}",
                )
                chat_id = ev.p2p_chat_id(receive_id)
                self._chats[chat_id] = "p2p"
            outcome["chat_id"] = chat_id
            hit = self._uuid_hit(uuid)
            if hit is not None:
                return self._answered(hit, outcome, created=False)
            self._rate_limit(self._chat_hits[chat_id], self.chat_qps, "chat message")
            m = self._record_bot_message(msg_type, content, chat_id, uuid)
            return self._answered(m, outcome, created=True)

    def _answered(self, m: _Message, outcome: JSON, *, created: bool) -> JSON:
        m.requests += 1
        outcome.update(message_id=m.message_id, created=created, deduplicated=not created)
        return self._api_message(m)

    def reply(self, message_id: str, body: Any, outcome: JSON | None = None) -> JSON:
        """POST /im/v1/messages/:id/reply (§5.3): threads follow the parent; uuid is idempotent."""
        outcome = {} if outcome is None else outcome
        msg_type, content, uuid = check_message_body(body)
        reply_in_thread = bool(body.get("reply_in_thread", False))
        with self._lock:
            parent = self._message_or_error(message_id)
            outcome["chat_id"] = parent.chat_id
            self._check(msg_type, content)
            hit = self._uuid_hit(uuid)
            if hit is not None:
                return self._answered(hit, outcome, created=False)
            self._rate_limit(self._chat_hits[parent.chat_id], self.chat_qps, "chat message")
            m = self._record_bot_message(msg_type, content, parent.chat_id, uuid, parent, reply_in_thread)
            return self._answered(m, outcome, created=True)

    def patch_message(self, message_id: str, body: Any) -> JSON:
        """PATCH /im/v1/messages/:id (§4.5): bot's own shared cards, 14 days, 5 QPS per message."""
        require(
            isinstance(body, dict) and isinstance(body.get("content"), str),
            FIELD_VALIDATION,
            "content must be a string holding the card JSON",
        )
        content = str(body["content"])
        with self._lock:
            m = self._message_or_error(message_id)
            require(
                m.msg_type == "interactive", INVALID_PARAM, "only interactive (card) messages can be updated"
            )
            require(m.from_bot, NOT_SENDER, "the bot is not the sender of this message")
            new_card = self._check("interactive", content)
            require(
                ev.card_update_multi(json.loads(m.content)) and ev.card_update_multi(new_card),
                INVALID_PARAM,
                "config.update_multi must be true in both the sent card and the new card",
            )
            require(
                self._now_ms() - m.create_ms <= PATCH_WINDOW_S * 1000,
                INVALID_PARAM,
                "message was sent more than 14 days ago and can no longer be updated",
            )
            self._rate_limit(self._patch_hits[message_id], self.patch_qps, "message update")
            self._new_version(m, content, "patch")
            return {}

    def _new_version(self, m: _Message, content: str, source: str) -> None:
        m.content = content
        m.update_ms = self._now_ms()
        m.versions.append({"content": content, "at": m.update_ms, "source": source})

    def card_update(self, body: Any) -> JSON:
        """POST /interactive/v1/card/update: the delayed update with a callback's `c-` token."""
        require(isinstance(body, dict), FIELD_VALIDATION, "request body must be a JSON object")
        token, card = body.get("token"), body.get("card")
        require(isinstance(card, dict), FIELD_VALIDATION, "card must be a JSON object")
        with self._lock:
            rec = self._card_tokens.get(str(token))
            require(
                rec and rec["expires"] > self._now() and rec["uses"] < 2,
                CARD_TOKEN_INVALID,
                "card token is invalid, expired or already used twice",
            )
            assert rec is not None
            if str(card.get("schema", "")) != "2.0" and not card.get("open_ids"):
                raise ApiError(CARD_OPEN_IDS_EMPTY, "card 1.0 delayed update needs card.open_ids")
            content = ev.dumps({k: v for k, v in card.items() if k != "open_ids"})
            self._check("interactive", content)
            rec["uses"] += 1
            self._new_version(self._messages[rec["message_id"]], content, "delayed_update")
            return {}

    def get_message(self, message_id: str) -> JSON:
        with self._lock:
            return {"items": [self._api_message(self._message_or_error(message_id))]}

    def _message_or_error(self, message_id: str) -> _Message:
        m = self._messages.get(message_id)
        if m is None:
            raise ApiError(INVALID_PARAM, f"invalid message_id {message_id!r}: message not found")
        return m

    def _api_message(self, m: _Message) -> JSON:
        """The message object of reply/create/GET responses (§5.3): mentions with string ids."""
        if m.from_bot:
            body, mentions = ev.received_form(m.msg_type, json.loads(m.content), self.tenant_key, self._users)
            content = ev.dumps(body)
        else:
            content = m.content
            mentions = [
                {
                    "key": x["key"],
                    "id": x["id"]["open_id"],
                    "id_type": "open_id",
                    "name": x["name"],
                    "tenant_key": x["tenant_key"],
                }
                for x in m.mentions
            ]
        out: JSON = {"message_id": m.message_id}
        for key in ("root_id", "parent_id", "thread_id"):
            if getattr(m, key):
                out[key] = getattr(m, key)
        out.update(
            {
                "msg_type": m.msg_type,
                "create_time": str(m.create_ms),
                "update_time": str(m.update_ms),
                "deleted": False,
                "updated": len(m.versions) > 1,
                "chat_id": m.chat_id,
                "sender": dict(m.sender),
                "body": {"content": content},
            }
        )
        if mentions:
            out["mentions"] = mentions
        if m.upper_message_id:
            out["upper_message_id"] = m.upper_message_id
        return out

    # --- Open API: uploads, resources, reactions ------------------------------------------------------

    def upload_file(self, parts: dict[str, Part]) -> JSON:
        f = check_file_upload(parts, self.file_limit)
        key = ev.new_file_key()
        with self._lock:
            self._files[key] = StoredFile(key, f.data, f.content_type, f.file_name, f.file_type, f.duration)
        return {"file_key": key}

    def upload_image(self, parts: dict[str, Part]) -> JSON:
        im = check_image_upload(parts, self.image_limit)
        key = ev.new_image_key()
        with self._lock:
            self._images[key] = StoredImage(
                key, im.data, im.content_type, im.format, im.width, im.height, "bot"
            )
        return {"image_key": key}

    def resource(self, message_id: str, key: str, rtype: str | None) -> tuple[bytes, str, str]:
        """(bytes, content type, filename) of a key inside a message (§5.7)."""
        require(rtype in ("image", "file"), FIELD_VALIDATION, "type must be image or file")
        with self._lock:
            m = self._message_or_error(message_id)
            if m.msg_type in ("interactive", "sticker", "merge_forward"):
                raise ApiError(
                    RESOURCE_UNSUPPORTED, f"resources of {m.msg_type} messages cannot be downloaded"
                )
            owned = ev.resource_keys(m.msg_type, json.loads(m.content))[str(rtype)]
            if key not in owned:
                raise ApiError(
                    RESOURCE_NOT_IN_MESSAGE, f"{rtype} key {key!r} does not belong to message {message_id}"
                )
            if rtype == "image":
                im = self._images[key]
                return im.data, im.content_type, f"{key}.{_EXT.get(im.format, im.format.lower())}"
            f = self._files[key]
            return f.data, f.content_type, f.file_name

    def add_reaction(self, message_id: str, body: Any) -> JSON:
        emoji = body.get("reaction_type", {}).get("emoji_type") if isinstance(body, dict) else None
        require(
            isinstance(body, dict) and isinstance(body.get("reaction_type"), dict),
            FIELD_VALIDATION,
            "reaction_type.emoji_type is required",
        )
        require(emoji in ev.EMOJI_TYPES, REACTION_INVALID, f"reaction type {emoji!r} is invalid")
        with self._lock:
            self._message_or_error(message_id)
            reaction_id = ev.new_reaction_id()
            rec: JSON = {
                "reaction_id": reaction_id,
                "operator": {"operator_id": self.app_id, "operator_type": "app"},
                "action_time": str(self._now_ms()),
                "reaction_type": {"emoji_type": emoji},
            }
            self._reactions[reaction_id] = {**rec, "message_id": message_id}
            return rec

    def delete_reaction(self, message_id: str, reaction_id: str) -> JSON:
        with self._lock:
            self._message_or_error(message_id)
            rec = self._reactions.get(reaction_id)
            if rec is None or rec["message_id"] != message_id:
                raise ApiError(REACTION_NOT_FOUND, f"reaction {reaction_id!r} not found on {message_id}")
            del self._reactions[reaction_id]
            return {k: v for k, v in rec.items() if k != "message_id"}

    def list_reactions(self, message_id: str, emoji: str | None = None) -> JSON:
        with self._lock:
            self._message_or_error(message_id)
            items = [
                {k: v for k, v in r.items() if k != "message_id"}
                for r in self._reactions.values()
                if r["message_id"] == message_id and emoji in (None, r["reaction_type"]["emoji_type"])
            ]
            return {"items": items, "has_more": False, "page_token": ""}

    # --- inspection ---------------------------------------------------------------------------------------

    def messages(
        self, *, chat_id: str | None = None, thread_id: str | None = None, sender: str | None = None
    ) -> list[JSON]:
        """Every recorded message, oldest first (filters: chat, thread, sender "bot"/"user")."""
        with self._lock:
            return [
                self._sim_message(m)
                for m in self._messages.values()
                if (chat_id is None or m.chat_id == chat_id)
                and (thread_id is None or m.thread_id == thread_id)
                and (sender is None or (sender == "bot") == m.from_bot)
            ]

    def message(self, message_id: str) -> JSON:
        with self._lock:
            if message_id not in self._messages:
                raise SimUsageError(f"unknown message {message_id!r}")
            return self._sim_message(self._messages[message_id])

    def _sim_message(self, m: _Message) -> JSON:
        content = json.loads(m.content)
        return {
            "message_id": m.message_id,
            "msg_type": m.msg_type,
            "content": content,
            "text": ev.plain_text(m.msg_type, content),
            "chat_id": m.chat_id,
            "chat_type": m.chat_type,
            "thread_id": m.thread_id,
            "root_id": m.root_id,
            "parent_id": m.parent_id,
            "upper_message_id": m.upper_message_id,
            "uuid": m.uuid,
            "from_bot": m.from_bot,
            "sender": dict(m.sender),
            "sender_name": self._users.get(str(m.sender["id"]), "") if not m.from_bot else self.bot_name,
            "mentions": [dict(x) for x in m.mentions],
            "create_time": m.create_ms,
            "update_time": m.update_ms,
            "event_ids": list(m.event_ids),
            "requests": m.requests,
            "versions": [
                {"content": json.loads(v["content"]), "at": v["at"], "source": v["source"]}
                for v in m.versions
            ],
            "patch_count": sum(1 for v in m.versions if v["source"] == "patch"),
            "reactions": [
                r["reaction_type"]["emoji_type"]
                for r in self._reactions.values()
                if r["message_id"] == m.message_id
            ],
        }

    def file(self, key: str) -> StoredFile:
        with self._lock:
            if key not in self._files:
                raise SimUsageError(f"unknown file {key!r}")
            return self._files[key]

    def image(self, key: str) -> StoredImage:
        with self._lock:
            if key not in self._images:
                raise SimUsageError(f"unknown image {key!r}")
            return self._images[key]

    def files(self) -> list[JSON]:
        with self._lock:
            return [
                {
                    "file_key": f.key,
                    "file_type": f.file_type,
                    "file_name": f.file_name,
                    "size": len(f.data),
                    "duration": f.duration,
                    "content_type": f.content_type,
                    "owner": f.owner,
                }
                for f in self._files.values()
            ]

    def deliveries(self) -> list[JSON]:
        with self._lock:
            return [
                {
                    "event_id": d.event_id,
                    "event_type": d.event_type,
                    "message_id": d.message_id,
                    "attempts": [dict(a) for a in d.attempts],
                    "acked": d.acked,
                    "pending": d.pending,
                }
                for d in self._deliveries.values()
            ]

    def reactions(self) -> list[JSON]:
        with self._lock:
            return [dict(r) for r in self._reactions.values()]
