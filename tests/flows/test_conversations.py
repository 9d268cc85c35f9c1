"""Whole conversations: users talk to the bot through the Feishu simulator, the bot talks to the Ark
simulator. Every assertion is about what the simulators recorded: messages and card versions in
Feishu, tasks and create bodies in Ark.

The in-process tier (tests/flows/conftest.py): the bot's roles (web, worker, scheduler) run as
threads of the test process, built as `seedance-bot serve` builds them, against both simulators
on loopback and a real Redis. "Nothing happened" is proved with a barrier, never with a sleep:
`settled()` waits until the workers have acknowledged every inbox entry.
"""

from __future__ import annotations

import re
import signal

import redis
from chat import (
    ADA,
    ALICE,
    BOB,
    WAIT,
    actions,
    ark_config,
    button_values,
    first_frames,
    header,
    in_thread,
    job_cards,
    make_video,
    message,
    prompt_of,
    replies,
    restart_worker,
    settled,
    strings,
    tasks_with,
    thread,
    wait_card,
    wait_info_card,
    wait_text,
)
from stack import Stack, wait_until

# --- 1. draft, then approve ------------------------------------------------------------------------------


def test_draft_then_approve_only_by_requester_and_only_once(stack: Stack) -> None:
    stack.start_bot(roles=("web", "worker", "scheduler"))
    src = stack.send("/draft a flower blooming")["message_id"]

    draft_video = wait_until(lambda: thread(stack, src, "media"), WAIT, what="the draft video")
    assert len(draft_video) == 1
    [draft_task] = stack.ark_tasks()
    assert draft_task["body"].get("draft") is True
    assert draft_task["model"] == "seedance-1-5-pro-251215"  # the model that makes drafts
    card = wait_card(stack, src, lambda c: "approve_720p" in actions(c), "the draft card with approve buttons")
    content = card["content"]
    assert actions(content) == ["approve_720p", "approve_1080p", "reroll", "discard"]
    text = strings(content)
    # the estimated cost of the final next to each approve button
    assert re.search(r"Approve 720p \(≈ \$\d+\.\d\d\)", text), text
    assert re.search(r"Approve 1080p \(≈ \$\d+\.\d\d\)", text), text
    versions_before = len(message(stack, card["message_id"])["versions"])

    # Someone else presses Approve: refused with a toast, nothing created, the card unchanged.
    refused = stack.click(card["message_id"], {"a": "approve_720p"}, user=BOB)
    assert refused["toast"]["type"] == "error"
    assert "Only" in refused["toast"]["content"], refused["toast"]
    # ... and the text fallback from someone else is refused as well.
    bob_text = stack.send("/approve 720p", user=BOB, parent_id=draft_video[0]["message_id"])["message_id"]
    wait_text(stack, bob_text, r"Only the person who asked", "the refusal of Bob's /approve")
    settled(stack)
    assert len(stack.ark_tasks()) == 1
    assert len(message(stack, card["message_id"])["versions"]) == versions_before

    # The requester presses Approve 720p again and again before the first press is handled
    # (worker down): the presses wait in the inbox and the restarted workers take them at once.
    stack.kill("bot-worker", signal.SIGTERM)
    presses = [stack.click(card["message_id"], {"a": "approve_720p"}, user=ALICE) for _ in range(3)]
    assert all(p["toast"]["type"] == "info" for p in presses), presses
    restart_worker(stack)

    videos = wait_until(lambda: len(thread(stack, src, "media")) >= 2 and thread(stack, src, "media"), WAIT,
                        what="the final video")
    settled(stack)
    tasks = stack.ark_tasks()
    assert len(tasks) == 2, [t["body"] for t in tasks]
    final = tasks[1]
    assert final["body"]["content"] == [{"type": "draft_task", "draft_task": {"id": draft_task["id"]}}]
    assert final["body"]["resolution"] == "720p"
    assert final["resolution"] == "720p"
    assert len(videos) == 2 and in_thread(videos[1], src)
    # the draft's card followed: approved, with the other resolution still offered
    draft_card = wait_card(stack, src, lambda c: "Approved at 720p" in strings(c), "the draft's card")["content"]
    assert "approve_720p" not in actions(draft_card)
    # the final has its own live card in the same thread, and it finished
    # (cards are patched by the workers' card flusher, a moment after the video: wait for it)
    wait_card(stack, src, lambda c: header(c).startswith("✅"), "the final's card done", index=1)
    assert len(job_cards(stack, src)) == 2

    # Approving 720p again, now by text, does nothing twice either.
    again = stack.send("/approve 720p", parent_id=draft_video[0]["message_id"])["message_id"]
    settled(stack)
    assert len(stack.ark_tasks()) == 2
    assert len(thread(stack, src, "media")) == 2
    assert not replies(stack, again, "media")

    # Approve 1080p as well: a second final; no approve button is left on the draft's card.
    stack.click(card["message_id"], {"a": "approve_1080p"})
    wait_until(lambda: len(thread(stack, src, "media")) == 3, WAIT, what="the 1080p final")
    tasks = stack.ark_tasks()
    assert len(tasks) == 3
    assert tasks[2]["body"]["content"] == final["body"]["content"]
    assert tasks[2]["body"]["resolution"] == "1080p"
    draft_card = wait_card(stack, src, lambda c: "Approved at 1080p" in strings(c), "the draft card after 1080p")
    assert not [a for a in actions(draft_card["content"]) if a.startswith("approve_")]


