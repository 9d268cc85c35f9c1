"""The chat playground in a real browser: headless Chromium drives the page `seedance-bot demo` serves.

No mocks: the real demo (Feishu and Ark simulators, Redis, the bot as a process) runs as a
subprocess, exactly as `bash deploy/run.sh` starts it, and Playwright for Python drives Debian's
`/usr/bin/chromium` (`executable_path`: Playwright's own browser download is never used). Every
wait is on a condition in the page. The steps:

1. Alice, in the group, @mentions the bot from the mention menu: `/video a kitten yawning` → the
   bot's card goes Queued → Generating → Video ready on the page, live, and the `<video>` plays
   (readyState ≥ 2, duration = the Ark task's, 1280×720).
2. A photo with a caption → an image-to-video task (first frame) → its video plays; a reply to that
   photo (hover, Reply) → another video from it.
3. `/draft a flower blooming` → the draft card; Bob presses Approve → refused (toast, no new task);
   Alice presses it → the final video.
4. The private chat: `/help` without a mention → the help card.

Every card must show, in order, each version the bot sent (Queued, Generating, Video ready), live:
the page is never reloaded. A second, quicker test draws Card JSON 1.0 and 2.0 components from a
bare Feishu simulator and checks a press's answer (toast, new card) shows at once.

Screenshots of each step go to the test's tmp folder, and to `$PLAYGROUND_SCREENSHOTS` when set
(`PLAYGROUND_SCREENSHOTS=docs/screenshots pytest tests/test_playground_browser.py` refreshes the
README's). Without Chromium the test is skipped with how to install it (deploy/test.sh does, as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sim.playground.samples import sunset

pytestmark = [pytest.mark.slow, pytest.mark.browser]

BIN = str(Path(sys.executable).with_name("seedance-bot"))
# Flags for Chromium as root in a container with no network but loopback (python.md).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"]
SPEED = "20"  # Ark runs 20× faster than the real service: each state of a card is on screen a moment


def _chromium() -> str | None:
    for name in (os.environ.get("PLAYGROUND_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


class DemoProcess:
    """`seedance-bot demo` as a person runs it; its output is read as it comes."""

    def __init__(self, tmp: Path) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ARK_", "FEISHU_", "BOT_", "SEEDANCE_", "REDIS_"))}
        env.update({"BOT_DATA_DIR": str(tmp / "data"), "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"})
        # --port 0: any free ports; cwd = tmp: no developer's .env is read.
        self.proc = subprocess.Popen(
            [BIN, "demo", "--port", "0", "--speed", SPEED, "--output", str(tmp / "videos")],
            cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"the demo never printed {pattern!r}:\n{self.output[-5000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._reader.join(5)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _chromium()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (the browser test drives Debian's chromium; "
                    "bash deploy/test.sh installs it when run as root)")
    pytest.importorskip("playwright.sync_api", reason="no Playwright for Python: pip install -e '.[test]'")
    return path


@pytest.fixture
def demo(tmp_path: Path, chromium: str) -> Iterator[DemoProcess]:
    d = DemoProcess(tmp_path)
    try:
        yield d
    finally:
        d.stop()


# Every video on screen showing its player, and no toast still fading in (a settled picture).
SETTLED = """() => Array.from(document.querySelectorAll('video')).every(v => v.controls)
    && document.getAnimations().every(a => a.playState !== 'running')"""


class Shots:
    """Screenshots of each step in the test's folder; with $PLAYGROUND_SCREENSHOTS set, the `docs`
    ones are also saved there as 256-colour PNGs (what docs/screenshots holds)."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder = page, folder
        self.extra = Path(os.environ["PLAYGROUND_SCREENSHOTS"]) if os.environ.get("PLAYGROUND_SCREENSHOTS") else None
        self.taken: list[Path] = []

    def __call__(self, name: str, *, docs: bool = True) -> None:
        self.page.mouse.move(5, 5)  # no hover toolbar in the picture
        self.page.wait_for_function(SETTLED, timeout=10_000)
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path))
        self.taken.append(path)
        if self.extra is not None and docs:
            from PIL import Image

            self.extra.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as img:
                small = img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
                small.save(self.extra / path.name, optimize=True)


