"""`seedance-bot demo`: the whole product on this machine, with no credentials and no network.

Starts, all on loopback:

* the BytePlus Ark simulator and the Feishu/Lark simulator (threads of this process),
* an embedded Redis (AOF on, like `serve`'s) under `BOT_DATA_DIR/demo/redis`, emptied at start,
* the bot itself: `seedance-bot serve` as a child process, configured for the simulators,

then plays a short conversation through the Feishu simulator, as a user would:
`/video a kitten yawning` in a group, a photo with a caption, `/draft a flower blooming` and a
press on the draft card's *Approve 720p* button. It prints what happened (the bot's replies,
the Ark tasks, the videos saved to `./demo-output/` with their pixel size and length) and then,
without `--once`, keeps everything running and shows how to talk to the bot with curl.

Exit status with `--once`: 0 when every step ended in a playable video, 1 otherwise.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from bot.engine.embedded_redis import EmbeddedRedis
    from bot.sim.ark import ArkSimulator
    from bot.sim.feishu import FeishuSimulator

JSON = dict[str, Any]

ARK_KEY = "demo-ark-key"
APP_ID = "cli_demo_app"
APP_SECRET = "demo-app-secret"
ENCRYPT_KEY = "demo-encrypt-key"
VERIFICATION_TOKEN = "demo-verification-token"
BOT_NAME = "VideoBot"
CHAT_ID = "oc_demo_group"
ALICE: JSON = {"open_id": "ou_demo_alice", "name": "Alice"}
DEFAULT_BOT_PORT = 8000
# Settings the child bot must not inherit from the caller's environment: the demo sets its own.
_BOT_ENV_PREFIXES = ("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_", "LOG_")


class DemoError(RuntimeError):
    """A part of the demo did not start or a step did not end in a video."""


# --- small helpers ---------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Text shown as is by rich (square brackets are markup otherwise)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _port_free(port: int, host: str = "0.0.0.0") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is fine
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bot_command() -> list[str]:
    """`seedance-bot` of this very environment (the console script, else this interpreter)."""
    script = Path(sys.executable).with_name("seedance-bot")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


def _demo_photo(width: int = 1280, height: int = 720) -> bytes:
    """A JPEG 'photo' to send with a caption: a sunset over hills (drawn, no files needed)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / height
        draw.line([(0, y), (width, y)], fill=(int(250 - 120 * t), int(150 - 90 * t), int(90 + 60 * t)))
    r = height // 7
    cx, cy = width * 2 // 3, height // 2
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 214, 120))
    hills = [(x, int(height * 0.68 + 40 * math.sin(x / 130) + 25 * math.sin(x / 47)))
             for x in range(0, width + 1, 8)]
    draw.polygon([(0, height), *hills, (width, height)], fill=(48, 70, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue()


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
    """Simulators, Redis and the bot; `start()` / `stop()`."""

    data_dir: Path
    output: Path
    speed: float
    bot_port: int
    feishu_port: int
    ark_port: int
    console: Console
    ark: ArkSimulator | None = None
    feishu: FeishuSimulator | None = None
    redis: EmbeddedRedis | None = None
    bot: subprocess.Popen[bytes] | None = None
    saved: dict[str, SavedVideo] = field(default_factory=dict)  # file_key → saved file
    _log: Any = None

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "bot.log"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        from bot.engine.embedded_redis import EmbeddedRedis
        from bot.redis_conn import connect
        from bot.sim.ark import ArkSimulator
        from bot.sim.feishu import FeishuSimulator

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.output.mkdir(parents=True, exist_ok=True)
        self.redis = EmbeddedRedis(self.data_dir)
        redis_url = self.redis.start()
        connect(redis_url).flushdb()  # every demo starts from an empty database
        ark = self.ark = ArkSimulator(api_key=ARK_KEY, speed=self.speed, rng_seed=7)
        ark_base = _start_on(lambda p: ark.start("127.0.0.1", p), self.ark_port)
        feishu = self.feishu = FeishuSimulator(
            app_id=APP_ID, app_secret=APP_SECRET, encrypt_key=ENCRYPT_KEY,
            verification_token=VERIFICATION_TOKEN, webhook_url=f"{self.bot_url}/feishu/events",
            bot_name=BOT_NAME,
        )
        feishu_origin = _start_on(lambda p: feishu.start("127.0.0.1", p), self.feishu_port)
        self.ark_port = int(ark_base.rsplit(":", 1)[1].split("/", 1)[0])
        self.feishu_port = int(feishu_origin.rsplit(":", 1)[1])

        env = {k: v for k, v in os.environ.items() if not k.startswith(_BOT_ENV_PREFIXES)}
        env.update({
            "ARK_API_KEY": ARK_KEY, "ARK_BASE_URL": ark_base,
            "SEEDANCE_EXPECTED_TIME_FACTOR": repr(1 / self.speed),
            # A fresh prefix per run: a bot left over from a killed demo can't take this run's events.
            "REDIS_URL": redis_url, "REDIS_PREFIX": f"demo-{secrets.token_hex(3)}",
            "FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET, "FEISHU_ENCRYPT_KEY": ENCRYPT_KEY,
            "FEISHU_VERIFICATION_TOKEN": VERIFICATION_TOKEN, "FEISHU_DOMAIN": feishu_origin,
            "BOT_PUBLIC_URL": self.bot_url, "BOT_PORT": str(self.bot_port),
            "BOT_DATA_DIR": str(self.data_dir), "LOG_LEVEL": "INFO", "LOG_JSON": "false",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
        })
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop(); this run only
        # cwd = the demo's own folder, so a `.env` of a real deployment is never read by this bot.
        # Its own session: Ctrl-C reaches the demo only, which then stops the bot in order.
        self.bot = subprocess.Popen([*_bot_command(), "serve"], env=env, cwd=str(self.data_dir),
                                    stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._wait_healthy(90)

    def _wait_healthy(self, timeout: float) -> None:
        import requests

        session = requests.Session()
        session.trust_env = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bot is not None and self.bot.poll() is not None:
                raise DemoError(f"the bot exited with status {self.bot.returncode} while starting; "
                                f"see {self.log_path}\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if session.get(f"{self.bot_url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise DemoError(f"the bot did not answer {self.bot_url}/healthz within {timeout:.0f} s; "
                        f"see {self.log_path}\n{self.log_tail()}")

    def stop(self) -> None:
        if self.bot is not None and self.bot.poll() is None:
            self.bot.terminate()
            try:
                self.bot.wait(30)
            except subprocess.TimeoutExpired:
                self.bot.kill()
                self.bot.wait(10)
        for part in (self.feishu, self.ark, self.redis):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def check_bot(self) -> None:
        if self.bot is not None and self.bot.poll() is not None:
            raise DemoError(f"the bot exited with status {self.bot.returncode}; see {self.log_path}")

    # --- what the chat shows ------------------------------------------------------------------------

    def messages(self) -> list[JSON]:
        assert self.feishu is not None
        return self.feishu.messages()

    def replies_to(self, source_id: str) -> list[JSON]:
        return [m for m in self.messages() if m.get("from_bot")
                and source_id in (m.get("root_id"), m.get("parent_id"))]

    def task_ids(self) -> set[str]:
        assert self.ark is not None
        return {str(t["id"]) for t in self.ark.tasks()}

    def tasks(self, ids: set[str]) -> list[JSON]:
        assert self.ark is not None
        return [t for t in self.ark.tasks() if t["id"] in ids]

    def save_video(self, message: JSON, prefix: str) -> SavedVideo:
        """Store the mp4 a media reply carries in the output folder and measure it."""
        from bot.media import probe

        assert self.feishu is not None
        key = str((message.get("content") or {}).get("file_key", ""))
        if key in self.saved:
            return self.saved[key]
        stored = self.feishu.file(key)
        match = re.search(r"cgt-[A-Za-z0-9-]+", stored.file_name or "")
        path = self.output / f"{prefix}{match.group(0) if match else key}.mp4"
        path.write_bytes(stored.data)
        info = probe(path)
        video = SavedVideo(path, match.group(0) if match else "", info.width, info.height, info.duration,
                           len(stored.data), info.has_audio)
        self.saved[key] = video
        return video


def _start_on(start: Callable[[int], str], preferred: int) -> str:
    """Start a simulator on `preferred` (0 = any), or on any free port when that one is taken."""
    try:
        return start(preferred)
    except (OSError, SystemExit):  # werkzeug exits (SystemExit) when the address is in use
        if preferred == 0:
            raise
        return start(0)


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
    assert demo.feishu is not None
    fs = demo.feishu
    steps: list[Step] = []

    def send(**kw: Any) -> str:
        r = fs.send(chat_id=CHAT_ID, chat_type="group", user=ALICE, mention_bot=True, **kw)
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
        image = fs.upload_user_image(_demo_photo())
        s.source_id = send(text="/video the sun slowly sets behind the hills", images=[image["image_key"]])
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
        clicked = fs.click(str(card["message_id"]), {"a": "approve_720p"}, user=ALICE)
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


def results_table(steps: list[Step], output: Path) -> Any:
    from rich.table import Table

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


def how_to_talk(demo: Demo) -> str:
    fs = f"http://127.0.0.1:{demo.feishu_port}"
    j = "-H 'Content-Type: application/json'"
    return "\n".join([
        "The bot is running. Talk to it through the Feishu simulator (you are 'Sim User' in a group):",
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
        f"ARK_BASE_URL=http://127.0.0.1:{demo.ark_port}/api/v3 seedance-bot list",
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
    from bot.config import load_settings

    try:
        base = load_settings().bot_data_dir
    except ValueError:  # an unreadable .env must not stop the demo
        base = Path("./data")
    return base / "demo"


def _bot_port(requested: int | None) -> int:
    if requested is not None:
        if requested and not _port_free(requested):
            raise DemoError(f"port {requested} is in use; pick another with --port (0 = any free port)")
        return requested or _free_port()
    return DEFAULT_BOT_PORT if _port_free(DEFAULT_BOT_PORT) else _free_port()


def demo(
    once: bool = typer.Option(False, "--once", help="Play the conversation, print the results and exit "
                              "(status 0 only if every step produced a video)."),
    port: int | None = typer.Option(None, help="The bot's port (default 8000, or any free port if taken); "
                                    "the Feishu simulator uses PORT+1 and the Ark simulator PORT+2 when free."),
    speed: float = typer.Option(60.0, min=1.0, help="Simulated Ark runs this many times faster than the real "
                                "service (a ~60 s video takes ~1 s at 60)."),
    output: Path = typer.Option(Path("demo-output"), help="Folder for the videos the bot posts."),
    data_dir: Path | None = typer.Option(None, help="Folder for the demo's Redis and logs "
                                         "(default: BOT_DATA_DIR/demo, i.e. ./data/demo)."),
    timeout: float = typer.Option(180.0, help="Seconds to wait for each step's video."),
) -> None:
    """Run the whole bot locally with simulated Feishu and Ark: no keys, no network.

    Starts the Ark and Feishu simulators, an embedded Redis and the bot
    (`seedance-bot serve`), plays a conversation (/video, a photo with a
    caption, /draft + Approve) and shows the replies, the Ark tasks and the
    saved mp4 files. Without --once it keeps running and shows how to chat
    with the bot (curl to the Feishu simulator).
    """
    from rich.console import Console

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
    d = Demo(data_dir=_data_dir(data_dir).resolve(), output=output.resolve(), speed=speed, bot_port=bot_port,
             feishu_port=base + 1 if base else 0, ark_port=base + 2 if base else 0, console=console)

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
            f"http://127.0.0.1:{d.feishu_port} · Ark simulator http://127.0.0.1:{d.ark_port}/api/v3 "
            f"(×{speed:g}) · Redis {d.redis.dir if d.redis else '?'}")
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
    except DemoError as exc:
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


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


__all__ = ["Demo", "DemoError", "Step", "play_conversation", "register"]