def test_approve_1080p_by_replying_to_the_draft_video(stack: Stack) -> None:
    stack.start_bot()
    src = stack.send("/draft waves at sunset --ratio 9:16")["message_id"]
    [draft_video] = wait_until(lambda: thread(stack, src, "media"), WAIT, what="the draft video")
    wait_card(stack, src, lambda c: "approve_1080p" in actions(c), "the draft card")

    approve = stack.send("/approve 1080p", parent_id=draft_video["message_id"])["message_id"]
    final_video = wait_until(lambda: len(thread(stack, src, "media")) == 2 and thread(stack, src, "media")[1],
                             WAIT, what="the final video")
    draft_task, final = stack.ark_tasks()
    assert final["body"]["content"] == [{"type": "draft_task", "draft_task": {"id": draft_task["id"]}}]
    assert final["body"]["resolution"] == "1080p"
    assert final["ratio"] == "9:16"  # the service reuses the draft's settings
    # in the same thread as the draft (the /approve message is itself in that thread)
    assert final_video["root_id"] == src
    assert final_video["parent_id"] == approve
    # The final's card shows what it is: the draft's prompt and settings at 1080p.
    card = wait_card(stack, approve, lambda c: "reroll" in actions(c), "the final's card")
    text = strings(card["content"])
    assert "waves at sunset" in text and "1080p · 9:16 · 5s" in text, text
    # The final lasts as long as the draft: that is what the budget counts (5 s + 5 s).
    q = stack.send("/quota")["message_id"]
    wait_info_card(stack, q, r"Video seconds today: \*\*10 s", "the quota card")

    # Reroll on the final: the draft's request again at 1080p with a new seed (rendering the draft
    # again would reuse its seed and give the same video).
    stack.click(card["message_id"], {"a": "reroll"})
    wait_until(lambda: len(stack.ark_tasks()) == 3 and stack.ark_tasks()[2]["status"] == "succeeded", WAIT,
               what="the rerolled final")
    reroll = stack.ark_tasks()[2]
    assert prompt_of(reroll) == "waves at sunset"
    assert "draft" not in reroll["body"]  # not a draft: the field is left out
    assert reroll["body"]["resolution"] == "1080p" and reroll["body"]["ratio"] == "9:16"
    # A fresh random seed (the bot draws it, so the task can be told apart: bot.engine.fingerprint).
    assert reroll["body"]["seed"] >= 0 and reroll["body"]["seed"] != draft_task["api"]["seed"]
    assert reroll["api"]["seed"] == reroll["body"]["seed"]
    wait_until(lambda: replies(stack, approve, "media") and len(replies(stack, approve, "media")) == 2, WAIT,
               what="the rerolled video in the thread")


