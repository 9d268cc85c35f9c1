"""`seedance-bot sim ark`: run the Ark simulator in the foreground (see `bot.sim.ark`)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from bot.sim.ark import ArkSimulator

def register_cli(sim_app: typer.Typer) -> None:
    """Add `seedance-bot sim ark`."""

    @sim_app.command("ark")
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
        from bot.sim.ark import ArkSimulator
        from bot.sim.ark_faults import LOST_CREATE_MODES
        from bot.sim.ark_state import QUEUED_FIELDS

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
