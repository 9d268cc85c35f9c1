"""The Feishu simulator's long connection: the WebSocket endpoint lark-oapi's `lark.ws.Client` speaks.

Built from feishu-api.md §6.5 and lark-oapi 1.7.5's ``lark_oapi/ws/`` (read, not imported: the
frame codec below is written from the field table, and tests check it against the SDK's own):

* **Discovery**: ``POST /callback/ws/endpoint`` with ``{"AppID", "AppSecret"}`` (no Authorization)
  answers ``{"code": 0, "data": {"URL": "ws://…/ws/v2?device_id=…&service_id=…&ticket=…",
  "ClientConfig": {"ReconnectCount", "ReconnectInterval", "ReconnectNonce", "PingInterval"}}}``;
  wrong credentials get a non-zero code (lark-oapi then gives up). The WebSocket server starts
  on its own loopback port at the first discovery.
* **Handshake**: the URL's ticket must be one discovery issued (once, within a minute), and an
  app has at most `max_connections` (50) connections; a refusal carries ``Handshake-Status`` /
  ``Handshake-Msg`` / ``Handshake-Autherrcode`` headers as Feishu's does (1000040350 = too many
  connections, which makes the SDK give up).
* **Frames** are binary WebSocket messages holding protobuf ``pbbp2.Frame``. The client pings
  (control frame ``type=ping``) every PingInterval; the server answers ``pong`` with the
  ClientConfig as payload. Events go out as data frames (``type=event``, ``message_id``,
  ``sum``, ``seq``, ``trace_id``; the payload is the plaintext schema 2.0 envelope, split into
  `fragment_size` pieces when set) and the client answers with the same frame, payload
  ``{"code": 200|500, "data": base64(handler result)}``: a card callback's toast and card come
  back in ``data``.
* **Cluster mode**: each push goes to one random live connection; one not answered with code 200
  within ``ack_timeout`` (3 s) counts as not delivered, and `FeishuUsers`' retry schedule pushes
  it again (to a random connection again), as Feishu re-pushes.

`LongConnectionUsers` puts this under the users' side: with ``delivery="auto"`` (the default)
events and card clicks go over the long connection whenever a client is connected, else to the
webhook; ``"websocket"`` never uses the webhook (a push with no client connected fails and is
retried), ``"webhook"`` never uses the connection. ``url_verification`` always goes to the webhook.

Controls (not Feishu's): ``GET /__sim__/longconn`` (mode, connections, counters: discoveries,
handshakes, refused, pushes, acks, timeouts, nacks, ack_drops, pings, webhook_posts, drops),
``POST /__sim__/longconn`` with any of ``{"delivery", "drop": true|"abort", "ack_drop": n,
"fragment_size": n, "max_connections": n, "client_config": {…}}``: ``drop`` closes every
connection (``"abort"``: the sockets, without a close frame, like a network failure) and
``ack_drop`` ignores the next n answers, so those events are pushed again.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import Blueprint, jsonify, request
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from sim import feishu_events as ev
from sim.feishu_store import SimUsageError
from sim.feishu_users import FeishuUsers

JSON = dict[str, Any]

DELIVERY_MODES = ("auto", "websocket", "webhook")
WS_PATH = "/ws/v2"
TICKET_TTL_S = 60.0
MAX_CONNECTIONS = 50  # per app (feishu-api.md §6.5)
# Discovery and handshake codes (lark_oapi/ws/const.py; the bad-credentials code is [INF]).
SYSTEM_BUSY = 1
BAD_CREDENTIALS = 1000040345
AUTH_FAILED = 514
EXCEED_CONN_LIMIT = 1000040350
BAD_TICKET = 1000040351
DEFAULT_CLIENT_CONFIG: JSON = {"ReconnectCount": -1, "ReconnectInterval": 2, "ReconnectNonce": 1, "PingInterval": 30}
"""Feishu sends 120 s pings and up to 30 s of reconnect jitter; on loopback, quicker."""

CONTROL, DATA = 0, 1


# --- pbbp2.Frame, written from its field table ------------------------------------------------------------


@dataclass
class Frame:
    """``pbbp2.Frame`` (proto2): SeqID 1, LogID 2 (uint64), service 3, method 4 (int32), headers 5
    (``Header{key 1, value 2}``), payload_encoding 6, payload_type 7, payload 8 (bytes), LogIDNew 9."""

    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = CONTROL
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: bytes = b""
    payload_encoding: str | None = None
    payload_type: str | None = None
    log_id_new: str | None = None

    def header(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k == key), None)

    def encode(self) -> bytes:
        out = bytearray()
        for number, value in ((1, self.seq_id), (2, self.log_id), (3, self.service), (4, self.method)):
            out += _varint(number << 3) + _varint(value & 0xFFFFFFFFFFFFFFFF)  # required: always written
        for key, text in self.headers:
            inner = _field(1, key.encode()) + _field(2, text.encode())
            out += _field(5, inner)
        for number, optional in ((6, self.payload_encoding), (7, self.payload_type)):
            if optional is not None:
                out += _field(number, optional.encode())
        out += _field(8, self.payload)
        if self.log_id_new is not None:
            out += _field(9, self.log_id_new.encode())
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> Frame:
        frame = cls()
        for number, value in _fields(data):
            if number in (1, 2, 3, 4) and isinstance(value, int):
                if number in (3, 4) and value >= 1 << 63:
                    value -= 1 << 64
                setattr(frame, ("seq_id", "log_id", "service", "method")[number - 1], value)
            elif number == 5 and isinstance(value, bytes):
                parts = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
                frame.headers.append((parts.get(1, b"").decode(), parts.get(2, b"").decode()))
            elif number == 8 and isinstance(value, bytes):
                frame.payload = value
            elif number in (6, 7, 9) and isinstance(value, bytes):
                name = {6: "payload_encoding", 7: "payload_type", 9: "log_id_new"}[number]
                setattr(frame, name, value.decode())
        return frame


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, int or bytes) of a protobuf message; ValueError when it is cut short."""
    out: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            if i >= len(data):
                raise ValueError("truncated varint")
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            out.append((number, varint()))
        elif wire == 2:
            size = varint()
            if i + size > len(data):
                raise ValueError("truncated field")
            out.append((number, data[i:i + size]))
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