def test_expired_draft_says_so_and_offers_to_redo(stack: Stack) -> None:
    stack.start_bot()
    src = stack.send("/draft a paper boat on a river")["message_id"]
    card = wait_card(stack, src, lambda c: "approve_720p" in actions(c), "the draft card")
    # Stage a draft older than Ark's 7-day history (the job record lives in Redis).
    r = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    rid = button_values(card["content"])[0]["rid"]
    old = float(r.hget(f"{{bot}}:job:{rid}", "finished_at") or 0) - 8 * 86400
    r.hset(f"{{bot}}:job:{rid}", mapping={"finished_at": str(old), "accepted_at": str(old)})

    stack.click(card["message_id"], {"a": "approve_720p"})
    expired = wait_card(stack, src, lambda c: "redo" in actions(c), "the card to offer a redo")
    assert "expired" in header(expired["content"]).lower()
    wait_text(stack, src, r"older than 7 days", "a message that the draft expired")
    settled(stack)
    assert len(stack.ark_tasks()) == 1  # no final from an expired draft

    stack.click(card["message_id"], {"a": "redo"})
    wait_until(lambda: len(thread(stack, src, "media")) == 2, WAIT, what="the redone draft")
    tasks = stack.ark_tasks()
    assert len(tasks) == 2
    assert tasks[1]["body"].get("draft") is True
    assert prompt_of(tasks[1]) == prompt_of(tasks[0])


def test_discard_ends_the_draft_and_an_admin_may_press(stack: Stack) -> None:
    stack.bot_env.update({"BOT_ADMINS": ADA["open_id"]})
    stack.start_bot()
    src = stack.send("/draft a candle flickering")["message_id"]
    card = wait_card(stack, src, lambda c: "discard" in actions(c), "the draft card")
    toast = stack.click(card["message_id"], {"a": "discard"}, user=ADA)["toast"]
    assert toast["type"] == "info", toast
    done = wait_card(stack, src, lambda c: "discarded" in header(c).lower(), "the discarded card")
    assert actions(done["content"]) == []
    settled(stack)
    assert len(stack.ark_tasks()) == 1


def test_draft_from_a_photo_with_a_caption(stack: Stack) -> None:
    stack.start_bot()
    image = stack.user_image(1280, 720)
    src = stack.send("/draft the cat turns its head", images=[image])["message_id"]
    wait_until(lambda: thread(stack, src, "media"), WAIT, what="the draft video")
    [task] = stack.ark_tasks()
    assert task["body"].get("draft") is True
    assert len(first_frames(task["body"]["content"])) == 1
    wait_card(stack, src, lambda c: "approve_720p" in actions(c), "the draft card")


# --- 2. the live card, reroll, extend, cancel ----------------------------------------------------------------


def test_live_card_patch_history_shows_queued_running_done(stack: Stack) -> None:
    stack.start_bot()
    src, _ = make_video(stack, "/video a lighthouse in a storm")
    card = wait_card(stack, src, lambda c: header(c).startswith("✅"), "the done card")
    versions = message(stack, card["message_id"])["versions"]
    headers = [header(v["content"]) for v in versions]
    assert headers[0].startswith("⏳") and "Position in queue" in strings(versions[0]["content"])
    running = [v for v in versions if header(v["content"]).startswith("🎬")]
    assert running and "Elapsed" in strings(running[0]["content"])
    assert headers[-1].startswith("✅")
    order = [h[0] for h in headers]
    assert order.index("⏳") < order.index("🎬") < order.index("✅")
    assert actions(versions[-1]["content"]) == ["reroll", "extend"]
    assert message(stack, card["message_id"])["patch_count"] == len(versions) - 1


