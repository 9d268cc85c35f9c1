"""`seedance-bot sim ark|feishu`: run a simulator in the foreground until SIGINT/SIGTERM.

`bot.cli.sim` hands `seedance-bot sim …` over to `app` here when the simulators are installed
(`pip install -e '.[sim]'`); the flags are those of the two commands below.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from sim.ark import ArkSimulator
from sim.ark_faults import LOST_CREATE_MODES
from sim.ark_state import QUEUED_FIELDS
from sim.feishu import FeishuSimulator
from sim.feishu_faults import parse_cli_fault
from sim.feishu_ws import DELIVERY_MODES

app = typer.Typer(
    name="seedance-bot sim",
    help="Run a local simulator of BytePlus Ark or Feishu/Lark on loopback.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.command("ark")
def ark(
    port: int = typer.Option(18080, help="Port to listen on (0 = any free port)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    speed: float = typer.Option(1.0, help="Service-time factor: a 90 s job takes 90/speed s."),
    error_rate: float = typer.Option(0.0, help="Fraction of API requests answered 429/500."),
    fail_rate: float = typer.Option(0.0, help="Fraction of tasks ending failed (moderation)."),
    slow_rate: float = typer.Option(0.0, help="Fraction of API responses delayed by --slow-seconds."),
    slow_seconds: float = typer.Option(0.0, help="Delay of a slow response (real seconds)."),
    concurrency: int = typer.Option(10, help="Running tasks per model; the rest stay queued."),
    queue_cap: int = typer.Option(120, help="Queued tasks per account before 429."),
    url_ttl: float = typer.Option(86400, help="Video URL lifetime in service seconds."),
    api_key: str | None = typer.Option(None, help="Required Bearer token (default: any)."),
    seed: int | None = typer.Option(None, help="RNG seed for reproducible runs."),
    rpm: int = typer.Option(0, help="Create requests per model per service minute (0 = unlimited)."),
    not_opened: list[str] = typer.Option([], help="Model IDs answering 404 ModelNotOpen (repeatable)."),
    media_dir: Path | None = typer.Option(None, help="Where task media files are written."),
    callback_retry_delay: float = typer.Option(1.0, help="Real seconds between callback retries."),
    verbose: bool = typer.Option(False, help="Log every HTTP request."),
    wall_clock_timestamps: bool = typer.Option(
        False, help="Report created_at/updated_at on the wall clock, not the sped-up service clock."),
    lost_create_rate: float = typer.Option(
        0.0, help="Fraction of successful creates whose answer is lost: the task exists, runs and "
                  "is billed, but the client gets a 500, a closed connection or a late answer."),
    lost_create_mode: str = typer.Option(
        "mixed", help="How a lost create answer is lost: 500 | drop | delay | mixed (one at random)."),
    lost_create_delay: float = typer.Option(
        90.0, help="Real seconds a 'delay' lost answer is held (make it exceed the client timeout)."),
    queued_fields: str = typer.Option(
        "doc", help="Fields of queued/running/failed/expired/cancelled task objects: doc (ark-api.md "
                    "recommendation) | full (every parameter echo) | bare (id, model, status, times)."),
    fault_retry_after: float = typer.Option(
        1.0, help="Retry-After seconds on injected 429s (undocumented by Ark)."),
) -> None:
    """Run the BytePlus Ark video-task simulator in the foreground until SIGINT/SIGTERM.

    Run-time control (not part of the real API): GET/POST /__sim__/config, POST /__sim__/advance,
    GET /__sim__/tasks, /__sim__/requests, /__sim__/callbacks, and GET/POST/DELETE /__sim__/faults
    for one-shot faults, e.g. {"op": "create", "mode": "lost-500", "count": 1}.
    """
    if lost_create_mode not in LOST_CREATE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(LOST_CREATE_MODES)}",
                                 param_hint="--lost-create-mode")
    if queued_fields not in QUEUED_FIELDS:
        raise typer.BadParameter(f"must be one of {', '.join(QUEUED_FIELDS)}", param_hint="--queued-fields")
    if not 0.0 <= lost_create_rate <= 1.0:
        raise typer.BadParameter("must be in [0, 1]", param_hint="--lost-create-rate")

    sim = ArkSimulator(
        api_key=api_key, speed=speed, error_rate=error_rate, fail_rate=fail_rate, slow_rate=slow_rate,
        slow_seconds=slow_seconds, concurrency=concurrency, queue_cap=queue_cap, url_ttl=url_ttl,
        media_dir=media_dir, rng_seed=seed, not_opened=frozenset(not_opened),
        callback_retry_delay=callback_retry_delay, rpm=rpm, verbose=verbose,
        wall_clock_timestamps=wall_clock_timestamps, lost_create_rate=lost_create_rate,
        lost_create_mode=lost_create_mode, lost_create_delay=lost_create_delay,
        queued_fields=queued_fields, fault_retry_after=fault_retry_after,
    )
    run_foreground(sim, host, port)


def run_foreground(sim: ArkSimulator, host: str, port: int, signals: Iterable[int] | None = None) -> None:
    """Start, print the base URL, block until a signal, stop."""
    done = threading.Event()

    def _handler(signum: int, frame: object) -> None:
        done.set()

    for sig in signals or (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _handler)
    url = sim.start(host, port)
    print(f"Ark simulator listening: {url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        sim.stop()
        print("Ark simulator stopped", flush=True)


@app.command("feishu")
def feishu(
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 18080,
    webhook: Annotated[
        str | None, typer.Option(help="The bot's event URL, e.g. http://127.0.0.1:8000/feishu/events")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Interface to bind; lark-oapi allows http only on loopback.")
    ] = "127.0.0.1",
    app_id: Annotated[str, typer.Option(help="FEISHU_APP_ID the bot uses.")] = "cli_sim_app",
    app_secret: Annotated[str, typer.Option(help="FEISHU_APP_SECRET the bot uses.")] = "sim-secret",
    encrypt_key: Annotated[str, typer.Option(help="FEISHU_ENCRYPT_KEY; empty = plaintext events.")] = "",
    verification_token: Annotated[
        str, typer.Option(help="FEISHU_VERIFICATION_TOKEN.")
    ] = "sim-verification-token",
    bot_open_id: Annotated[
        str, typer.Option(help="The bot's open_id (bot/v3/info, mentions).")
    ] = "ou_bot_sim",
    bot_name: Annotated[str, typer.Option(help="The bot's display name.")] = "VideoBot",
    ack_timeout: Annotated[
        float, typer.Option(help="Seconds before an event counts as unacknowledged.")
    ] = 3.0,
    retry_schedule: Annotated[
        str, typer.Option(help="Comma-separated redelivery delays in seconds.")
    ] = "0.5,2,5,10",
    chat_qps: Annotated[int, typer.Option(help="Messages per second per chat (0 = unlimited).")] = 5,
    fault_rate: Annotated[float, typer.Option(help="Share of Open API calls failed with 429/500.")] = 0.0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Per-operation fault rate OP:STATUS:RATE[:after] (repeatable), e.g. reply:500:0.1:after. "
            "OP: token, bot_info, send, reply, patch, get_message, card_update, upload_file, "
            "upload_image, resource, reaction or * (all but token); STATUS: 429 or 5xx; :after = "
            "the work is done (message posted) but the answer is the error.",
        ),
    ] = None,
    app_qps: Annotated[
        int, typer.Option(help="send/reply per second per app before HTTP 429 (0 = unlimited).")
    ] = 0,
    ratelimit_reset: Annotated[
        float, typer.Option(help="x-ogw-ratelimit-reset seconds on injected 429s.")
    ] = 1.0,
    delivery: Annotated[
        str, typer.Option(help="How events and card clicks reach the bot: auto (over the long connection while "
                               "a lark-oapi ws client is connected, else the webhook), websocket or webhook.")
    ] = "auto",
    without_scope: Annotated[
        list[str] | None,
        typer.Option(help="A scope the app lacks (repeatable), e.g. im:resource: listed as not added by "
                          "GET /open-apis/application/v6/scopes, and the calls that need it get 99991672."),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Log every HTTP request.")] = False,
) -> None:
    """Run the Feishu/Lark simulator in the foreground until Ctrl-C / SIGTERM.

    Run-time control (not part of Feishu): POST /__sim__/send, /__sim__/click, GET /__sim__/messages,
    /__sim__/requests, GET/POST /__sim__/config, GET/POST/DELETE /__sim__/faults, e.g.
    {"op": "reply", "status": 500, "count": 1, "when": "after"}. Long connection (lark-oapi's
    `lark.ws.Client`, FEISHU_CONNECTION=websocket): POST /callback/ws/endpoint, GET/POST /__sim__/longconn.
    """
    schedule = tuple(float(x) for x in retry_schedule.split(",") if x.strip())
    if delivery not in DELIVERY_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(DELIVERY_MODES)}", param_hint="--delivery")
    try:
        faults = [parse_cli_fault(x) for x in fault or []]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    sim = FeishuSimulator(
        app_id=app_id,
        app_secret=app_secret,
        encrypt_key=encrypt_key,
        verification_token=verification_token,
        webhook_url=webhook,
        bot_open_id=bot_open_id,
        bot_name=bot_name,
        ack_timeout=ack_timeout,
        retry_schedule=schedule,
        chat_qps=chat_qps,
        fault_rate=fault_rate,
        faults=faults,
        app_qps=app_qps,
        ratelimit_reset=ratelimit_reset,
        delivery=delivery,
    )
    sim.scopes.configure(revoke=without_scope or ())
    origin = sim.start(host, port, quiet=not verbose)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    typer.echo(
        f"feishu simulator listening on {origin} (FEISHU_DOMAIN={origin}); webhook: {webhook or '-'}",
        err=False,
    )
    typer.echo(f'users\' side: POST {origin}/__sim__/send {{"text": "/video a kitten yawning"}}')
    typer.echo(f"chat playground (the users' side in a browser): {origin}/playground")
    while not done.wait(0.5):
        pass
    sim.stop()
    typer.echo("feishu simulator stopped")