# --- the server ---------------------------------------------------------------------------------------------


@dataclass
class _Client:
    conn_id: str
    device_id: str
    service_id: int
    ws: ServerConnection
    connected_at: float
    remote: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    pushes: int = 0
    acks: int = 0
    pings: int = 0

    def send(self, data: bytes) -> None:
        with self.lock:
            self.ws.send(data)

    def info(self) -> JSON:
        return {"conn_id": self.conn_id, "device_id": self.device_id, "service_id": self.service_id,
                "connected_at": self.connected_at, "remote": self.remote,
                "pushes": self.pushes, "acks": self.acks, "pings": self.pings}


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    payload: bytes = b""


class LongConnectionHub:
    """Connections of lark-oapi clients to the simulated Feishu, and pushes over them."""

    def __init__(self, sim: FeishuUsers, *, delivery: str = "auto") -> None:
        if delivery not in DELIVERY_MODES:
            raise ValueError(f"delivery must be one of {', '.join(DELIVERY_MODES)}")
        self._sim = sim
        self.delivery = delivery
        self.max_connections = MAX_CONNECTIONS
        self.fragment_size = 0  # bytes per data frame; 0 = one frame per event
        self.client_config: JSON = dict(DEFAULT_CLIENT_CONFIG)
        self._lock = threading.Lock()
        self._rng = random.Random()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self.host = "127.0.0.1"  # where the WebSocket server listens: the simulator's own interface
        self._clients: dict[str, _Client] = {}
        self._tickets: dict[str, float] = {}  # ticket -> expiry
        self._pending: dict[str, _Pending] = {}  # frame message_id -> the push waiting for its answer
        self._ack_drops = 0
        self._seq = 0
        self._stats: dict[str, int] = dict.fromkeys(
            ("discoveries", "handshakes", "refused", "pushes", "acks", "nacks", "timeouts", "ack_drops",
             "pings", "webhook_posts", "drops", "disconnects"), 0)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> int:
        """Serve WebSockets on a free port of `host` (idempotent); returns the port."""
        with self._lock:
            if self._server is not None:
                return self._port
            server = serve(self._session, self.host, 0, process_request=self._handshake, compression=None,
                           max_size=16 * 1024 * 1024, ping_interval=20, ping_timeout=20)
            self._server = server
            self._port = int(server.socket.getsockname()[1])
            self._thread = threading.Thread(target=server.serve_forever, name="feishu-sim-ws", daemon=True)
            self._thread.start()
            return self._port

    def stop(self) -> None:
        with self._lock:
            server, thread, clients = self._server, self._thread, list(self._clients.values())
            self._server = self._thread = None
        for client in clients:
            client.ws.close_socket()
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join(5)

    # --- discovery and handshake ---------------------------------------------------------------

    def endpoint(self, body: Any, host: str | None = None) -> JSON:
        """POST /callback/ws/endpoint: the connection URL and ClientConfig, for the app's credentials.

        `host`: how the caller reached the simulator, named in the URL when it listens on every interface.
        """
        body = body if isinstance(body, dict) else {}
        self._count("discoveries")
        if body.get("AppID") != self._sim.app_id or body.get("AppSecret") != self._sim.app_secret:
            return {"code": BAD_CREDENTIALS, "msg": "app_id or app_secret is invalid", "data": None}
        port = self.start()
        url_host = (host or "127.0.0.1") if self.host in ("", "0.0.0.0", "::") else self.host
        ticket = secrets.token_hex(12)
        device_id = f"sim{secrets.randbelow(10**15):015d}"
        service_id = 30000000 + secrets.randbelow(10**7)
        with self._lock:
            now = time.time()
            self._tickets = {t: exp for t, exp in self._tickets.items() if exp > now}
            self._tickets[ticket] = now + TICKET_TTL_S
        url = (f"ws://{url_host}:{port}{WS_PATH}?fpid=1&aid={self._sim.app_id}&device_id={device_id}"
               f"&access_key={secrets.token_hex(8)}&service_id={service_id}&ticket={ticket}")
        return {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": dict(self.client_config)}}

    def _handshake(self, conn: ServerConnection, req: Request) -> Response | None:
        parts = urlsplit(req.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path != WS_PATH:
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        with self._lock:
            expiry = self._tickets.pop(query.get("ticket", ""), None)
            ok = expiry is not None and expiry > time.time() and query.get("device_id") \
                and query.get("service_id", "").isdigit()
            full = len(self._clients) >= self.max_connections
        if not ok:
            return self._refuse(conn, HTTPStatus.UNAUTHORIZED, BAD_TICKET, "invalid or expired ticket")
        if full:
            return self._refuse(conn, HTTPStatus.FORBIDDEN, EXCEED_CONN_LIMIT, "exceed connection limit")
        return None

    def _refuse(self, conn: ServerConnection, status: HTTPStatus, auth_code: int, msg: str) -> Response:
        self._count("refused")
        resp = conn.respond(status, msg + "\n")
        resp.headers["Handshake-Status"] = str(AUTH_FAILED)
        resp.headers["Handshake-Msg"] = msg
        resp.headers["Handshake-Autherrcode"] = str(auth_code)
        return resp

    # --- one connection ---------------------------------------------------------------------------

    def _session(self, ws: ServerConnection) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(ws.request.path if ws.request else "").query).items()}
        try:
            peer = ws.remote_address
            remote = f"{peer[0]}:{peer[1]}"
        except (OSError, IndexError, TypeError):
            remote = None
        client = _Client(conn_id=secrets.token_hex(6), device_id=query.get("device_id", ""),
                         service_id=int(query.get("service_id", "0")), ws=ws, connected_at=time.time(),
                         remote=remote)
        with self._lock:
            self._clients[client.conn_id] = client
            self._stats["handshakes"] += 1
        try:
            for message in ws:
                if isinstance(message, bytes):
                    self._receive(client, message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.pop(client.conn_id, None)
                self._stats["disconnects"] += 1

    def _receive(self, client: _Client, data: bytes) -> None:
        try:
            frame = Frame.decode(data)
        except ValueError:
            return  # not a frame: ignored, as a server would
        kind = frame.header("type")
        if frame.method == CONTROL and kind == "ping":
            client.pings += 1
            self._count("pings")
            pong = Frame(seq_id=0, log_id=0, service=client.service_id, method=CONTROL, headers=[("type", "pong")],
                         payload=json.dumps(self.client_config).encode())
            try:
                client.send(pong.encode())
            except ConnectionClosed:
                pass
        elif frame.method == DATA:
            with self._lock:
                pending = self._pending.get(frame.header("message_id") or "")
                if pending is None:
                    return  # an answer after its push gave up: too late, the event is pushed again anyway
                if self._ack_drops > 0:
                    self._ack_drops -= 1
                    self._stats["ack_drops"] += 1
                    return
            client.acks += 1
            pending.payload = frame.payload
            pending.done.set()

    # --- pushing ---------------------------------------------------------------------------------

    def connected(self) -> bool:
        with self._lock:
            return bool(self._clients)

    def takes(self, payload: JSON) -> bool:
        """Whether a push of `payload` goes over the long connection (else to the webhook)."""
        if payload.get("type") == "url_verification" or self.delivery == "webhook":
            return False
        return self.delivery == "websocket" or self.connected()

    def push(self, payload: JSON, timeout: float) -> JSON:
        """One push to one random connection, waiting up to `timeout` s for its answer.

        The result has the shape of a webhook attempt (`FeishuUsers._post`): status (the answer's
        code), latency_ms, at, error (None when acknowledged with 200), body (the handler's result),
        plus via="websocket" and the connection's id.
        """
        at = time.time()
        with self._lock:
            clients = list(self._clients.values())
            self._seq += 1
            seq = self._seq
        base: JSON = {"status": None, "latency_ms": 0.0, "at": at, "body": None, "via": "websocket",
                      "connection": None}
        if not clients:
            return {**base, "error": "no long connection"}
        client = self._rng.choice(clients)
        message_id = f"msg_{secrets.token_hex(10)}"
        pending = _Pending()
        data = ev.dumps(payload).encode()
        size = self.fragment_size if self.fragment_size > 0 else max(len(data), 1)
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        trace_id = secrets.token_hex(8)
        with self._lock:
            self._pending[message_id] = pending
            self._stats["pushes"] += 1
        client.pushes += 1
        t0 = time.perf_counter()
        lost = False
        try:
            for n, chunk in enumerate(chunks):
                frame = Frame(seq_id=seq, log_id=seq, service=client.service_id, method=DATA, payload=chunk,
                              headers=[("type", "event"), ("message_id", message_id), ("sum", str(len(chunks))),
                                       ("seq", str(n)), ("trace_id", trace_id)])
                client.send(frame.encode())
            answered = pending.done.wait(timeout)
        except ConnectionClosed:
            answered, lost = False, True
        finally:
            with self._lock:
                self._pending.pop(message_id, None)
        latency = (time.perf_counter() - t0) * 1000
        base.update(latency_ms=latency, connection=client.conn_id)
        if lost:
            return {**base, "error": "connection closed"}
        if not answered:
            self._count("timeouts")
            return {**base, "error": "timeout"}
        code, body = _answer(pending.payload)
        if code != 200:
            self._count("nacks")
            return {**base, "status": code, "error": f"code {code}", "body": body}
        self._count("acks")
        return {**base, "status": 200, "error": None, "body": body}

    # --- controls ------------------------------------------------------------------------------

    def count_webhook_post(self) -> None:
        self._count("webhook_posts")

    def drop(self, abort: bool = False) -> int:
        """Close every connection (`abort`: only the sockets, like a network failure); how many."""
        with self._lock:
            clients = list(self._clients.values())
            self._stats["drops"] += len(clients)
        for client in clients:
            if abort:
                client.ws.close_socket()
            else:
                threading.Thread(target=client.ws.close, args=(1001, "server going away"), daemon=True).start()
        return len(clients)

    def drop_acks(self, count: int) -> None:
        """Ignore the next `count` answers: those events count as not delivered and are pushed again."""
        with self._lock:
            self._ack_drops += max(0, count)

    def state(self) -> JSON:
        with self._lock:
            return {"delivery": self.delivery, "port": self._port or None, "max_connections": self.max_connections,
                    "fragment_size": self.fragment_size, "client_config": dict(self.client_config),
                    "connections": [c.info() for c in self._clients.values()], "pending_ack_drops": self._ack_drops,
                    "stats": dict(self._stats)}

    def configure(self, changes: JSON) -> None:
        unknown = set(changes) - {"delivery", "drop", "ack_drop", "fragment_size", "max_connections",
                                  "client_config"}
        if unknown:
            raise SimUsageError(f"unknown long-connection settings {sorted(unknown)}")
        if "delivery" in changes:
            if changes["delivery"] not in DELIVERY_MODES:
                raise SimUsageError(f"delivery must be one of {', '.join(DELIVERY_MODES)}")
            self.delivery = changes["delivery"]
        try:
            if "fragment_size" in changes:
                self.fragment_size = max(0, int(changes["fragment_size"]))
            if "max_connections" in changes:
                self.max_connections = max(0, int(changes["max_connections"]))
            if "client_config" in changes:
                conf = changes["client_config"]
                if not isinstance(conf, dict) or set(conf) - set(DEFAULT_CLIENT_CONFIG):
                    raise SimUsageError(f"client_config takes {sorted(DEFAULT_CLIENT_CONFIG)}")
                self.client_config.update({k: int(v) for k, v in conf.items()})
            if "ack_drop" in changes:
                self.drop_acks(int(changes["ack_drop"]))
        except (TypeError, ValueError) as exc:
            raise SimUsageError(f"bad setting: {exc}") from None
        if changes.get("drop"):
            self.drop(abort=changes["drop"] == "abort")

    def _count(self, name: str) -> None:
        with self._lock:
            self._stats[name] += 1


def _answer(payload: bytes) -> tuple[int | None, Any]:
    """(code, decoded data) of a client's answer frame: ``{"code": 200, "data": base64(JSON)}``."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    code = doc.get("code") if isinstance(doc.get("code"), int) else None
    data = doc.get("data")
    if not data:
        return code, {}
    try:
        return code, json.loads(base64.b64decode(data))
    except (binascii.Error, ValueError, TypeError):
        return code, None


# --- the users' side over it -------------------------------------------------------------------------------


class LongConnectionUsers(FeishuUsers):
    """`FeishuUsers` whose pushes (events, card clicks) go over the long connection when `delivery` says so."""

    def __init__(self, *, delivery: str = "auto", **options: Any) -> None:
        super().__init__(**options)
        self.longconn = LongConnectionHub(self, delivery=delivery)

    @property
    def delivery(self) -> str:
        return self.longconn.delivery

    def _post(self, payload: JSON, *, encrypt: bool = True, sign: bool = True,
              timestamp: int | None = None) -> JSON:
        if self.longconn.takes(payload):
            return self.longconn.push(payload, self.ack_timeout)  # plaintext: the connection authenticates
        result = super()._post(payload, encrypt=encrypt, sign=sign, timestamp=timestamp)
        if self.webhook_url:
            self.longconn.count_webhook_post()
        return {**result, "via": "webhook"}

    def _can_redeliver(self) -> bool:
        return bool(self.webhook_url) or self.longconn.delivery != "webhook"


def longconn_blueprint(sim: LongConnectionUsers) -> Blueprint:
    """The discovery route (Feishu's) and the simulator's controls of the long connection."""
    bp = Blueprint("feishu_longconn", __name__)

    @bp.post("/callback/ws/endpoint")
    def endpoint() -> Any:
        host = urlsplit(request.host_url).hostname or "127.0.0.1"
        return jsonify(sim.longconn.endpoint(request.get_json(force=True, silent=True), host))

    @bp.route("/__sim__/longconn", methods=["GET", "POST"])
    def control() -> Any:
        if request.method == "POST":
            body = request.get_json(force=True, silent=True)
            if not isinstance(body, dict):
                raise SimUsageError("request body must be a JSON object")
            sim.longconn.configure(body)
        return jsonify(sim.longconn.state())

    return bp