def test_reroll_makes_a_new_task_with_a_new_seed_and_the_same_prompt(stack: Stack) -> None:
    stack.start_bot()
    src, _ = make_video(stack, "/video a red kite over hills")
    card = wait_card(stack, src, lambda c: "reroll" in actions(c), "the done card")
    stack.click(card["message_id"], {"a": "reroll"})
    wait_until(lambda: len(thread(stack, src, "media")) == 2, WAIT, what="the rerolled video")
    first, second = stack.ark_tasks()
    assert prompt_of(second) == prompt_of(first) == "a red kite over hills"
    # A fresh random seed, drawn by the bot (so the task can be told apart: bot.engine.fingerprint).
    assert second["body"]["seed"] >= 0 and second["api"]["seed"] == second["body"]["seed"]
    assert second["api"]["seed"] != first["api"]["seed"]
    assert len(job_cards(stack, src)) == 2


def test_extend_by_button_and_by_reply(stack: Stack) -> None:
    stack.start_bot()
    src, video = make_video(stack, "/video a paper plane takes off")
    card = wait_card(stack, src, lambda c: "extend" in actions(c), "the done card")
    [first] = stack.ark_tasks()
    last_frame = first["api"]["content"]["last_frame_url"]

    # The Extend button: the same prompt, from the last frame.
    stack.click(card["message_id"], {"a": "extend"})
    wait_until(lambda: len(thread(stack, src, "media")) == 2, WAIT, what="the extended video")
    second = stack.ark_tasks()[1]
    assert first_frames(second["body"]["content"]) == [last_frame]
    assert prompt_of(second) == "a paper plane takes off"

    # `/extend <prompt>` replying to the bot's video: a new prompt, from that video's last frame.
    ext = stack.send("/extend the plane loops over the sea", parent_id=video["message_id"])["message_id"]
    wait_until(lambda: replies(stack, ext, "media"), WAIT, what="the video of /extend")
    third = stack.ark_tasks()[2]
    assert first_frames(third["body"]["content"]) == [last_frame]
    assert prompt_of(third) == "the plane loops over the sea"
    assert len(stack.ark_tasks()) == 3


def test_cancel_in_our_queue_never_creates_a_task_and_the_queue_moves_up(stack: Stack) -> None:
    stack.max_in_flight = 1
    stack.start_bot()
    ark_config(stack, speed=0.05)  # the first job holds our only slot for a long time
    first = stack.send("/video a slow glacier")["message_id"]
    wait_until(lambda: stack.ark_tasks(), WAIT, what="the first task")
    second = stack.send("/video a waiting train", user=BOB)["message_id"]
    card = wait_card(stack, second, lambda c: "Position in queue: **1**" in strings(c) and "cancel" in actions(c),
                     "Bob's queued card at position 1")
    assert header(card["content"]).startswith("⏳")
    third = stack.send("/video a patient bus", user=ADA)["message_id"]
    wait_card(stack, third, lambda c: "Position in queue: **2**" in strings(c), "Ada's queued card at position 2")

    stack.click(card["message_id"], {"a": "cancel"}, user=BOB)
    wait_card(stack, second, lambda c: "cancelled" in header(c).lower(), "the cancelled card")
    # The job behind it moved up, and its card says so.
    wait_card(stack, third, lambda c: "Position in queue: **1**" in strings(c), "Ada's card at position 1")

    ark_config(stack, speed=600)
    wait_until(lambda: thread(stack, first, "media"), WAIT, what="the first video")
    wait_until(lambda: thread(stack, third, "media"), WAIT, what="the third video")
    settled(stack)
    assert not tasks_with(stack, "a waiting train")  # the cancelled job never reached Ark
    assert len(stack.ark_tasks()) == 2
    assert not thread(stack, second, "media")