def _ark_tasks(origin: str) -> list[dict[str, Any]]:
    with requests.Session() as s:
        s.trust_env = False
        data = s.get(f"{origin}/__sim__/tasks", timeout=10).json()
    return list(data["tasks"] if isinstance(data, dict) else data)


PLAY = """async (v) => {
    v.muted = true;
    await v.play();
    await new Promise((resolve) => {
        const check = () => (v.readyState >= 2 && v.currentTime > 0.25 ? resolve() : requestAnimationFrame(check));
        check();
    });
    return {readyState: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight,
            time: v.currentTime, paused: v.paused};
}"""


def test_the_playground_makes_videos_from_text_a_photo_and_a_draft(
        demo: DemoProcess, chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    t0 = time.monotonic()
    url = demo.wait_for(r"Open the chat playground: (http://127\.0\.0\.1:\d+/playground)", 90).group(1)
    ark = demo.wait_for(r"Ark simulator (http://127\.0\.0\.1:\d+)/api/v3", 5).group(1)
    # The scripted conversation first (it is in the same group); then the bot is ours.
    demo.wait_for(r"Press Ctrl-C to stop", 120)
    assert "All 3 steps ended in a playable video" in demo.output, demo.output[-4000:]
    photo = tmp_path / "sunset.jpg"
    photo.write_bytes(sunset())

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            shot = Shots(page, tmp_path / "screenshots")
            page.goto(url)
            expect(page.locator("#conn")).to_have_text("Live")
            expect(page.locator("#chat-name")).to_have_text("Video team")
            # The demo's conversation is on the page already: three threads, four videos.
            expect(page.locator(".thread")).to_have_count(3)
            expect(page.locator("video")).to_have_count(4)
            page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
            page.locator("#whoami").select_option(label="Alice")

            def send(text: str, *, mention: bool = True, in_thread: Any = None) -> Any:
                """Type (the @mention picked from the menu) and press Enter; the message's thread."""
                box = page.locator("#input")
                box.click()
                if mention:
                    box.press_sequentially("@Vid")
                    expect(page.locator("#mention-menu")).to_be_visible()
                    expect(page.locator("#mention-menu .menu-item").first).to_have_attribute("data-name", "VideoBot")
                    box.press("Enter")
                    expect(box).to_have_value("@VideoBot ")
                box.press_sequentially(text)
                with page.expect_response(re.compile(r"/playground/api/send$")) as sent:
                    box.press("Enter")
                answer = sent.value.json()
                assert answer["status"] == 200, answer
                if in_thread is not None:
                    expect(in_thread.locator(f'.msg[data-message-id="{answer["message_id"]}"]')).to_be_visible()
                    return in_thread
                thread = page.locator(f'.thread[data-thread-root="{answer["message_id"]}"]')
                expect(thread).to_be_visible()
                return thread

            def wait_card(card: Any, title: str) -> list[str]:
                expect(card).to_have_attribute("data-title", re.compile(re.escape(title)), timeout=60_000)
                return str(card.get_attribute("data-states")).split(" → ")

            queued_shown: list[bool] = []

            def generating_then_done(card: Any, name: str, *, docs: bool = False) -> None:
                """The card, live: every version the bot sent shown in turn, ending in Video ready.

                The bot's first card says Queued unless its worker was quicker than its reply (then it
                starts at Generating): the page must show whatever the bot sent, in order.
                """
                expect(card).to_have_attribute("data-title", re.compile("Generating|ready"), timeout=60_000)
                if "Generating" in str(card.get_attribute("data-title")):
                    shot(f"{name}-generating", docs=docs)
                shown = wait_card(card, "Video ready")
                sent = card.evaluate(  # the title of each version in the simulator's store
                    "c => window.playground.state.messages.get(c.closest('[data-card-for]').dataset.cardFor).states")
                sent = [t for i, t in enumerate(sent) if i == 0 or t != sent[i - 1]]
                assert shown == sent, f"the page showed {shown}; the bot sent {sent}"
                assert any("Generating" in t for t in shown) and "Video ready" in shown[-1], shown
                queued_shown.append("Queued" in shown[0])

            def plays(video: Any, task: dict[str, Any]) -> None:
                info = video.evaluate(PLAY)
                assert info["readyState"] >= 2, info
                assert abs(info["duration"] - float(task["seconds"])) < 0.3, (info, task["seconds"])
                assert (info["width"], info["height"]) == (task["width"], task["height"]), info

            # 1. text → video, the card updated live
            before = {t["id"] for t in _ark_tasks(ark)}
            thread = send("/video a kitten yawning")
            expect(thread.locator(".msg").first.locator(".mention")).to_have_text("@VideoBot")
            card = thread.locator(".replies .card").first
            generating_then_done(card, "1-text", docs=True)
            expect(thread.locator(".reaction")).to_have_count(1)  # the bot's "on it" on Alice's message
            video = thread.locator("video")
            expect(video).to_have_count(1, timeout=30_000)
            task = next(t for t in _ark_tasks(ark) if t["id"] not in before)
            assert task["mode"] == "text" and task["prompt"] == "a kitten yawning", task
            plays(video, task)
            shot("1-text-video")

            # 2. a photo with a caption → image-to-video
            before = {t["id"] for t in _ark_tasks(ark)}
            page.locator("#file").set_input_files(str(photo))
            expect(page.locator(".attachment img")).to_have_count(1)
            thread = send("/video the sun slowly sets behind the hills")
            expect(page.locator(".attachment")).to_have_count(0)
            photo_in_chat = thread.locator(".msg").first.locator("img.photo")
            expect(photo_in_chat).to_be_visible()
            expect(photo_in_chat).to_have_js_property("naturalWidth", 1280)  # the photo, as sent
            generating_then_done(thread.locator(".replies .card").first, "2-photo")
            video = thread.locator("video")
            expect(video).to_have_count(1, timeout=30_000)
            task = next(t for t in _ark_tasks(ark) if t["id"] not in before)
            assert task["mode"] == "first_frame", task  # the photo is the first frame
            plays(video, task)
            shot("2-photo-video")

            # 2b. a reply to that photo: the bot uses the photo of the message replied to
            before = {t["id"] for t in _ark_tasks(ark)}
            photo_message = thread.locator(".msg").first
            photo_message.hover()
            photo_message.get_by_role("button", name="Reply").click()
            expect(page.locator("#reply-to")).to_contain_text("Reply to Alice")
            send("/video slow zoom in", in_thread=thread)
            expect(page.locator("#reply-to")).to_be_hidden()
            reply = thread.locator(".replies .msg.mine")
            expect(reply).to_have_count(1)
            generating_then_done(thread.locator(".replies .card").nth(1), "2b-reply")
            expect(thread.locator("video")).to_have_count(2, timeout=30_000)
            task = next(t for t in _ark_tasks(ark) if t["id"] not in before)
            assert task["mode"] == "first_frame" and task["prompt"] == "slow zoom in", task
            shot("2b-reply-video", docs=False)

            # 3. a draft; Bob may not approve it, Alice may
            before = {t["id"] for t in _ark_tasks(ark)}
            thread = send("/draft a flower blooming")
            draft = thread.locator(".replies .card").first
            wait_card(draft, "Draft ready")
            expect(thread.locator("video")).to_have_count(1, timeout=30_000)
            draft_task = next(t for t in _ark_tasks(ark) if t["id"] not in before)
            assert draft_task["resolution"] == "480p", draft_task
            thread.evaluate("t => t.scrollIntoView({block: 'start'})")  # Alice's request in the picture
            shot("3-draft")
            page.locator("#whoami").select_option(label="Bob")
            expect(page.locator("#rail-me .avatar")).to_have_text("BO")
            approve = draft.get_by_role("button", name=re.compile(r"^Approve 720p"))
            tasks_before_bob = len(_ark_tasks(ark))
            approve.click()
            refusal = page.locator(".toast-error")
            expect(refusal).to_contain_text("can use these buttons")
            shot("4-bob-refused")
            assert len(_ark_tasks(ark)) == tasks_before_bob  # nothing was made for Bob
            expect(draft).to_have_attribute("data-title", re.compile("Draft ready"))
            page.locator("#whoami").select_option(label="Alice")
            expect(page.locator("#rail-me .avatar")).to_have_text("AL")
            draft.get_by_role("button", name=re.compile(r"^Approve 720p")).click()
            expect(page.locator(".toast-info").last).to_contain_text("Working on it")
            final = thread.locator(".replies .card").nth(1)
            generating_then_done(final, "5-final")
            video = thread.locator("video").nth(1)
            expect(thread.locator("video")).to_have_count(2, timeout=30_000)
            final_task = next(t for t in _ark_tasks(ark) if t["id"] not in before and t["id"] != draft_task["id"])
            assert final_task["mode"] == "draft_final" and final_task["resolution"] == "720p", final_task
            plays(video, final_task)
            shot("5-final-video")

            # Queued → Generating → Video ready: every card above that the bot sent queued showed it.
            assert any(queued_shown), "no card of this test started queued"

            # 4. the private chat: no @mention needed
            page.locator('.chat-item[data-chat-type="p2p"]').click()
            expect(page.locator("#chat-name")).to_have_text("VideoBot")
            thread = send("/help", mention=False)
            expect(thread.locator(".replies .card")).to_have_count(1)
            thread.evaluate("t => t.scrollIntoView({block: 'start'})")
            shot("6-private-help")

            # For the README: the group, its photo thread from the top (photo, card, video).
            page.locator('.chat-item[data-chat-type="group"]').first.click()
            expect(page.locator("#chat-name")).to_have_text("Video team")
            page.set_viewport_size({"width": 1360, "height": 940})
            page.locator(".thread").nth(4).evaluate("t => t.scrollIntoView({block: 'start'})")
            shot("playground")
            assert page.evaluate("window.__sameDocument") is True  # every update came live
            assert not errors, errors
        finally:
            browser.close()
    assert all(p.stat().st_size > 10_000 for p in shot.taken)
    print(f"browser test: {time.monotonic() - t0:.1f} s, screenshots in {tmp_path / 'screenshots'}")


CARD_V1: dict[str, Any] = {  # Card JSON 1.0: div + fields, action row, select, note, hr
    "config": {"wide_screen_mode": True, "update_multi": True},
    "header": {"title": {"tag": "plain_text", "content": "Weekly report"}, "template": "orange"},
    "elements": [
        {"tag": "div",
         "text": {"tag": "lark_md", "content": "**Bold**, `code` and [a link](https://example.com)\nline two"},
         "fields": [{"is_short": True, "text": {"tag": "lark_md", "content": "**Videos:** 12"}},
                    {"is_short": True, "text": {"tag": "lark_md", "content": "**Seconds:** 60"}}]},
        {"tag": "hr"},
        {"tag": "action", "actions": [
            {"tag": "button", "text": {"tag": "plain_text", "content": "Looks good"}, "type": "primary",
             "value": {"a": "ok"}},
            {"tag": "select_static", "placeholder": {"tag": "plain_text", "content": "Pick a model"},
             "options": [{"text": {"tag": "plain_text", "content": "Seedance 1.5 Pro"}, "value": "1.5"}]}]},
        {"tag": "note", "elements": [{"tag": "plain_text", "content": "a note"}]},
    ],
}
CARD_V2: dict[str, Any] = {  # Card JSON 2.0: columns, filled and disabled buttons
    "schema": "2.0", "config": {"update_multi": True},
    "header": {"title": {"tag": "plain_text", "content": "Columns"}, "template": "violet"},
    "body": {"elements": [
        {"tag": "column_set", "columns": [
            {"tag": "column", "elements": [{"tag": "markdown", "content": "left"}]},
            {"tag": "column", "elements": [{"tag": "markdown", "content": "right"}]}]},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Go"}, "type": "primary_filled",
         "behaviors": [{"type": "callback", "value": {"a": "go"}}]},
        {"tag": "button", "text": {"tag": "plain_text", "content": "Gone"}, "type": "danger", "disabled": True,
         "behaviors": [{"type": "callback", "value": {"a": "gone"}}]},
    ]},
}


