"""Seedance 2.0 references from chat, end to end: a user's video or voice message becomes a
`reference_video` / `reference_audio`, served by the bot at a signed URL that the Ark simulator
fetches (as Ark does) while creating the task; what breaks a documented limit is refused before
anything is created; without BOT_PUBLIC_URL the bot says what is missing.

The in-process tier (tests/flows/conftest.py): the bot's roles as threads, both simulators on
loopback over real HTTP, a real Redis. Assertions read what the simulators recorded.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from chat import ALICE, WAIT, actions, prompt_of, settled, thread, wait_card, wait_text
from stack import Stack, wait_until

V20 = "dreamina-seedance-2-0-260128"


def _get(url: str, **kw: object) -> requests.Response:
    with requests.Session() as s:
        s.trust_env = False
        return s.get(url, timeout=30, **kw)  # type: ignore[arg-type]


def test_a_replied_to_video_is_fetched_by_ark_from_the_signed_url(stack: Stack) -> None:
    stack.start_bot(roles=("web", "worker", "scheduler"))
    clip = stack.user_video(seconds=3)
    video_msg = stack.send(files=[clip])["message_id"]  # a video message: no @, the bot only stores nothing
    src = stack.send("/video --ref --model 2.0 the clip as a watercolour", parent_id=video_msg)["message_id"]

    media = wait_until(lambda: thread(stack, src, "media"), WAIT, what="the video made from the reference")
    assert len(media) == 1
    [task] = stack.ark_tasks()
    assert task["model"] == V20 and task["mode"] == "reference"
    content = task["body"]["content"]
    assert [(c["type"], c.get("role")) for c in content] == [("text", None), ("video_url", "reference_video")]
    url = content[1]["video_url"]["url"]
    assert url.startswith(f"{stack.bot_url}/media/"), url
    query = parse_qs(urlsplit(url).query)
    assert set(query) == {"exp", "sig"}
    # Ark fetched exactly the clip the user sent, from the bot, while creating the task.
    sent = stack.file(clip)
    [fetched] = task["media"]
    assert fetched["kind"] == "video_url" and fetched["bytes"] == len(sent)
    assert abs(fetched["seconds"] - 3.0) < 0.1 and (fetched["width"], fetched["height"]) == (864, 496)
    # The URL keeps working for as long as the task may run; a changed signature does not.
    assert _get(url).content == sent
    assert _get(url, headers={"Range": "bytes=0-99"}).status_code == 206
    assert _get(url[:-3] + "AAA").status_code == 403
    assert "the clip as a watercolour" in prompt_of(task)


def test_a_voice_message_and_a_photo(stack: Stack) -> None:
    stack.start_bot(roles=("serve",))
    voice = stack.user_audio(seconds=4)  # Opus, as Feishu records voice messages
    voice_msg = stack.send(files=[voice])["message_id"]
    photo = stack.user_image(1024, 768)
    src = stack.send("/video --ref --model 2.0 the dog sings along", images=[photo],
                     parent_id=voice_msg)["message_id"]

    wait_until(lambda: thread(stack, src, "media"), WAIT, what="the video with a sound reference")
    [task] = stack.ark_tasks()
    content = task["body"]["content"]
    assert [(c["type"], c.get("role")) for c in content] == [
        ("text", None), ("image_url", "reference_image"), ("audio_url", "reference_audio")]
    assert content[2]["audio_url"]["url"].startswith(f"{stack.bot_url}/media/")
    [fetched] = task["media"]
    assert fetched["kind"] == "audio_url" and abs(fetched["seconds"] - 4.0) < 0.1
    # The voice message was converted to WAV (Ark takes WAV or MP3, not Opus).
    served = _get(content[2]["audio_url"]["url"])
    assert served.headers["Content-Type"] == "audio/wav" and served.content[:4] == b"RIFF"


def test_a_too_long_clip_is_refused_locally_and_nothing_is_created(stack: Stack) -> None:
    stack.start_bot(roles=("serve",))
    # Feishu says 3 s, the file says 16 s: caught after the download, before any create.
    clip = stack.user_video(seconds=16, duration_ms=3000)
    video_msg = stack.send(files=[clip])["message_id"]
    src = stack.send("/video --ref --model 2.0 slow motion", parent_id=video_msg)["message_id"]
    wait_text(stack, src, r"Video 1 is 16\.0 s long; a reference video must be 2–15 s", "the refusal")
    # Feishu says 20 s: refused at once, no job at all.
    honest = stack.user_video(seconds=3, duration_ms=20_000)
    honest_msg = stack.send(files=[honest])["message_id"]
    src2 = stack.send("/video --ref --model 2.0 slow motion", parent_id=honest_msg)["message_id"]
    wait_text(stack, src2, r"Video 1 is 20\.0 s long", "the refusal at once")
    settled(stack)
    stack.at_rest()
    assert stack.ark_tasks() == []
    assert thread(stack, src2, "interactive") == []  # refused before a job (and its card) existed


def test_without_a_public_url_the_bot_says_so_and_creates_nothing(stack: Stack) -> None:
    stack.callbacks = False  # BOT_PUBLIC_URL unset
    stack.start_bot(roles=("serve",))
    clip = stack.user_video(seconds=3)
    video_msg = stack.send(files=[clip])["message_id"]
    src = stack.send("/video --ref --model 2.0 make it rain", parent_id=video_msg, user=ALICE)["message_id"]
    wait_text(stack, src, r"need a public URL.*BOT_PUBLIC_URL", "the public URL explanation")
    settled(stack)
    assert stack.ark_tasks() == []
    assert thread(stack, src, "interactive") == []


def test_reroll_serves_the_clip_again_and_extend_leaves_it_out(stack: Stack) -> None:
    stack.start_bot(roles=("serve",))
    clip = stack.user_video(seconds=3)
    video_msg = stack.send(files=[clip])["message_id"]
    src = stack.send("/video --ref --model 2.0 a paper boat", parent_id=video_msg)["message_id"]
    card = wait_card(stack, src, lambda c: "reroll" in actions(c) and "extend" in actions(c), "the done card")
    stack.click(card["message_id"], {"a": "reroll"}, user=ALICE)
    wait_until(lambda: len([t for t in stack.ark_tasks() if t["status"] == "succeeded"]) == 2, WAIT,
               what="the reroll's task")
    stack.click(card["message_id"], {"a": "extend"}, user=ALICE)
    wait_until(lambda: len([t for t in stack.ark_tasks() if t["status"] == "succeeded"]) == 3, WAIT,
               what="the extension's task")
    first, reroll, extend = stack.ark_tasks()
    assert [m["bytes"] for m in reroll["media"]] == [m["bytes"] for m in first["media"]] == [len(stack.file(clip))]
    assert reroll["body"]["content"][1]["video_url"]["url"] != first["body"]["content"][1]["video_url"]["url"]
    assert extend["media"] == [] and extend["mode"] == "first_frame"


def test_clips_too_long_together_are_refused_after_the_download_and_not_kept(stack: Stack) -> None:
    stack.start_bot(roles=("serve",))
    # Two 8 s clips Feishu says are 3 s each: each is fine, together they are over 15 s.
    clips = [stack.user_video(seconds=8, duration_ms=3000) for _ in range(2)]
    both = stack.send("two takes", files=clips, mention_bot=False)["message_id"]  # a post with two videos
    src = stack.send("/video --ref --model 2.0 cut them together", parent_id=both)["message_id"]
    wait_text(stack, src, r"The 2 reference videos last 16\.0 s together; the limit is 15 s", "the refusal")
    stack.at_rest()
    assert stack.ark_tasks() == []
    media_dir = stack.data_dir / "media"
    assert [p.name for p in media_dir.iterdir() if p.is_file()] == []  # the first clip was not kept either