def test_cancel_a_task_queued_at_ark_deletes_it(stack: Stack) -> None:
    stack.start_bot()
    ark_config(stack, speed=0.05, concurrency=1)  # the service runs one task at a time
    stack.send("/video a slow sunrise")
    wait_until(lambda: [t for t in stack.ark_tasks() if t["status"] == "running"], WAIT, what="a running task")
    second = stack.send("/video a queued sunset")["message_id"]
    wait_until(lambda: [t for t in tasks_with(stack, "a queued sunset") if t["status"] == "queued"], WAIT,
               what="the second task queued at Ark")
    wait_card(stack, second, lambda c: "cancel" in actions(c) and "Task" in strings(c),
              "the second card with its task")

    # `/cancel` without an argument: the caller's most recent job in this chat.
    stack.send("/cancel")
    wait_card(stack, second, lambda c: "cancelled" in header(c).lower(), "the cancelled card")
    [task] = tasks_with(stack, "a queued sunset")
    assert task["status"] == "cancelled"  # DELETE at Ark while queued there
    [running] = tasks_with(stack, "a slow sunrise")
    assert running["status"] == "running"  # the older job was not the one cancelled


def test_cancel_a_running_task_explains_and_posts_nothing(stack: Stack) -> None:
    stack.start_bot()
    ark_config(stack, speed=0.05)
    src = stack.send("/video a marathon runner")["message_id"]
    wait_until(lambda: [t for t in stack.ark_tasks() if t["status"] == "running"], WAIT, what="a running task")
    card = wait_card(stack, src, lambda c: "cancel" in actions(c) and "Task" in strings(c), "the running card")
    [task] = stack.ark_tasks()

    # `/cancel <task>` by someone else is refused.
    bob = stack.send(f"/cancel {task['id']}", user=BOB)["message_id"]
    msg = wait_text(stack, bob, r".", "the refusal of Bob's /cancel")
    assert "Only the person who asked" in msg["text"], msg["text"]
    settled(stack)
    assert "can't stop" not in strings(message(stack, card["message_id"])["content"])

    stack.click(card["message_id"], {"a": "cancel"})
    noted = wait_card(stack, src, lambda c: "can't stop" in strings(c), "the card note about a running task")
    assert "nothing will be posted" in strings(noted["content"])
    assert "cancel" not in actions(noted["content"])  # pressing again could do nothing more

    ark_config(stack, speed=600)
    wait_until(lambda: stack.ark_tasks()[0]["status"] == "succeeded", WAIT, what="the task to finish at Ark")
    wait_card(stack, src, lambda c: "cancelled" in header(c).lower(), "the card to end cancelled")
    settled(stack)
    assert not thread(stack, src, "media")


# --- 3. settings ---------------------------------------------------------------------------------------------


def test_user_settings_change_the_next_job(stack: Stack) -> None:
    stack.start_bot()
    s = stack.send("/settings ratio=9:16 duration=8")["message_id"]
    shown = wait_info_card(stack, s, r"ratio", "the settings card")
    text = strings(shown["content"])
    assert "`9:16`" in text and "`8`" in text

    make_video(stack, "/video a dancer spinning")
    [task] = stack.ark_tasks()
    assert task["body"]["ratio"] == "9:16"
    assert task["body"]["duration"] == 8
    # another user is not affected
    make_video(stack, "/video a dancer jumping", user=BOB)
    bob_task = tasks_with(stack, "a dancer jumping")[0]
    assert bob_task["body"].get("ratio") != "9:16"
    assert bob_task["body"].get("duration") != 8


