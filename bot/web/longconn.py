"""``FEISHU_CONNECTION=websocket``: Feishu's events and card clicks over lark-oapi's long connection.

Instead of Feishu POSTing to a public webhook, the bot opens a WebSocket to Feishu itself
(lark-oapi's `lark.ws.Client`, feishu-api.md §6.5): no public URL, no TLS certificate, no
Encrypt Key, no open port, only outbound HTTPS. The connection is authenticated by the app
secret, so frames arrive in plaintext and unsigned. This module is the only one that imports
``lark_oapi.ws``.

**What a frame becomes.** lark-oapi hands each data frame's payload (the same schema 2.0
envelope a webhook carries once decrypted) to its `EventDispatcherHandler`. Ours
(`_FrameHandler`) takes the raw bytes and gives them to `bot.web.intake`, exactly the code
behind the webhook: ``im.message.receive_v1`` → `Ingress.accept_event` (deduplicated on
event_id and message_id) → the inbox → the workers; ``card.action.trigger`` → the permission
pre-check (`bot.permissions`) → `Ingress.accept_card_action`, and the toast goes back in the
response frame within Feishu's 3 s. lark-oapi's typed models are not used: they drop fields
they do not know and reject a card value that is not an object, and the inbox must hold
what the webhook would have stored.

**Acknowledgement.** lark-oapi answers a frame with ``{"code": 200}`` (plus the handler's
result) when the handler returns, ``{"code": 500}`` when it raises an `Exception`. When
Redis cannot take an event (down, out of memory, inbox full), nothing was written, and the
frame must come back: the handler raises `Unacknowledged`, which is not an `Exception`, so
lark-oapi writes no answer at all and Feishu re-pushes the event after its 3 s deadline
(feishu-api.md §3: over the long connection, an event not handled within 3 s is pushed again).
A duplicate (Feishu re-pushing what was accepted but whose answer was lost) is answered and
not stored twice. A malformed envelope is acknowledged and dropped (counted in
``bot_feishu_rejected``): a re-push would carry the same junk.

**One connection per deployment.** Feishu delivers each event to one random connection of
the app (cluster mode), so several would be harmless for correctness, but the deployment
keeps exactly one: a Redis lease (``{p}:feishu:connection``, `bot.store.leader.LeaderLock`,
value ``node|token``). Every process that runs this role (`seedance-bot connect`, or
`serve` in websocket mode) competes for it; the holder opens the connection and renews the
lease every `RENEW_EVERY` s; the others wait as standbys. When the holder dies (even by
SIGKILL) its lease lapses within `LEASE_SECONDS` and a standby connects; Feishu re-pushes
whatever the dead holder had not acknowledged, and the dedup markers make sure nothing is
accepted twice. A holder that cannot renew (Redis away, lease taken) closes its connection.

**Reconnection.** When the connection drops (Feishu restarts, the network blips, the
server closes it), the holder reconnects (endpoint discovery, then the WebSocket) with
`bot.retry.Backoff` (1 s doubling to 30 s, with jitter; reset once a connection has lived
`STABLE_AFTER` s), keeping its lease meanwhile. lark-oapi's own reconnect loop is off
(``auto_reconnect=False``): it could neither give the connection up with the lease nor be
stopped.

lark-oapi's ws client schedules everything on its module-level asyncio loop and only offers
a blocking, never-returning ``start()``. A session here drives the same coroutines
``start()`` would (``_connect``, ``_ping_loop``, ``_disconnect``) on a fresh loop installed
as that module loop for the session's lifetime, so it can be stopped, and a process-wide lock
keeps a second session from sharing it. These are private names of lark-oapi 1.7.x (the
dependency is pinned to that minor version); tests/test_longconn.py runs them against the
Feishu simulator's long-connection endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import lark_oapi as lark
import lark_oapi.ws.client as lark_ws_client
from lark_oapi.ws.exception import ClientException

from bot.config import MissingSettingError, Settings
from bot.health import Liveness
from bot.logs import detach_lark_handlers
from bot.metrics import ProcessMetrics
from bot.retry import Backoff
from bot.store.connection import Client
from bot.store.ingress import Ingress
from bot.store.keys import Keys
from bot.store.leader import LeaderLock
from bot.web.intake import Deferred, FeishuIntake, IntakeMetrics, Refused, envelope_header, parse_envelope
from bot.web.metrics import WebMetrics

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
"""How long a dead holder's lease keeps standbys waiting (the takeover time after a crash)."""
RENEW_EVERY = 3.0
RECONNECT = Backoff(base=1.0, cap=30.0, tries=0)
STABLE_AFTER = 60.0
"""A connection that lived this long resets the reconnect backoff."""
POLL = 0.1
"""Seconds between looks at the connection, the stop flag and the lease while connected."""
LOOP_NAME = "feishu-longconn"
STALL_AFTER = 120.0
"""Liveness: the loop beats at least every second, except inside lark-oapi's connect (endpoint
discovery has no timeout of its own): this long without a beat means it hangs; restart."""