def test_cards_are_drawn_from_their_json_and_answer_through_the_callback(chromium: str, tmp_path: Path) -> None:
    """Card JSON 1.0 and 2.0 drawn as sent; a press is a card.action.trigger whose answer (a toast,
    a new card) shows at once. The Feishu simulator alone, with a stand-in for the bot's webhook."""
    from flask import Flask, request
    from playwright.sync_api import expect, sync_playwright
    from werkzeug.serving import make_server

    from sim.feishu import FeishuSimulator
    from sim.playground import ALICE, GROUP_CHAT_ID

    pressed: list[dict[str, Any]] = []
    hook = Flask("hook")

    @hook.post("/feishu/events")
    def events() -> Any:
        pressed.append(request.get_json(force=True))
        done = {**CARD_V1, "header": {"title": {"tag": "plain_text", "content": "Thanks!"}, "template": "green"},
                "elements": [{"tag": "markdown", "content": "Pressed by <at id=ou_demo_bob></at>"}]}
        return {"toast": {"type": "success", "content": "Noted"}, "card": {"type": "raw", "data": done}}

    server = make_server("127.0.0.1", 0, hook, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sim = FeishuSimulator(encrypt_key="", webhook_url=f"http://127.0.0.1:{server.server_port}/feishu/events",
                          retry_schedule=())
    origin = sim.start()
    try:
        src = sim.send(text="/report", user=dict(ALICE), chat_id=GROUP_CHAT_ID, deliver=False)["message_id"]
        v1 = sim.reply(src, {"msg_type": "interactive", "content": json.dumps(CARD_V1)})["message_id"]
        sim.reply(src, {"msg_type": "interactive", "content": json.dumps(CARD_V2)})
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"{origin}/playground?as=bob")
                first = page.locator(f'[data-card-for="{v1}"] .card')
                expect(first.locator(".card-header")).to_have_class(re.compile("tpl-orange"))
                expect(first.locator(".card-title")).to_have_text("Weekly report")
                md = first.locator(".card-div .card-md").first
                expect(md.locator("strong")).to_have_text("Bold")
                expect(md.locator("code")).to_have_text("code")
                expect(md.locator("a")).to_have_attribute("href", "https://example.com")
                expect(first.locator(".card-field.short")).to_have_count(2)
                expect(first.locator("select option").nth(1)).to_have_text("Seedance 1.5 Pro")
                expect(first.locator(".card-note")).to_have_text("a note")
                second = page.locator(".card").nth(1)
                expect(second.locator(".card-header")).to_have_class(re.compile("tpl-violet"))
                expect(second.locator(".card-column")).to_have_count(2)
                go = second.get_by_role("button", name="Go", exact=True)
                expect(go).to_have_class(re.compile("btn-primary_filled"))
                expect(second.get_by_role("button", name="Gone")).to_be_disabled()
                Shots(page, tmp_path)("cards", docs=False)

                first.get_by_role("button", name="Looks good").click()
                expect(page.locator(".toast-success")).to_have_text(re.compile("Noted"))
                expect(first.locator(".card-title")).to_have_text("Thanks!")  # the callback's card, live
                expect(first.locator(".mention")).to_have_text("@Bob")
                [event] = pressed
                assert event["header"]["event_type"] == "card.action.trigger"
                assert event["event"]["action"]["value"] == {"a": "ok"}
                assert event["event"]["operator"]["open_id"] == "ou_demo_bob"
            finally:
                browser.close()
    finally:
        sim.stop()
        server.shutdown()