def test_every_user_default_reaches_the_create_body_and_reset_undoes_it(stack: Stack) -> None:
    stack.start_bot()
    s = stack.send("/settings audio=off resolution=1080p flex=on")["message_id"]
    wait_info_card(stack, s, r"flex", "the settings card")
    make_video(stack, "/video a quiet forest")
    body = tasks_with(stack, "a quiet forest")[0]["body"]
    assert body["resolution"] == "1080p"
    assert body["generate_audio"] is False
    assert body["service_tier"] == "flex"

    # A draft still works: drafts are 480p and never flex, whatever the defaults say.
    src = stack.send("/draft a quiet lake")["message_id"]
    wait_until(lambda: thread(stack, src, "media"), WAIT, what="the draft video")
    body = tasks_with(stack, "a quiet lake")[0]["body"]
    assert body.get("draft") is True
    assert "service_tier" not in body  # never flex: the default tier, by leaving the field out

    # A default model without drafts: /video uses it, /draft picks the model that makes drafts.
    s = stack.send("/settings model=1.0-pro")["message_id"]
    card = wait_info_card(stack, s, r"1-0-pro|1\.0", "the settings card with the model")
    assert "(yours)" in strings(card["content"])
    make_video(stack, "/video a quiet field")
    assert tasks_with(stack, "a quiet field")[0]["model"] == "seedance-1-0-pro-250528"

    s = stack.send("/settings reset")["message_id"]
    card = wait_info_card(stack, s, r"built-in", "the settings card after reset")
    assert "(yours)" not in strings(card["content"])
    make_video(stack, "/video a quiet road")
    task = tasks_with(stack, "a quiet road")[0]
    assert task["model"] == "seedance-1-5-pro-251215"
    assert "service_tier" not in task["body"]  # the default tier again
    assert task["body"]["resolution"] == "720p"  # the built-in default again


def test_chat_defaults_by_admin_only(stack: Stack) -> None:
    stack.bot_env.update({"BOT_ADMINS": ADA["open_id"]})
    stack.start_bot()
    denied = stack.send("/settings chat ratio=1:1", user=BOB)["message_id"]
    wait_text(stack, denied, r"Only an admin can change this chat's defaults", "the refusal for a non-admin")
    settled(stack)

    ok = stack.send("/settings chat ratio=1:1", user=ADA)["message_id"]
    shown = wait_info_card(stack, ok, r"1:1", "the chat settings card")
    assert "chat default" in strings(shown["content"])

    # Bob, who has no settings of his own, gets the chat's default.
    make_video(stack, "/video a square dance", user=BOB)
    [task] = stack.ark_tasks()
    assert task["body"]["ratio"] == "1:1"


def test_language_setting_and_help_models_in_both_languages(stack: Stack) -> None:
    stack.start_bot()
    en_help = stack.send("/help")["message_id"]
    card = wait_info_card(stack, en_help, r"/video", "the English help card")
    assert not re.search(r"[\u4e00-\u9fff]", header(card["content"])), header(card["content"])
    zh_help = stack.send("/帮助")["message_id"]
    card = wait_info_card(stack, zh_help, r"/video", "the Chinese help card")
    assert re.search(r"[\u4e00-\u9fff]", header(card["content"]))

    en_models = stack.send("/models")["message_id"]
    card = wait_info_card(stack, en_models, r"Seedance 1\.5 Pro", "the English models card")
    assert header(card["content"]) == "Models"
    zh_models = stack.send("/模型")["message_id"]
    card = wait_info_card(stack, zh_models, r"Seedance 1\.5 Pro", "the Chinese models card")
    assert header(card["content"]) == "可用模型"

    # Language as a setting: English messages get Chinese answers.
    stack.send("/settings lang=zh")
    later = stack.send("/models", user=ALICE)["message_id"]
    card = wait_info_card(stack, later, r"Seedance", "the models card after lang=zh")
    assert header(card["content"]) == "可用模型"
    # Bob did not change his language.
    bob = stack.send("/models", user=BOB)["message_id"]
    card = wait_info_card(stack, bob, r"Seedance", "Bob's models card")
    assert header(card["content"]) == "Models"


# --- 4. quotas and access ---------------------------------------------------------------------------------


def test_jobs_beyond_the_running_cap_wait_in_the_queue_and_the_queue_bound_refuses(stack: Stack) -> None:
    stack.bot_env.update({"BOT_USER_MAX_JOBS": "1", "BOT_USER_MAX_QUEUED": "1"})
    stack.start_bot()
    ark_config(stack, speed=0.05)
    first = stack.send("/video a long river")["message_id"]
    wait_card(stack, first, lambda c: "Task" in strings(c), "the first job at Ark")
    # Over the running cap: the request waits its turn, with its place shown, and nothing is created yet.
    second = stack.send("/video a short stream")["message_id"]
    wait_card(stack, second, lambda c: "Position in queue: **1**" in strings(c), "the queued card")
    # Over the queue bound: refused clearly, and nothing is left behind.
    third = stack.send("/video a quiet pond")["message_id"]
    msg = wait_text(stack, third, r".", "the refusal")
    assert "You already have 1 videos generating and 1 waiting" in msg["text"], msg["text"]
    settled(stack)
    assert not job_cards(stack, third)
    assert not tasks_with(stack, "a quiet pond")
    assert not tasks_with(stack, "a short stream")
    # Someone else is not limited by Alice's jobs.
    bob = stack.send("/video a wide lake", user=BOB)["message_id"]
    wait_card(stack, bob, lambda c: "Task" in strings(c), "Bob's job at Ark")
    # `/status` and `/cancel` without an argument mean Alice's latest job: the queued one.
    status = stack.send("/status")["message_id"]
    wait_info_card(stack, status, r"a short stream", "the status of the queued job")
    stack.send("/cancel")
    wait_card(stack, second, lambda c: "cancelled" in header(c).lower(), "the queued job cancelled")
    # The running one goes on, and the cancelled one never reaches the service.
    ark_config(stack, speed=600)
    wait_until(lambda: thread(stack, first, "media"), WAIT, what="the first video")
    settled(stack)
    assert not tasks_with(stack, "a short stream")


def test_a_queued_job_starts_when_the_running_one_ends(stack: Stack) -> None:
    stack.bot_env.update({"BOT_USER_MAX_JOBS": "1"})
    stack.start_bot()
    ark_config(stack, speed=0.05)
    first = stack.send("/video a long river")["message_id"]
    wait_card(stack, first, lambda c: "Task" in strings(c), "the first job at Ark")
    second = stack.send("/video a short stream")["message_id"]
    wait_card(stack, second, lambda c: "Position in queue" in strings(c), "the queued card")
    assert not tasks_with(stack, "a short stream")
    ark_config(stack, speed=600)
    wait_until(lambda: thread(stack, second, "media"), WAIT, what="the queued job's video")
    assert len(tasks_with(stack, "a short stream")) == 1


def test_a_button_refused_by_quota_works_once_the_quota_allows(stack: Stack) -> None:
    stack.bot_env.update({"BOT_USER_MAX_JOBS": "1", "BOT_USER_MAX_QUEUED": "1"})
    stack.start_bot()
    src = stack.send("/draft a hot air balloon")["message_id"]
    card = wait_card(stack, src, lambda c: "approve_720p" in actions(c), "the draft card")
    ark_config(stack, speed=0.05)
    busy = stack.send("/video a slow parade")["message_id"]
    wait_card(stack, busy, lambda c: "Task" in strings(c), "the slow job at Ark")
    waiting = stack.send("/video a waiting crowd")["message_id"]
    wait_card(stack, waiting, lambda c: "Position in queue" in strings(c), "the queued job")

    stack.click(card["message_id"], {"a": "approve_720p"})
    wait_text(stack, src, r"1 videos generating and 1 waiting", "the quota refusal of the approve")
    settled(stack)
    assert len(stack.ark_tasks()) == 2  # the draft and the slow job; no final
    assert "approve_720p" in actions(message(stack, card["message_id"])["content"])

    ark_config(stack, speed=600)
    wait_until(lambda: thread(stack, busy, "media") and thread(stack, waiting, "media"), WAIT,
               what="the slow and the queued jobs' videos")
    stack.click(card["message_id"], {"a": "approve_720p"})
    wait_until(lambda: len(thread(stack, src, "media")) == 2, WAIT, what="the final video")
    final = [t for t in stack.ark_tasks() if t["body"]["content"][0]["type"] == "draft_task"]
    assert len(final) == 1


