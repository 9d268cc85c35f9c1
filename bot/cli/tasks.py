"""`seedance-bot create | status | wait | list | delete`: the seed skill's CLI, reproduced.

The seed (`shared/reference/seed-seedance-skill.txt`) shipped `seedance_byteplus.py`
with these commands and flags; operators keep using them here. Everything that
can be checked locally (model capabilities, parameter ranges, image limits) is
checked before the first request, so a mistake costs nothing.

Exit codes (also in every command's help):
  0 ok · 2 usage or validation error (nothing was sent) · 3 API, network or
  download error · 4 the task ended failed, expired or cancelled.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import requests
import typer
from pydantic import ValidationError
from rich import box
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand

from bot import catalogue
from bot.catalogue import Mode
from bot.clients.ark import STATUSES, ArkClient, Task, validate_task_id
from bot.config import MissingSettingError, Settings, load_settings
from bot.download import download_to_file
from bot.errors import ArkAmbiguousError, ArkError, DownloadError, SpecError
from bot.images import heic_allowed, is_remote, load_image_source
from bot.spec import ImageInput, VideoSpec, build_create_body, resolve

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_API = 3
EXIT_TASK = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 2 usage or validation error (nothing sent); "
    "3 API, network or download error; 4 task failed, expired or cancelled."
)

TRUE_WORDS = frozenset({"true", "yes", "1", "on", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "0", "off", "n", "f"})
BOOL_WORDS = TRUE_WORDS | FALSE_WORDS
BOOL_OPTIONS = ("--camera-fixed", "--watermark", "--generate-audio", "--draft", "--return-last-frame")
MULTI_VALUE_OPTIONS = ("--ref-images",)

T = TypeVar("T")


# ----------------------------------------------------------------------------- argument forms


def normalise_args(args: list[str]) -> list[str]:
    """Rewrite the seed's argument forms into ones click parses.

    - `--ref-images a.jpg b.jpg` → `--ref-images a.jpg --ref-images b.jpg`
      (click has no variadic options; the values run until the next `-…` token);
    - a bare boolean flag (`--draft --wait`) → `--draft true`; `--no-draft` → `--draft false`.
    """
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            out.extend(args[i:])
            break
        name, eq, _ = a.partition("=")
        if name in BOOL_OPTIONS and not eq:
            # `create` takes no positional arguments, so a following non-option token is
            # this flag's value (and parse_bool says so if it isn't a boolean word).
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                out += [a, args[i + 1]]
                i += 2
                continue
            out += [a, "true"]
        elif a.startswith("--no-") and f"--{a[5:]}" in BOOL_OPTIONS:
            out += [f"--{a[5:]}", "false"]
        elif a in MULTI_VALUE_OPTIONS:
            j = i + 1
            while j < len(args) and not args[j].startswith("-"):
                out += [a, args[j]]
                j += 1
            if j == i + 1:
                out.append(a)  # no value: let click report it
            i = j
            continue
        else:
            out.append(a)
        i += 1
    return out


class SeedArgsCommand(TyperCommand):
    """A command that accepts the seed's multi-value and bare-boolean option forms."""

    # `ctx` is typer's vendored click Context; typed Any to avoid importing a private module.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, normalise_args(args))


def parse_bool(name: str, value: str | None) -> bool | None:
    """true/false/yes/no/1/0/on/off (any case) → bool; None stays None."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in TRUE_WORDS:
        return True
    if v in FALSE_WORDS:
        return False
    raise typer.BadParameter(f"{value!r} is not a boolean: use true or false", param_hint=name)


# ----------------------------------------------------------------------------- output helpers


def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _out_console() -> Console:
    return Console(highlight=False)


def _echo_err(text: str) -> None:
    typer.echo(text, err=True)


def _fail(code: int, message: str, hint: str | None = None) -> NoReturn:
    _echo_err(f"Error: {message}")
    if hint:
        _echo_err(f"Hint: {hint}")
    raise typer.Exit(code)


def api_error_hint(err: ArkError) -> str | None:
    """What to try after an error answer from the API (create/get/list/delete)."""
    code = err.code or ""
    if isinstance(err, ArkAmbiguousError):
        return (
            "the task may have been created anyway. Run `seedance-bot list` and look for it before "
            "creating again (a duplicate task is billed twice)."
        )
    if code == "AuthenticationError" or err.status == 401:
        return "check ARK_API_KEY (and that ARK_BASE_URL is the region the key belongs to)."
    if code == "ModelNotOpen":
        return "activate this model in the ModelArk console, or pick another with --model."
    if code.startswith(("InvalidEndpointOrModel", "InvalidEndpoint")):
        return ("check the model ID (BytePlus IDs end in a date, e.g. seedance-1-5-pro-251215) "
                "and ARK_BASE_URL.")
    if code in ("QuotaExceeded", "SetLimitExceeded"):
        return "the account's quota or spending limit is used up; raise it in the console."
    if code.startswith(("AccountOverdue", "OperationDenied", "AccessDenied")):
        return "the account can't use this service right now (billing or permissions); see the console."
    if "PrivacyInformation" in code:
        return "the image seems to show a real person, which is refused; use another image."
    if code.startswith(("InputImage", "InputVideo")):
        return "an input image was refused by moderation; try a different image."
    if code.startswith(("InputText", "SensitiveContent", "ContentSecurity")):
        return "the prompt was refused by moderation; rephrase it."
    if code.startswith("InvalidParameter") or code == "MissingParameter":
        return f"the service rejected parameter {err.param or '?'}; see `seedance-bot create --help`."
    if err.status == 404 or code.startswith("NotFound") or code == "ResourceNotFound":
        return "unknown task id (tasks are kept for 7 days)."
    if err.retryable or err.status == 429 or (err.status or 0) >= 500 or err.status is None:
        return "the service is busy or unreachable; try again in a minute."
    return None


def task_failure_hint(task: Task) -> str:
    """What to try after a task ended without a video."""
    code = task.error_code or ""
    if task.status == "expired":
        return (
            "the task stayed queued/running past its deadline (--expires-after). Try again later, "
            "allow more time with --expires-after (up to 259200), or use --service-tier flex for "
            "work that can wait."
        )
    if task.status == "cancelled":
        return "the task was cancelled (deleted while queued). Create it again if you still want it."
    if "Audio" in code:
        return "the generated audio was refused by moderation; try again with --generate-audio false."
    if code.startswith("OutputVideoSensitiveContentDetected") or "Sensitive" in code:
        return (
            "the generated video was refused by moderation. Rephrase the prompt (avoid real people, "
            "brands, violence); resubmitting the same request sometimes passes too."
        )
    if code.startswith("Input"):
        return "an input was refused; change the prompt or image."
    return "try again; if it keeps failing, change the prompt or try another model."


def _fmt_time(ts: int | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _task_lines(task: Task) -> list[tuple[str, str]]:
    rows: list[tuple[str, Any]] = [
        ("id", task.id), ("status", task.status), ("model", task.model),
        ("created", _fmt_time(task.created_at)), ("updated", _fmt_time(task.updated_at)),
        ("resolution", task.resolution), ("ratio", task.ratio),
        ("duration", f"{task.duration} s" if task.duration is not None else None),
        ("frames", task.frames), ("fps", task.framespersecond), ("seed", task.seed),
        ("audio", task.generate_audio), ("draft", task.draft), ("draft task", task.draft_task_id),
        ("service tier", task.service_tier), ("expires after", task.execution_expires_after),
        ("tokens", task.total_tokens), ("video url", task.video_url), ("last frame url", task.last_frame_url),
        ("error", f"{task.error_code}: {task.error_message}"
         if task.error_code or task.error_message else None),
    ]
    return [(k, str(v)) for k, v in rows if v is not None and v != ""]


def _print_task(task: Task) -> None:
    for key, value in _task_lines(task):
        typer.echo(f"{key + ':':<16}{value}")


# ----------------------------------------------------------------------------- plumbing


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        _fail(EXIT_USAGE, f"invalid configuration: {exc.errors()[0].get('msg', exc)}")


def _client(settings: Settings) -> ArkClient:
    try:
        key = settings.require_ark_key()
    except MissingSettingError as exc:
        _fail(EXIT_USAGE, str(exc))
    return ArkClient(settings.ark_base_url, key, timeout=settings.ark_timeout)


def _guard(fn: Callable[[], T], *, resume_hint: str | None = None) -> T:
    """Run a command body, turning our exceptions into a message and an exit code."""
    try:
        return fn()
    except SpecError as exc:  # includes ImageError
        _fail(EXIT_USAGE, exc.render("en"))
    except ArkError as exc:
        rid = f" (request id {exc.request_id})" if exc.request_id else ""
        _fail(EXIT_API, f"{exc}{rid}", api_error_hint(exc))
    except DownloadError as exc:
        hint = (
            "run `seedance-bot status <id>` for a fresh link and download again"
            if exc.reason == "expired"
            else "check the network and disk, then run `seedance-bot wait <id> --download DIR`"
        )
        _fail(EXIT_API, str(exc), hint)
    except KeyboardInterrupt:
        if resume_hint:
            _echo_err(f"\nInterrupted. The task keeps running on the service; resume with: {resume_hint}")
        else:
            _echo_err("\nInterrupted. If a task was being created, `seedance-bot list` shows "
                      "whether it exists.")
        raise typer.Exit(EXIT_INTERRUPTED) from None


def poll_delays(expected: float, *, floor: float = 0.2, cap: float = 15.0) -> Iterator[float]:
    """Seconds to wait before each status check of a task expected to take `expected` seconds.

    One early look (an instant failure or a long queue shows up quickly), then a
    check shortly before the expected finish, then checks that start a tenth of
    the expected time apart and grow by half each time, capped at `cap` — far
    fewer requests than a fixed 15 s poll for long jobs, and no 15 s lag for short ones.
    """
    expected = max(0.0, expected)
    early = min(5.0, max(floor, expected * 0.1))
    yield early
    yield max(floor, expected * 0.8 - early)
    step = min(cap, max(floor, expected * 0.1))
    while True:
        yield step
        step = min(cap, step * 1.5)


def expected_seconds(settings: Settings, model: str | None, resolution: str | None,
                     duration: int | None) -> float:
    """Typical generation time from the catalogue, scaled by SEEDANCE_EXPECTED_TIME_FACTOR."""
    info = catalogue.get(model) if model else None
    res = resolution or "720p"
    dur = duration if duration is not None else 5
    base = info.expected_seconds(res, dur) if info else 90.0 * (8 if dur == -1 else dur) / 10
    return base * settings.expected_time_factor


def wait_for_task(client: ArkClient, task_id: str, expected: float, *, started_at: float | None = None,
                  sleep: Callable[[float], None] = time.sleep) -> Task:
    """Poll until the task is terminal, showing status, elapsed and expected time on stderr.

    `started_at` (epoch seconds, e.g. the task's `created_at`) makes "elapsed" count
    from the task's creation rather than from now; implausible values are ignored.
    """
    console = _err_console()
    now = time.time()
    origin = started_at if started_at is not None and 0 <= now - started_at < 7 * 86400 else now
    last_status: str | None = None
    delays = poll_delays(max(0.0, expected - (now - origin)))  # an old task needs no long first wait
    typical = f"~{max(1.0, expected):.0f}s"

    def line(status: str) -> str:
        elapsed = time.time() - origin
        if status == "queued":
            return f"queued · {elapsed:.0f}s elapsed · waiting for a slot, then typically {typical}"
        return f"{status} · {elapsed:.0f}s elapsed · typically {typical}"

    with console.status(line("checking"), spinner="dots") as spinner:
        while True:
            task = client.get(task_id)
            if task.status != last_status:
                console.print(f"[{time.time() - origin:6.1f}s] {task.status}", markup=False)
                last_status = task.status
            if task.is_terminal:
                return task
            next_check = time.monotonic() + next(delays)
            while (left := next_check - time.monotonic()) > 0:
                spinner.update(line(task.status))
                sleep(min(0.5, left))


def _save_results(task: Task, directory: Path, settings: Settings) -> list[Path]:
    """Download the video (and last frame) right away: result URLs expire after 24 h."""
    directory = directory.expanduser()
    saved: list[Path] = []
    with requests.Session() as session:
        if task.video_url:
            dest = directory / f"seedance_{task.id}.mp4"
            download_to_file(session, task.video_url, dest, max_bytes=settings.max_video_bytes,
                             timeout=settings.download_timeout)
            saved.append(dest)
        if task.last_frame_url:
            dest = directory / f"seedance_{task.id}_last_frame.png"
            download_to_file(session, task.last_frame_url, dest, max_bytes=settings.max_video_bytes,
                             timeout=settings.download_timeout)
            saved.append(dest)
    return saved


def _finish(task: Task, download: Path | None, settings: Settings) -> None:
    """Report a terminal task; download on success; exit 4 if it produced no video."""
    if not task.succeeded:
        what = f"{task.error_code}: {task.error_message}" if task.error_code else (task.error_message or "")
        _echo_err(f"Task {task.id} {task.status}{': ' + what if what else ''}")
        _echo_err(f"Hint: {task_failure_hint(task)}")
        raise typer.Exit(EXIT_TASK)
    details = [x for x in (task.resolution, task.ratio,
                           f"{task.duration} s" if task.duration is not None else None,
                           f"seed {task.seed}" if task.seed is not None else None,
                           f"{task.total_tokens} tokens" if task.total_tokens is not None else None) if x]
    typer.echo(f"Task {task.id} succeeded" + (f" ({', '.join(details)})" if details else ""))
    if download is not None:
        for path in _save_results(task, download, settings):
            label = "Last frame" if path.suffix == ".png" else "Video"
            typer.echo(f"{label} saved to: {path}")
    else:
        if task.video_url:
            typer.echo(f"Video URL: {task.video_url}")
        if task.last_frame_url:
            typer.echo(f"Last frame URL: {task.last_frame_url}")
        typer.echo("These links expire 24 h after generation; use --download DIR to keep the files.")


# ----------------------------------------------------------------------------- commands

BoolOpt = Annotated[str | None, typer.Option(metavar="true|false", show_default=False)]


def create(
    prompt: Annotated[str | None, typer.Option("--prompt", help="What the video shows.")] = None,
    image: Annotated[str | None, typer.Option(
        "--image", help="First-frame image: local file or http(s) URL (also data:, asset://).")] = None,
    last_frame: Annotated[str | None, typer.Option(
        "--last-frame", help="Last-frame image (with --image).")] = None,
    ref_images: Annotated[list[str] | None, typer.Option(
        "--ref-images", help="1-4 reference images (Lite I2V; 1-9 on 2.0): `--ref-images a.jpg b.jpg`.",
    )] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Model ID or alias (default: SEEDANCE_DEFAULT_MODEL, else seedance-1-5-pro-251215).",
    )] = None,
    ratio: Annotated[str | None, typer.Option(
        "--ratio", help="16:9 4:3 1:1 3:4 9:16 21:9 adaptive (default 16:9 text, adaptive image).")] = None,
    duration: Annotated[int | None, typer.Option(
        "--duration", help="Seconds: 4-12 on 1.5 Pro, 2-12 on 1.0, -1 = model picks (1.5 Pro/2.0).")] = None,
    resolution: Annotated[str | None, typer.Option(
        "--resolution", help="480p 720p 1080p (4k on 2.0).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="-1 (random) to 4294967295.")] = None,
    camera_fixed: Annotated[str | None, typer.Option(
        "--camera-fixed", metavar="true|false", help="Keep the camera still.")] = None,
    watermark: Annotated[str | None, typer.Option(
        "--watermark", metavar="true|false", help="Add the AI-generated mark.")] = None,
    generate_audio: Annotated[str | None, typer.Option(
        "--generate-audio", metavar="true|false", help="Generate sound (1.5 Pro, 2.0; default true).",
    )] = None,
    draft: Annotated[str | None, typer.Option(
        "--draft", metavar="true|false", help="Cheap 480p preview (1.5 Pro only).")] = None,
    draft_task_id: Annotated[str | None, typer.Option(
        "--draft-task-id", help="Render the final video from this succeeded draft task.")] = None,
    return_last_frame: Annotated[str | None, typer.Option(
        "--return-last-frame", metavar="true|false", help="Also return the last frame (PNG).")] = None,
    service_tier: Annotated[str | None, typer.Option(
        "--service-tier", help="default (online) or flex (offline, half price; not on 2.0).")] = None,
    expires_after: Annotated[int | None, typer.Option(
        "--expires-after", "--execution-expires-after",
        help="Give up after N seconds (3600-259200; default 172800).")] = None,
    callback_url: Annotated[str | None, typer.Option(
        "--callback-url", help="URL the service POSTs status changes to.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result, showing progress.")] = False,
    download: Annotated[Path | None, typer.Option(
        "--download", help="Save the video into DIR as seedance_<task_id>.mp4 (implies --wait).",
        file_okay=False, dir_okay=True)] = None,
) -> None:
    """Create a video task (text, first frame, first+last frame, reference images, draft or final).

    Everything is validated locally before the request: an impossible combination
    exits with code 2 and nothing is sent.

    Exit codes: 0 ok; 2 usage or validation error (nothing sent); 3 API, network
    or download error; 4 task failed, expired or cancelled.
    """
    settings = _settings()
    client = _client(settings)
    # Parse every flag before anything is sent.
    b_camera_fixed = parse_bool("--camera-fixed", camera_fixed)
    b_watermark = parse_bool("--watermark", watermark)
    b_audio = parse_bool("--generate-audio", generate_audio)
    b_draft = parse_bool("--draft", draft)
    b_last_frame = parse_bool("--return-last-frame", return_last_frame)
    images: list[ImageInput] = []
    if image:
        images.append(ImageInput(image, "first_frame"))
    if last_frame:
        images.append(ImageInput(last_frame, "last_frame"))
    images += [ImageInput(r, "reference_image") for r in ref_images or ()]

    def run() -> None:
        if service_tier is not None and service_tier not in ("default", "flex"):
            raise SpecError("bad_tier", value=service_tier)
        spec = VideoSpec(
            prompt=prompt, model=model, images=tuple(images), draft_task_id=draft_task_id,
            ratio=ratio, duration=duration, resolution=resolution.lower() if resolution else None,
            seed=seed, service_tier=service_tier,  # type: ignore[arg-type]  # checked just above
            execution_expires_after=expires_after, callback_url=callback_url,
            camera_fixed=b_camera_fixed, watermark=b_watermark, generate_audio=b_audio, draft=b_draft,
            return_last_frame=b_last_frame,
        )
        resolved = resolve(spec, default_model=settings.seedance_default_model)
        for w in resolved.warnings:
            _echo_err(f"Warning: {w}")
        allow_heic = heic_allowed(resolved.model)
        urls = {
            img.source: load_image_source(img.source, allow_heic=allow_heic)
            for img in resolved.images if not is_remote(img.source)
        }
        body = build_create_body(resolved, urls)
        with client:
            task_id = client.create(body)
            typer.echo(f"Task created: {task_id}")
            if not (wait or download is not None):
                typer.echo(f"Check it with: seedance-bot status {task_id}")
                return
            info = catalogue.get(resolved.model or "")
            duration_s = resolved.duration if resolved.mode is not Mode.DRAFT_FINAL else 5
            expected = expected_seconds(settings, info.id if info else None, resolved.resolution, duration_s)
            resume = f"seedance-bot wait {task_id}" + (f" --download {download}" if download else "")
            task = _guard(lambda: wait_for_task(client, task_id, expected), resume_hint=resume)
            _finish(task, download, settings)

    _guard(run)


def status(
    task_id: Annotated[str, typer.Argument(help="The task id (cgt-…).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the task object as JSON.")] = False,
) -> None:
    """Show one task's status and details.

    Exit codes: 0 ok (whatever the task's status); 2 usage error; 3 API or network error.
    """
    settings = _settings()

    def run() -> None:
        with _client(settings) as client:
            task = client.get(task_id)
        if as_json:
            typer.echo(json.dumps(dict(task.raw), ensure_ascii=False, indent=2))
        else:
            _print_task(task)
            if task.status in ("failed", "expired", "cancelled"):
                _echo_err(f"Hint: {task_failure_hint(task)}")

    _guard(_checked_id(task_id, run))


def wait_cmd(
    task_id: Annotated[str, typer.Argument(help="The task id (cgt-…).")],
    download: Annotated[Path | None, typer.Option(
        "--download", help="Save the video into DIR as seedance_<task_id>.mp4.",
        file_okay=False, dir_okay=True)] = None,
) -> None:
    """Wait for an existing task to finish, then download or print its result.

    Exit codes: 0 ok; 2 usage error; 3 API, network or download error; 4 task
    failed, expired or cancelled.
    """
    settings = _settings()

    def run() -> None:
        with _client(settings) as client:
            first = client.get(task_id)
            if first.is_terminal:
                task = first
            else:
                expected = expected_seconds(settings, first.model, first.resolution, first.duration)
                resume = f"seedance-bot wait {task_id}" + (f" --download {download}" if download else "")
                task = _guard(lambda: wait_for_task(client, task_id, expected, started_at=first.created_at),
                              resume_hint=resume)
        _finish(task, download, settings)

    _guard(_checked_id(task_id, run))


def list_cmd(
    status_filter: Annotated[str | None, typer.Option(
        "--status", help="queued running succeeded failed cancelled expired.")] = None,
    page: Annotated[int, typer.Option("--page", min=1, max=500, help="Page number.")] = 1,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500, help="Tasks per page.")] = 10,
    model: Annotated[str | None, typer.Option("--model", help="Only this model/endpoint ID.")] = None,
    task_ids: Annotated[list[str] | None, typer.Option(
        "--task-id", help="Only these ids (repeatable).")] = None,
    service_tier: Annotated[str | None, typer.Option("--service-tier", help="default or flex.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {total, items} as JSON.")] = False,
) -> None:
    """List recent tasks (the service keeps 7 days), newest first.

    Exit codes: 0 ok; 2 usage error; 3 API or network error.
    """
    if status_filter is not None and status_filter not in STATUSES:
        raise typer.BadParameter(f"use one of: {', '.join(STATUSES)}", param_hint="--status")
    if service_tier is not None and service_tier not in ("default", "flex"):
        raise typer.BadParameter("use default or flex", param_hint="--service-tier")
    settings = _settings()

    def run() -> None:
        with _client(settings) as client:
            result = client.list(page_num=page, page_size=page_size, status=status_filter,
                                 task_ids=task_ids, model=model, service_tier=service_tier)
        if as_json:
            typer.echo(json.dumps({"total": result.total, "items": [dict(t.raw) for t in result.items]},
                                  ensure_ascii=False, indent=2))
            return
        table = Table(title=f"Tasks (page {page}: {len(result.items)} of {result.total})",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("id", no_wrap=True, min_width=24)
        table.add_column("status", no_wrap=True, min_width=9)
        table.add_column("model", no_wrap=True, min_width=7)
        table.add_column("created", no_wrap=True, min_width=11)
        table.add_column("output", no_wrap=True, min_width=12)
        table.add_column("error", no_wrap=True, overflow="ellipsis")
        for t in result.items:
            output = " ".join(x for x in (t.resolution, t.ratio,
                                          f"{t.duration}s" if t.duration is not None else None) if x)
            created = datetime.fromtimestamp(t.created_at).strftime("%m-%d %H:%M") if t.created_at else "-"
            info = catalogue.get(t.model) if t.model else None
            model_name = info.name.removeprefix("Seedance ") if info else (t.model or "-")
            table.add_row(t.id, t.status, model_name, created, output or "-", t.error_code or "")
        console = _out_console()
        if not console.is_terminal:
            console.width = max(console.width, 160)  # piped: don't fold ids and codes to 80 columns
        console.print(table)

    _guard(run)


def delete(
    task_id: Annotated[str, typer.Argument(help="The task id (cgt-…).")],
) -> None:
    """Cancel a queued task, or delete a finished one from the history.

    Running and already-cancelled tasks can't be deleted (the service refuses).
    Exit codes: 0 ok; 2 usage error; 3 API or network error.
    """
    settings = _settings()

    def run() -> None:
        with _client(settings) as client:
            before: Task | None
            try:
                before = client.get(task_id)
            except ArkError:
                before = None  # let DELETE give the authoritative answer
            try:
                client.delete(task_id)
            except ArkError as exc:
                if before is not None and before.status in ("running", "cancelled"):
                    _fail(EXIT_API, f"{exc}",
                          f"the task is {before.status}: running tasks can't be cancelled (wait for it to "
                          "finish, then delete it), and cancelled ones are removed automatically after 24 h.")
                raise
        verb = "cancelled" if before is not None and before.status == "queued" else "deleted"
        typer.echo(f"Task {task_id} {verb}.")

    _guard(_checked_id(task_id, run))


def _checked_id(task_id: str, fn: Callable[[], None]) -> Callable[[], None]:
    """Reject a malformed id as a usage error before any request."""
    try:
        validate_task_id(task_id)
    except ValueError as exc:
        _fail(EXIT_USAGE, str(exc))
    return fn


def register(app: typer.Typer) -> None:
    """Add the seed's commands to the root `seedance-bot` app."""
    app.command("create", cls=SeedArgsCommand)(create)
    app.command("status")(status)
    app.command("wait")(wait_cmd)
    app.command("list")(list_cmd)
    app.command("delete")(delete)


if __name__ == "__main__":  # pragma: no cover - `python -m bot.cli.tasks` for a quick try
    _app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    register(_app)
    sys.exit(_app())
