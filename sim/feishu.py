"""A faithful Feishu/Lark simulator: the Open API the bot calls, and the users who chat with it.

Nobody can reach Feishu from tests or a developer laptop, so this plays both sides on loopback,
built to `shared/reference/feishu-api.md`:

* **Open API** (`/open-apis/...`): tenant token, bot info, send/reply/get/PATCH messages,
  file and image uploads, resource downloads (with Range), reactions, delayed card update;
  Feishu's envelopes, error codes, per-chat rate limit (230020, HTTP 400), an optional per-app
  send/reply limit (HTTP 429 with `x-ogw-ratelimit-*` headers), uuid idempotency.
* **Faults** per operation (`sim.feishu_faults`): token, bot_info, send, reply, patch,
  get_message, card_update, upload_file, upload_image, resource, reaction; HTTP 429 (code
  99991400 + `x-ogw-ratelimit-reset`) or 5xx, "before" (nothing done) or "after" (done —
  a reply/send IS posted, idempotently by uuid — but answered with the error); as rates
  (`--fault OP:STATUS:RATE[:after]`, POST `/__sim__/faults {"op","status","rate","when"}`) or
  one-shots (POST `/__sim__/faults {"op","status","count","when"}`); GET `/__sim__/faults`
  counts what was injected per op and status ("500", "500:after", …); DELETE clears.
  The legacy `fault_rate` / `inject_faults` are the `"*"` (every op but token) case.
* **Request log**: GET `/__sim__/requests[?op=reply,send]` lists every Open API request the bot
  made: op, path, uuid, target message_id, chat_id, msg_type, HTTP status, Feishu code, injected
  fault, result_message_id and whether it `created` a message or was a uuid replay
  (`deduplicated`) — so a test can count the POSTs that really posted.
* **Users** (`/__sim__/...` and the same Python methods, `sim.feishu_users`): send text, photos, posts and replies as
  schema-2.0 `im.message.receive_v1` events, click card buttons (`card.action.trigger`), answer
  `url_verification`; encrypted and signed like Feishu, redelivered with the same event_id on a
  non-200 or a slow ack.
* **Long connection** (`sim.feishu_ws`): the endpoint discovery and WebSocket server lark-oapi's
  `lark.ws.Client` connects to; with ``delivery="auto"`` (default) events and clicks go over it
  while a client is connected, ``"websocket"`` only over it, ``"webhook"`` only to the webhook.
* **Scopes** (`sim.feishu_scopes`): what the app asked for and the tenant granted, listed by
  `GET /open-apis/application/v6/scopes`; an Open API call the granted scopes don't cover gets
  99991672. All of the bot's scopes are granted unless `sim.scopes.configure(...)`,
  POST `/__sim__/scopes` or `--without-scope` says otherwise.
* **Chat playground** (`/playground`, `sim.playground`): the users' side in a browser, a Feishu-like
  chat whose cards are drawn from the card JSON the bot sent and updated live as it patches them.

Run it in-process (`FeishuSimulator(...).start()`) or as `seedance-bot sim feishu` (`sim.cli`).
Modules, each importing only those above it: `feishu_events` (wire format) → `feishu_faults`,
`feishu_openapi` → `feishu_store` (Open API state) → `feishu_users`, `feishu_scopes` → `feishu_ws` (long
connection), `feishu_app` (routes) → `feishu` (the server).
"""

from __future__ import annotations

import functools
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sim.feishu_app import build_app
from sim.feishu_openapi import ApiError
from sim.feishu_scopes import ScopeGrants, scopes_blueprint
from sim.feishu_store import SimUsageError, StoredFile, StoredImage
from sim.feishu_ws import LongConnectionUsers, longconn_blueprint

__all__ = ["ApiError", "FeishuSimulator", "SimUsageError", "StoredFile", "StoredImage"]


class FeishuSimulator(LongConnectionUsers):
    """The Feishu Open API plus its users, on a real loopback HTTP server.

    The users' side is `FeishuUsers` (pushing over the long connection: `LongConnectionUsers`), the
    Open API state `FeishuState`, the routes `feishu_app`.
    Keyword-only options (see `FeishuState`): app_id, app_secret, encrypt_key ("" = plaintext,
    unsigned events), verification_token, webhook_url, bot_open_id, bot_name, tenant_key,
    retry_schedule, ack_timeout, token_expire, chat_qps, patch_qps, file_limit, image_limit,
    fault_rate, fault_statuses, faults (e.g. ["reply:500:0.1:after"]), app_qps, ratelimit_reset,
    seed; and delivery ("auto", "websocket", "webhook": see `sim.feishu_ws`).
    """

    _server: BaseWSGIServer | None = None
    _thread: threading.Thread | None = None
    _origin: str | None = None
    _app: Flask | None = None

    @property
    def app(self) -> Flask:
        """The WSGI app (also usable with Flask's test client, without a server)."""
        if self._app is None:
            self._app = build_app(self)
            self._app.register_blueprint(longconn_blueprint(self))  # /callback/ws/endpoint, /__sim__/longconn
            self._app.register_blueprint(scopes_blueprint(self, self.scopes))  # application/v6/scopes, 99991672
        return self._app

    @functools.cached_property
    def scopes(self) -> ScopeGrants:
        """The app's added and granted scopes (`sim.feishu_scopes`); all of the bot's, granted, by default."""
        return ScopeGrants()

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0, *, quiet: bool = True) -> str:
        """Serve on a background thread; returns the bare origin lark-oapi wants (no trailing /)."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self._stopping.clear()
        self.longconn.host = host  # its WebSocket server listens where this one does
        self._server = make_server(host, port, self.app, threaded=True, request_handler=handler)
        self._origin = f"http://{host}:{self._server.server_port}"
        # a short poll interval makes stop() (and so every test teardown) quick
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="feishu-sim", daemon=True
        )
        self._thread.start()
        return self._origin

    def stop(self) -> None:
        """Stop serving and abandon pending redeliveries."""
        self._stopping.set()
        self.longconn.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("simulator not started")
        return self._origin

    def __enter__(self) -> FeishuSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log lines in test output."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass
