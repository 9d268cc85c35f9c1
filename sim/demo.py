"""`seedance-bot demo`: the whole product on this machine, with no credentials and no network.

Starts a `LocalStack` (`sim.stack`), all on loopback:

* the BytePlus Ark simulator and the Feishu/Lark simulator (threads of this process),
* an embedded Redis (AOF on, like `serve`'s) under `BOT_DATA_DIR/demo/redis`, emptied at start,
* the bot itself: `seedance-bot serve` as a child process, configured for the simulators,

then plays a short conversation through the Feishu simulator, as a user would:
`/video a kitten yawning` in a group, a photo with a caption, `/draft a flower blooming` and a
press on the draft card's *Approve 720p* button. It prints what happened (the bot's replies,
the Ark tasks, the videos saved to `./demo-output/` with their pixel size and length) and then,
without `--once`, keeps everything running: the chat playground (`sim.playground`, its URL printed
at start-up and again after the conversation) lets a person chat with the bot in a browser, and
curl works too.

`bot.cli.demo` is the command (its options); `run()` here does the work.
Exit status with `--once`: 0 when every step ended in a playable video, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.config import load_settings
from bot.media import probe
from sim.playground import ALICE, GROUP_CHAT_ID, PATH, PEOPLE
from sim.playground.samples import sunset
from sim.stack import ARK_KEY, BOT_NAME, LocalStack, StackError, free_port

JSON = dict[str, Any]

CHAT_ID = GROUP_CHAT_ID  # the playground's group: the conversation shows there
DEFAULT_BOT_PORT = 8000


BOT = "bot"  # the bot's process: its log is BOT_DATA_DIR/demo/bot.log


class DemoError(StackError):
    """A part of the demo did not start or a step did not end in a video."""


# --- small helpers ---------------------------------------------------------------------------------


def _port_free(port: int, host: str = "0.0.0.0") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _demo_photo(width: int = 1280, height: int = 720) -> bytes:
    """A JPEG 'photo' to send with a caption: a sunset over hills (drawn, no files needed)."""
    return sunset(width, height)


def _card_title(content: Any) -> str:
    if isinstance(content, dict):
        header = content.get("header") or {}
        title = (header.get("title") or {}).get("content") if isinstance(header, dict) else None
        if title:
            return str(title)
    return "card"


def _card_buttons(content: Any) -> list[str]:
    out: list[str] = []
    body = content.get("body") if isinstance(content, dict) else None
    for el in (body or {}).get("elements", []) if isinstance(body, dict) else []:
        if isinstance(el, dict) and el.get("tag") == "button":
            out.append(str((el.get("text") or {}).get("content", "")))
    return out


def _describe(message: JSON) -> str:
    """One line for a chat message, as a person would see it."""
    kind = message.get("msg_type")
    if kind == "interactive":
        buttons = " ".join(f"[{b}]" for b in _card_buttons(message.get("content")))
        return f"card: {_card_title(message.get('content'))}" + (f"  {buttons}" if buttons else "")
    if kind == "media":
        return "video (playable in the chat)"
    text = str(message.get("text") or "").strip()
    text = re.sub(r"@_user_\d+\s*", f"@{BOT_NAME} ", text).strip()
    if kind == "image":
        return "photo"
    if kind == "post" and (message.get("content") or {}):
        has_image = "img" in json.dumps(message.get("content"))
        return (f"photo + “{text.replace(f'@{BOT_NAME} ', '')}”" if has_image else text) if text else "photo"
    return text if len(text) <= 160 else text[:157] + "…"


@dataclass
class SavedVideo:
    path: Path
    task_id: str
    width: int
    height: int
    seconds: float
    size: int
    audio: bool


@dataclass
class Step:
    number: int
    said: str
    source_id: str = ""
    replies: list[JSON] = field(default_factory=list)
    tasks: list[JSON] = field(default_factory=list)
    videos: list[SavedVideo] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.videos)


# --- the running product ----------------------------------------------------------------------------


@dataclass
class Demo:
    """The running product (a `LocalStack`) and the videos saved from its chat."""

    stack: LocalStack
    output: Path
    saved: dict[str, SavedVideo] = field(default_factory=dict)  # file_key → saved file

    @property
    def bot_url(self) -> str:
        return self.stack.bot_url

    @property
    def log_path(self) -> Path:
        return self.stack.log_path(BOT)

    def start(self) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        self.stack.start(("serve",), names=(BOT,), timeout=90)

    def stop(self) -> None:
        self.stack.stop()

    def log_tail(self, chars: int = 3000) -> str:
        return self.stack.log_tail(BOT, chars)

    def check_bot(self) -> None:
        try:
            self.stack.check_running()
        except StackError as exc:
            raise DemoError(str(exc)) from None

    # --- what the chat shows ------------------------------------------------------------------------

    def messages(self) -> list[JSON]:
        return self.stack.messages()

    def replies_to(self, source_id: str) -> list[JSON]:
        return [m for m in self.messages() if m.get("from_bot")
                and source_id in (m.get("root_id"), m.get("parent_id"))]

    def task_ids(self) -> set[str]:
        return {str(t["id"]) for t in self.stack.ark_tasks()}

    def tasks(self, ids: set[str]) -> list[JSON]:
        return [t for t in self.stack.ark_tasks() if t["id"] in ids]

    def save_video(self, message: JSON, prefix: str) -> SavedVideo:
        """Store the mp4 a media reply carries in the output folder and measure it."""
        key = str((message.get("content") or {}).get("file_key", ""))
        if key in self.saved:
            return self.saved[key]
        name = next((str(f.get("file_name") or "") for f in self.stack.files() if f.get("file_key") == key), "")
        data = self.stack.file(key)
        match = re.search(r"cgt-[A-Za-z0-9-]+", name)
        path = self.output / f"{prefix}{match.group(0) if match else key}.mp4"
        path.write_bytes(data)
        info = probe(path)
        video = SavedVideo(path, match.group(0) if match else "", info.width, info.height, info.duration,
                           len(data), info.has_audio)
        self.saved[key] = video
        return video


# --- the conversation ------------------------------------------------------------------------------------


def _wait_for(demo: Demo, step: Step, videos: int, timeout: float) -> None:
    """Until the source message has `videos` media replies (or a failed card, or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        demo.check_bot()
        replies = demo.replies_to(step.source_id)
        media = [m for m in replies if m.get("msg_type") == "media"]
        failed = [m for m in replies if m.get("msg_type") == "interactive"
                  and ((m.get("content") or {}).get("header") or {}).get("template") == "red"]
        if len(media) >= videos:
            step.replies = replies
            return
        if failed:
            step.replies = replies
            body = json.dumps(failed[0].get("content"), ensure_ascii=False)
            raise DemoError(f"the job failed: {_card_title(failed[0].get('content'))} {body[:300]}")
        if time.monotonic() > deadline:
            step.replies = replies
            seen = "; ".join(_describe(m) for m in replies) or "no reply at all"
            raise DemoError(f"no video after {timeout:.0f} s (the bot said: {seen}); see {demo.log_path}")
        time.sleep(0.2)


@contextlib.contextmanager
def _step(demo: Demo, step: Step) -> Iterator[None]:
    before = demo.task_ids()
    t0 = time.monotonic()
    try:
        yield
    except DemoError as exc:
        step.error = str(exc)
    finally:
        step.seconds = time.monotonic() - t0
        step.tasks = demo.tasks(demo.task_ids() - before)


def _collect(demo: Demo, step: Step) -> None:
    for m in step.replies:
        if m.get("msg_type") == "media":
            step.videos.append(demo.save_video(m, f"{step.number}-"))


def play_conversation(demo: Demo, timeout: float, console: Console) -> list[Step]:
    """The scripted conversation; every step waits for its video before the next one starts."""
    stack = demo.stack
    steps: list[Step] = []

    def send(**kw: Any) -> str:
        r = stack.send(chat_id=CHAT_ID, chat_type="group", user=ALICE, mention_bot=True, **kw)
        if r.get("status") != 200:
            raise DemoError(f"the bot did not accept the message: HTTP {r.get('status')} {r.get('error') or ''}")
        return str(r["message_id"])

    # 1. text to video in a group
    s = Step(1, f"@{BOT_NAME} /video a kitten yawning")
    steps.append(s)
    console.print(f"[bold]1.[/] Alice in a group: [cyan]{escape(s.said)}[/]")
    with _step(demo, s):
        s.source_id = send(text="/video a kitten yawning")
        _wait_for(demo, s, 1, timeout)
        _collect(demo, s)

    # 2. a photo with a caption: the photo is the first frame
    s = Step(2, f"[photo] + @{BOT_NAME} /video the sun slowly sets behind the hills")
    steps.append(s)
    console.print(f"[bold]2.[/] Alice sends a photo with the caption: [cyan]{escape(s.said)}[/]")
    with _step(demo, s):
        image = stack.user_image(data=_demo_photo())
        s.source_id = send(text="/video the sun slowly sets behind the hills", images=[image])
        _wait_for(demo, s, 1, timeout)
        _collect(demo, s)

    # 3. a cheap draft, then the Approve button on its card renders the final video
    s = Step(3, f"@{BOT_NAME} /draft a flower blooming  →  presses [Approve 720p]")
    steps.append(s)
    console.print(f"[bold]3.[/] Alice asks for a draft: [cyan]@{BOT_NAME} /draft a flower blooming[/]")
    with _step(demo, s):
        s.source_id = send(text="/draft a flower blooming")
        _wait_for(demo, s, 1, timeout)
        cards = [m for m in s.replies if m.get("msg_type") == "interactive"]
        card = next((m for m in cards if any(b.startswith(("Approve", "确认")) for b in
                                             _card_buttons(m.get("content")))), None)
        if card is None:
            deadline = time.monotonic() + 30
            while card is None and time.monotonic() < deadline:
                time.sleep(0.2)
                card = next((m for m in demo.replies_to(s.source_id) if m.get("msg_type") == "interactive"
                             and any(b.startswith(("Approve", "确认")) for b in
                                     _card_buttons(m.get("content")))), None)
        if card is None:
            raise DemoError("the draft's card shows no Approve button")
        console.print("   … the draft is ready; Alice presses [cyan]\\[Approve 720p][/] on its card")
        clicked = stack.click(str(card["message_id"]), {"a": "approve_720p"}, user=ALICE)
        if clicked.get("status") != 200:
            raise DemoError(f"the card button was refused: HTTP {clicked.get('status')}")
        _wait_for(demo, s, 2, timeout)
        _collect(demo, s)
    _settle(demo, steps)
    for s in steps:
        mark = "[green]ok[/]" if s.ok else f"[red]FAILED[/] {escape(s.error)}"
        console.print(f"   step {s.number}: {mark} ({s.seconds:.1f} s)")
    return steps


def _settle(demo: Demo, steps: list[Step], timeout: float = 10.0) -> None:
    """Re-read each thread once its cards stop changing (a card is patched just after its video)."""
    deadline = time.monotonic() + timeout
    while True:
        for s in steps:
            if s.source_id:
                s.replies = demo.replies_to(s.source_id)
        busy = [m for s in steps for m in s.replies if m.get("msg_type") == "interactive"
                and ((m.get("content") or {}).get("header") or {}).get("template") == "blue"]
        if not busy or time.monotonic() > deadline:
            return
        time.sleep(0.2)


# --- output ---------------------------------------------------------------------------------------------


def _task_line(task: JSON) -> str:
    mode = {"text": "text→video", "first_frame": "photo→video", "first_last": "first+last frame",
            "reference": "reference images", "draft_final": "final from draft"}.get(str(task.get("mode")),
                                                                                      str(task.get("mode")))
    body = task.get("body") or {}
    if body.get("draft") is True:
        mode = "draft"
    return f"{task['id']}\n  {mode}, {task.get('resolution')}, {task.get('status')}"


def results_table(steps: list[Step], output: Path) -> Table:
    table = Table(title="The conversation: Feishu simulator ⇄ the bot ⇄ Ark simulator", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("Alice wrote in the group")
    table.add_column("The bot replied to that message")
    table.add_column("Ark task")
    table.add_column(f"Video saved in {output}/")
    for s in steps:
        replies = "\n".join(f"• {escape(_describe(m))}" for m in s.replies) or "—"
        if s.error:
            replies += f"\n[red]{escape(s.error)}[/]"
        tasks = "\n".join(_task_line(t) for t in s.tasks) or "—"
        videos = "\n".join(
            f"{v.path.name}\n  {v.width}×{v.height}, {v.seconds:.1f} s, {v.size / 1e6:.2f} MB"
            + (", sound" if v.audio else "")
            for v in s.videos) or "[red]none[/]"
        table.add_row(f"{s.number}{'' if s.ok else ' ✗'}", escape(s.said), replies, tasks, videos)
    return table


def playground_url(demo: Demo) -> str:
    """The chat playground: a Feishu-like chat in the browser, served by the Feishu simulator."""
    return f"{demo.stack.feishu_url}{PATH}"


def how_to_talk(demo: Demo) -> str:
    fs = demo.stack.feishu_url
    j = "-H 'Content-Type: application/json'"
    names = ", ".join(p["name"] for p in PEOPLE[:-1]) + f" or {PEOPLE[-1]['name']}"
    return "\n".join([
        f"Open the chat playground: {playground_url(demo)}",
        f"  a Feishu-like chat in your browser: be {names}, in the group or a private chat with the bot;",
        "  send /video …, a photo with a caption, /draft … and press the card buttons.",
        "",
        "Or talk to it through the Feishu simulator with curl (you are 'Sim User' in a group):",
        "",
        "  # text to video (flags work as in the chat: --ratio 9:16 --duration 8 --resolution 1080p …)",
        f"  curl -s {fs}/__sim__/send {j} -d '{{\"text\": \"/video a red panda surfing --ratio 9:16\"}}'",
        "  # Chinese works too",
        f"  curl -s {fs}/__sim__/send {j} -d '{{\"text\": \"/视频 一只在阳光下打哈欠的小猫\"}}'",
        "  # a photo with a caption: upload a picture (or {\"data_b64\": …}), then send it",
        f"  curl -s {fs}/__sim__/images {j} -d '{{\"width\": 1280, \"height\": 720}}'",
        f"  curl -s {fs}/__sim__/send {j} -d '{{\"text\": \"/video slow zoom in\", \"images\": [\"<image_key>\"]}}'",
        "  # other commands: /help /models /status /list /quota /settings /draft …",
        f"  curl -s {fs}/__sim__/send {j} -d '{{\"text\": \"/help\"}}'",
        "  # what the chat shows, and pressing a card button (by label or value)",
        f"  curl -s {fs}/__sim__/messages",
        f"  curl -s {fs}/__sim__/click {j} -d '{{\"message_id\": \"<card message_id>\", \"button\": \"Reroll\"}}'",
        "",
        f"New replies are printed here; videos are saved to {demo.output}/. "
        f"Bot log: {demo.log_path}. Health: {demo.bot_url}/healthz, metrics: {demo.bot_url}/metrics.",
        f"The seed's CLI works against the Ark simulator too: ARK_API_KEY={ARK_KEY} "
        f"ARK_BASE_URL={demo.stack.ark_url} seedance-bot list",
        "Press Ctrl-C to stop.",
    ])


def watch_chat(demo: Demo, stop: threading.Event, console: Console) -> None:
    """Print every new message and card change; save every new video."""
    seen: dict[str, str] = {m["message_id"]: _describe(m) for m in demo.messages()}
    while not stop.wait(0.5):
        demo.check_bot()
        for m in demo.messages():
            line = _describe(m)
            mid = str(m["message_id"])
            if seen.get(mid) == line:
                continue
            first = mid not in seen
            seen[mid] = line
            who = BOT_NAME if m.get("from_bot") else (m.get("sender_name") or "user")
            if m.get("msg_type") == "media":
                try:
                    v = demo.save_video(m, "")
                    line = f"video {v.path} ({v.width}×{v.height}, {v.seconds:.1f} s)"
                except Exception as exc:  # keep watching whatever one file does
                    line = f"video (not saved: {exc})"
            verb = "" if first else "(updated) "
            arrow = "←" if m.get("from_bot") else "→"
            console.print(f"{arrow} {who}: {verb}{line}", markup=False, highlight=False)


# --- the command --------------------------------------------------------------------------------------------


def _data_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    try:
        base = load_settings().bot_data_dir
    except ValueError:  # an unreadable .env must not stop the demo
        base = Path("./data")
    return base / "demo"


def _bot_port(requested: int | None) -> int:
    if requested is not None:
        if requested and not _port_free(requested):
            raise DemoError(f"port {requested} is in use; pick another with --port (0 = any free port)")
        return requested or free_port()
    return DEFAULT_BOT_PORT if _port_free(DEFAULT_BOT_PORT) else free_port()


def run(*, once: bool, port: int | None, speed: float, output: Path, data_dir: Path | None,
        timeout: float) -> None:
    """`seedance-bot demo` (its options are documented there): start, play, show, stop."""
    # The simulators in this process post to the bot on loopback: never through a proxy.
    for name in ("NO_PROXY", "no_proxy"):
        present = [x for x in os.environ.get(name, "").split(",") if x.strip()]
        os.environ[name] = ",".join(dict.fromkeys([*present, "127.0.0.1", "localhost"]))
    console = Console()
    if not console.is_terminal:  # a log or a pipe: room for the table
        console = Console(width=150)
    try:
        bot_port = _bot_port(port)
    except DemoError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    base = port if port else (bot_port if bot_port == DEFAULT_BOT_PORT else 0)
    here = _data_dir(data_dir).resolve()
    stack = LocalStack(
        workdir=here, bot_data_dir=here, simulators="thread", speed=speed, bot_port=bot_port,
        feishu_port=base + 1 if base else 0, ark_port=base + 2 if base else 0, chat_id=CHAT_ID, user=ALICE,
        # A fresh prefix per run: a bot left over from a killed demo can't take this run's events.
        redis_prefix=f"demo-{secrets.token_hex(3)}",
    )
    d = Demo(stack=stack, output=output.resolve())

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)  # the terminal closed
    ok = False
    try:
        with console.status("Starting the Ark simulator, the Feishu simulator, Redis and the bot…"):
            t0 = time.monotonic()
            d.start()
        console.print(
            f"[green]Running[/] in {time.monotonic() - t0:.1f} s — bot {d.bot_url} · Feishu simulator "
            f"{stack.feishu_url} · Ark simulator {stack.ark_url} "
            f"(×{speed:g}) · Redis {stack.redis.dir if stack.redis else stack.redis_url}")
        if once:
            console.print("[dim]Without --once the demo keeps running: chat with the bot in your browser "
                          "(the chat playground).[/]")
        else:
            console.print(f"[bold]Open the chat playground:[/] [bold cyan]{playground_url(d)}[/] "
                          "— watch this conversation live, then chat with the bot yourself.")
        steps = play_conversation(d, timeout, console)
        console.print(results_table(steps, d.output))
        ok = all(s.ok for s in steps)
        videos = sum(len(s.videos) for s in steps)
        if ok:
            console.print(f"[green]All {len(steps)} steps ended in a playable video[/] "
                          f"({videos} mp4 files in {d.output}).")
        else:
            console.print(f"[red]Some steps failed.[/] Bot log ({d.log_path}), last lines:")
            console.print(d.log_tail(), markup=False, highlight=False)
        if not once:
            console.print(how_to_talk(d), markup=False, highlight=False)
            try:
                watch_chat(d, stop, console)
            except KeyboardInterrupt:
                console.print("Stopping…")
    except StackError as exc:  # DemoError too
        console.print(f"[red]The demo failed:[/] {exc}")
        ok = False
    except KeyboardInterrupt:
        console.print("Stopping…")
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # nothing may cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        with console.status("Stopping the bot, the simulators and Redis…"):
            d.stop()
    if once and not ok:
        raise typer.Exit(1)


__all__ = ["ALICE", "CHAT_ID", "Demo", "DemoError", "Step", "play_conversation", "playground_url", "run"]