CREDENTIALS_HELP = (
    "FEISHU_CONNECTION=websocket needs FEISHU_APP_ID and FEISHU_APP_SECRET (Feishu developer console → "
    "Credentials): the bot opens the long connection with them."
)

_SDK_LOOP = threading.Lock()
"""Guards lark-oapi's own module-level event loop (``lark_oapi.ws.client.loop``, a global of the SDK,
not ours): a session swaps its fresh loop in for its lifetime, so one session per process at a time."""


class Unacknowledged(BaseException):
    """Leave this frame unanswered, so Feishu pushes it again (Redis could not take it).

    A `BaseException` on purpose: lark-oapi answers ``{"code": 500}`` to any `Exception`
    its handler raises; this one gets past that, and no answer is written.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _FrameHandler(lark.EventDispatcherHandler):
    """What lark-oapi's ws client calls with each data frame's payload (plaintext envelope bytes).

    1.7.x calls ``_do_without_validation``; earlier 1.x called ``do_without_validation``.
    """

    def __init__(self, link: LongConnection) -> None:
        super().__init__()
        self._link = link

    def _do_without_validation(self, payload: bytes) -> Any:
        return self._link.handle(payload)

    def do_without_validation(self, payload: bytes) -> Any:
        return self._link.handle(payload)


class LongConnection:
    """The lease holder's long connection to Feishu (or a standby's wait for the lease), in a thread."""

    def __init__(self, settings: Settings, intake: FeishuIntake, lease: LeaderLock, *, node: str,
                 backoff: Backoff = RECONNECT, renew_every: float = RENEW_EVERY,
                 liveness: Liveness | None = None, process_metrics: ProcessMetrics | None = None) -> None:
        """`process_metrics`: where the connection gauges go (`bot.metrics`); the composition root
        passes the process's one object, else the connection has a private one."""
        self._app_id = settings.feishu_app_id
        self._app_secret = settings.feishu_app_secret.get_secret_value()
        if not self._app_id or not self._app_secret:
            raise MissingSettingError(CREDENTIALS_HELP)
        self._domain = settings.feishu_base_url
        self._intake = intake
        self._metrics = intake.metrics
        self._process_metrics = process_metrics or ProcessMetrics.create()
        self._lease = lease
        self._renew_every = renew_every
        self._backoff = backoff
        self._liveness = liveness or Liveness()
        self.node = node
        self.stop_event = threading.Event()
        self.holding = threading.Event()  # this process holds the lease
        self.connected = threading.Event()  # ... and its connection is open
        self.opened = 0  # connections opened so far
        self._renewed_at = 0.0
        self._handler = _FrameHandler(self)
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=LOOP_NAME, daemon=True)
        self._liveness.watch(LOOP_NAME, STALL_AFTER, self._thread)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the connection and give the lease up (a standby takes over at once)."""
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._liveness.forget(LOOP_NAME)

    # --- a frame ---------------------------------------------------------------------------------------

    def handle(self, payload: bytes) -> Any:
        """One data frame's envelope → the intake; the card toast to answer with, or None."""
        started = time.perf_counter()
        try:
            doc = parse_envelope(payload)
            answer = self._intake.route(doc, envelope_header(doc))
        except Refused as exc:
            self._metrics.rejected.labels(exc.refusal.reason).inc()
            log.warning("feishu: long connection: dropped a malformed frame (%s); acknowledged", exc.refusal.reason)
            return None
        except Deferred as exc:
            raise Unacknowledged(exc.reason) from None
        except Exception:
            # A bug of ours met by some input: acknowledged, or Feishu re-pushes it for hours.
            self._metrics.rejected.labels("internal").inc()
            log.exception("feishu: long connection: unexpected failure while handling a frame; acknowledged")
            return None
        finally:
            self._metrics.latency.labels("feishu").observe(time.perf_counter() - started)
        return dict(answer.body) if answer.callback else None

    # --- the lease ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self._liveness.beat(LOOP_NAME)
            if not self._lease.acquire(wait=1.0):
                continue
            self._renewed_at = time.monotonic()
            self.holding.set()
            self._process_metrics.connection_held.inc()  # inc/dec: right with two in one process too
            log.info("feishu: long connection: %s holds the lease; connecting", self.node)
            try:
                self._hold()
            except Exception:
                log.exception("feishu: long connection: ended by an error")
            finally:
                self._process_metrics.connection_held.dec()
                self.holding.clear()
                self._lease.release()
            if not self.stop_event.is_set():
                log.warning("feishu: long connection: lease lost; back to standby")
                self.stop_event.wait(0.5)
        log.info("feishu: long connection: stopped")

    def _keep_lease(self) -> bool:
        """Renew the lease when due; False once it is lost (the connection must be given up)."""
        if time.monotonic() - self._renewed_at < self._renew_every:
            return True
        if not self._lease.renew():
            return False
        self._renewed_at = time.monotonic()
        return True

    def _hold(self) -> None:
        """Connect, and reconnect with backoff, for as long as the lease is ours."""
        attempt = 0
        while not self.stop_event.is_set():
            began = time.monotonic()
            outcome = self._session()
            if outcome in ("stopped", "lease_lost"):
                return
            if time.monotonic() - began >= STABLE_AFTER:
                attempt = 0
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.warning("feishu: long connection %s; reconnecting in %.1f s", outcome, delay)
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                self._liveness.beat(LOOP_NAME)
                if self.stop_event.wait(min(left, POLL * 5)):
                    return
                if not self._keep_lease():
                    return

    # --- one connection ------------------------------------------------------------------------------

    def _session(self) -> str:
        """Open one connection and keep it until it drops: "dropped", "failed", "refused",
        "stopped" or "lease_lost"."""
        with _SDK_LOOP:
            loop = asyncio.new_event_loop()
            saved = lark_ws_client.loop
            lark_ws_client.loop = loop
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(_loop_exception)
            try:
                # Built with the loop in place: its constructor schedules a task on it.
                client = lark_ws_client.Client(
                    self._app_id, self._app_secret, log_level=lark.LogLevel.ERROR,
                    event_handler=self._handler, domain=self._domain, auto_reconnect=False,
                )
                return loop.run_until_complete(self._connected(client))
            except ClientException as exc:
                log.error("feishu: long connection refused by Feishu (%s): check FEISHU_APP_ID, "
                          "FEISHU_APP_SECRET and that the app receives events over the long connection", exc)
                return "refused"
            except Exception as exc:
                log.warning("feishu: long connection could not be opened: %s: %s", type(exc).__name__, exc)
                return "failed"
            finally:
                self.connected.clear()
                _shutdown(loop)
                lark_ws_client.loop = saved
                asyncio.set_event_loop(None)

    async def _connected(self, client: Any) -> str:
        await client._connect()  # endpoint discovery (POST /callback/ws/endpoint), then the handshake
        if client._conn is None:
            return "failed"
        self.opened += 1
        self.connected.set()
        self._process_metrics.connection_open.inc()
        log.info("feishu: long connection open (%s)", self.node)
        pinger = asyncio.ensure_future(client._ping_loop())
        try:
            while True:
                self._liveness.beat(LOOP_NAME)
                if self.stop_event.is_set():
                    return "stopped"
                if client._conn is None:  # lark-oapi's receive loop saw it close
                    return "dropped"
                if not self._keep_lease():
                    log.error("feishu: long connection: lease lost; closing the connection")
                    return "lease_lost"
                await asyncio.sleep(POLL)
        finally:
            self.connected.clear()
            self._process_metrics.connection_open.dec()
            pinger.cancel()
            await client._disconnect()