def test_daily_budget_and_a_failed_task_releases_it(stack: Stack) -> None:
    stack.bot_env.update({"BOT_USER_DAILY_SECONDS": "10"})
    stack.start_bot()
    # A failed task gives its seconds back.
    ark_config(stack, fail_rate=1.0)
    failed = stack.send("/video a forbidden thing --duration 8")["message_id"]
    wait_card(stack, failed, lambda c: header(c).startswith("⚠️"), "the failed card")
    wait_text(stack, failed, r".", "the failure explanation")
    q = stack.send("/quota")["message_id"]
    card = wait_info_card(stack, q, r"Left today", "the quota card")
    assert "0/10 s" in strings(card["content"]) and "**10 s**" in strings(card["content"])
    ark_config(stack, fail_rate=0.0)

    make_video(stack, "/video a fine thing --duration 8")
    q = stack.send("/quota")["message_id"]
    card = wait_info_card(stack, q, r"Left today", "the quota card after a video")
    assert "8/10 s" in strings(card["content"])

    over = stack.send("/video one more thing --duration 5")["message_id"]
    msg = wait_text(stack, over, r".", "the daily refusal")
    assert "over your daily video budget: 8 of 10 seconds used today" in msg["text"], msg["text"]
    assert "needs up to 5 s" in msg["text"] and "resets at 00:00 UTC" in msg["text"], msg["text"]
    settled(stack)
    assert not job_cards(stack, over)
    assert not tasks_with(stack, "one more thing")


def test_allowlist_refuses_another_chat(stack: Stack) -> None:
    stack.bot_env.update({"BOT_ALLOWLIST": "oc_e2e_group"})
    stack.start_bot()
    other = stack.send("/video a stranger's cat", chat_id="oc_elsewhere")["message_id"]
    msg = wait_text(stack, other, r".", "the refusal in another chat")
    assert "isn't enabled for this chat" in msg["text"], msg["text"]
    make_video(stack, "/video an allowed cat")
    settled(stack)
    assert len(stack.ark_tasks()) == 1
    assert not tasks_with(stack, "a stranger's cat")


# --- 6. /status, /list, /cancel --------------------------------------------------------------------------


def test_status_and_list_without_arguments(stack: Stack) -> None:
    stack.start_bot()
    make_video(stack, "/video an old clock ticking")
    [task] = stack.ark_tasks()
    status = stack.send("/status")["message_id"]
    card = wait_info_card(stack, status, re.escape(task["id"]), "the status card")
    assert header(card["content"]).startswith("✅")

    by_id = stack.send(f"/status {task['id']}")["message_id"]
    wait_info_card(stack, by_id, re.escape(task["id"]), "the status card by task id")

    listed = stack.send("/list")["message_id"]
    card = wait_info_card(stack, listed, r"an old clock ticking", "the list card")
    assert task["id"] in strings(card["content"])
    # Bob's /list does not show Alice's jobs.
    bob = stack.send("/list", user=BOB)["message_id"]
    card = wait_info_card(stack, bob, r"(?i)no jobs", "Bob's empty list")
    assert "an old clock" not in strings(card["content"])


def test_failed_job_card_explains_and_suggests_a_fix(stack: Stack) -> None:
    stack.start_bot()
    ark_config(stack, fail_rate=1.0)
    src = stack.send("/video a thing that fails")["message_id"]
    card = wait_card(stack, src, lambda c: header(c).startswith("⚠️"), "the failed card")
    text = strings(card["content"])
    assert "What to try" in text, text
    assert actions(card["content"]) == ["reroll"]
    wait_text(stack, src, r".", "the failure explanation in the thread")
    assert not thread(stack, src, "media")
