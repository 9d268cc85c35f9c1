"""500+ malformed or hostile webhook deliveries against a real `seedance-bot serve`, then a real video.

The bodies come from the seeded corpus in tests/hostile.py: unsigned junk, deep nesting,
non-UTF-8, huge bodies, challenges with wrong tokens, and (signed, often encrypted with
the stack's key, so they get past the signature check) every field of a message event
replaced by wrong types, lone surrogates, NaN, absurd lengths; content that does not match
its message_type; encrypted garbage, wrong keys, stale timestamps, replayed signatures.

Afterwards: no response was 5xx, Ark saw no task, the bot is alive and healthy, its log
holds neither the Encrypt Key nor the verification token, and `/video a kitten yawning`
still ends as a playable video.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import av
import pytest
import requests
from stack import APP_SECRET, ARK_KEY, ENCRYPT_KEY, VERIFICATION_TOKEN, Stack, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostile import corpus, summary

pytestmark = pytest.mark.slow

FEISHU_SIM_BOT_OPEN_ID = "ou_bot_sim"  # `seedance-bot sim feishu` default


def test_hostile_deliveries_change_nothing_and_the_bot_still_works(stack: Stack) -> None:
    started = time.monotonic()
    stack.start_bot()
    cases = corpus(encrypt_key=ENCRYPT_KEY, token=VERIFICATION_TOKEN, bot_open_id=FEISHU_SIM_BOT_OPEN_ID)
    assert len(cases) >= 500
    url = f"{stack.bot_url}/feishu/events"
    results = []
    with requests.Session() as session:
        for case in cases:
            try:
                status = session.post(url, data=case.body, headers=case.headers, timeout=30).status_code
            except requests.ConnectionError:  # a server may close on an oversize body mid-upload
                status = 413 if 413 in case.expect else 0
            results.append((case, status))
    line = summary(results)
    print(line)

    server_errors = [(c.category, c.note, s) for c, s in results if s >= 500 or s == 0]
    assert not server_errors, server_errors[:20]
    unexpected = [(c.category, c.note, s) for c, s in results if s not in c.expect]
    assert not unexpected, unexpected[:20]

    assert stack.ark_tasks() == []  # nothing hostile started a video
    assert requests.get(f"{stack.bot_url}/healthz", timeout=10).json() == {"ok": True}
    assert stack.procs["bot-serve"].poll() is None

    sent = stack.send("/video a kitten yawning")
    media = wait_until(lambda: [m for m in stack.bot_messages("media")
                                if sent["message_id"] in (m.get("parent_id"), m.get("root_id"))],
                       90, what="a media reply to the good event")
    data = stack.file(media[0]["content"]["file_key"])
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video[0].codec_context.width > 0
    assert len(stack.ark_tasks()) == 1

    log = stack.log("bot-serve")
    for secret in (ENCRYPT_KEY, VERIFICATION_TOKEN, APP_SECRET, ARK_KEY):
        assert secret not in log
    assert "feishu: unexpected failure" not in log
    print(f"{line}; then a good /video → playable video; {time.monotonic() - started:.1f} s")