class _QuietDisconnects(logging.Filter):
    """lark-oapi logs every close of its connection as an ERROR ("receive message loop exit"), our own
    stop included; this module logs drops itself, with what happens next."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("receive message loop exit", "ping failed"))


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Exceptions lark-oapi's tasks end with: a withheld answer, or the receive loop's exit on a drop."""
    exc = context.get("exception")
    if isinstance(exc, Unacknowledged):
        log.warning("feishu: long connection: Redis could not take a frame (%s); left unacknowledged, "
                    "Feishu pushes it again", exc.reason)
        return
    log.debug("feishu: long connection: %s", context.get("message"), exc_info=exc)


def _shutdown(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what lark-oapi left scheduled (receive loop, frame handlers, its cache's cron) and close."""
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except BaseException:  # closing regardless
        log.debug("feishu: long connection: loop shutdown", exc_info=True)
    finally:
        loop.close()


def long_connection(settings: Settings, r: Client, *, node: str, metrics: IntakeMetrics | None = None,
                    ingress: Ingress | None = None, liveness: Liveness | None = None,
                    process_metrics: ProcessMetrics | None = None) -> LongConnection:
    """The connection role of this process, wired to Redis (`r`) like the webhook would be.

    `metrics`: what the intake counts (the web app's `WebMetrics` under ``serve``); `process_metrics`:
    the process's own (`bot.metrics`), the one object the composition root made. Without them, a
    private `ProcessMetrics` and a `WebMetrics` showing it."""
    lark_logger = logging.getLogger("Lark")
    detach_lark_handlers(lark_logger)  # its own stdout handler would print unredacted
    if not any(isinstance(f, _QuietDisconnects) for f in lark_logger.filters):
        lark_logger.addFilter(_QuietDisconnects())
    keys = Keys(settings.redis_prefix)
    ingress = ingress or Ingress(r, keys, inbox_max=settings.inbox_max)
    process_metrics = process_metrics or ProcessMetrics.create()
    intake = FeishuIntake(settings, ingress, metrics or WebMetrics.create(process_metrics))
    lease = LeaderLock(r, keys, lease=LEASE_SECONDS, key=keys.feishu_connection, owner=node,
                       what="feishu long connection")
    return LongConnection(settings, intake, lease, node=node, liveness=liveness, process_metrics=process_metrics)
