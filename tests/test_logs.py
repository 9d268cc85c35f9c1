"""Secrets never reach the log, tracebacks always do, in text and JSON modes."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Settings
from bot.logs import bind_job, configure_logging, job_context, log_scope, rebind_job

ARK_KEY = "ark-SECRET-1111"
APP_SECRET = "app-SECRET-2222"
ENCRYPT_KEY = 'enc-"SECRET\\3333'  # a quote and a backslash: JSON output escapes them
TOKEN = "tok-SECRET-4444"
METRICS_TOKEN = "met-SECRET-5555"
REDIS_PASSWORD = "redis-SECRET-6666"
SECRETS = [ARK_KEY, APP_SECRET, ENCRYPT_KEY, TOKEN, METRICS_TOKEN, REDIS_PASSWORD]


def _settings(log_json: bool) -> Settings:
    return Settings(_env_file=None, ARK_API_KEY=ARK_KEY, FEISHU_APP_SECRET=APP_SECRET,  # type: ignore[call-arg]
                    FEISHU_ENCRYPT_KEY=ENCRYPT_KEY, FEISHU_VERIFICATION_TOKEN=TOKEN, BOT_METRICS_TOKEN=METRICS_TOKEN,
                    REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0", LOG_JSON=log_json, LOG_LEVEL="INFO")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    lark = logging.getLogger("Lark")
    saved = (root.handlers[:], root.level, lark.handlers[:], lark.filters[:], lark.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    lark.handlers[:], lark.filters[:] = saved[2], saved[3]
    lark.setLevel(saved[4])


def _leaky(encrypt_key: str, verification_token: str) -> None:
    """A frame whose locals hold secrets, failing with an exception that names them."""
    body = {"token": verification_token}
    raise ValueError(f"signature mismatch for key {encrypt_key} and token {body['token']}")


def _assert_clean(out: str) -> None:
    for secret in SECRETS:
        assert secret not in out, f"{secret!r} leaked"
        assert json.dumps(secret)[1:-1] not in out, f"{secret!r} leaked (JSON-escaped)"
    assert "SECRET" not in out


def _log_everything() -> None:
    log = logging.getLogger("bot.test")
    log.info("plain message with %s and %s", TOKEN, ARK_KEY)
    log.warning("Authorization: Bearer %s", "some-bearer-value-123")
    log.info(f"f-string with {APP_SECRET} and {METRICS_TOKEN}")  # noqa: G004 - callers do this
    try:
        _leaky(ENCRYPT_KEY, TOKEN)
    except ValueError:
        log.exception("verification failed for %s", ENCRYPT_KEY)
    try:
        try:
            _leaky(ENCRYPT_KEY, TOKEN)
        except ValueError as exc:
            raise RuntimeError(f"wrapped: redis://:{REDIS_PASSWORD}@host") from exc
    except RuntimeError:
        logging.getLogger("waitress").error("Exception while serving /feishu/events", exc_info=True)  # noqa: G201


def test_text_mode_keeps_tracebacks_and_masks_secrets(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(_settings(log_json=False), stream=out)
    _log_everything()
    text = out.getvalue()
    _assert_clean(text)
    assert "Traceback (most recent call last)" in text
    assert "in _leaky" in text and "ValueError: signature mismatch for key *** and token ***" in text
    assert "RuntimeError: wrapped" in text
    assert "Bearer ***" in text
    assert "plain message with *** and ***" in text


def test_json_mode_keeps_tracebacks_and_masks_secrets(restore_logging: None) -> None:
    out = io.StringIO()
    configure_logging(_settings(log_json=True), stream=out)
    _log_everything()
    text = out.getvalue()
    _assert_clean(text)
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert len(lines) == 5
    failed = [x for x in lines if "exception" in x]
    assert len(failed) == 2
    assert "Traceback (most recent call last)" in failed[0]["exception"]
    assert "ValueError: signature mismatch for key *** and token ***" in failed[0]["exception"]
    assert failed[0]["event"] == "verification failed for ***"
    assert failed[1]["logger"] == "waitress"


def test_locals_never_appear_even_with_rich_installed(restore_logging: None) -> None:
    pytest.importorskip("rich")
    out = io.StringIO()
    configure_logging(_settings(log_json=False), stream=out)

    def frame_with_secret_locals(not_in_message: str) -> None:
        secret_copy = not_in_message + "-suffix"  # noqa: F841 - a local for a pretty traceback to show
        raise KeyError("nothing secret in this message")

    try:
        frame_with_secret_locals("plain-local-value-" + str(7777))  # the full value is not in the source
    except KeyError:
        logging.getLogger("bot.test").exception("boom")
    text = out.getvalue()
    assert "KeyError" in text
    assert "plain-local-value-7777" not in text  # no locals rendered at all


def test_lark_sdk_logs_go_through_redaction_not_its_own_stdout_handler(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    configure_logging(_settings(log_json=False), stream=out)
    import lark_oapi.core.log as lark_log  # adds a stdout handler if first imported now

    lark_log.logger.addHandler(logging.StreamHandler(sys.stdout))  # as at its import
    lark_log.logger.setLevel(logging.DEBUG)  # as Client.builder().log_level(DEBUG) would
    lark_log.logger.debug("request body %s", TOKEN)
    lark_log.logger.error("handle event failed, err: invalid key %s", ENCRYPT_KEY)
    captured = capsys.readouterr()
    assert "handle event failed" not in captured.out  # the SDK's own handler is gone
    text = out.getvalue()
    assert "handle event failed, err: invalid key ***" in text
    assert "request body" not in text  # DEBUG from the SDK never passes
    _assert_clean(text + captured.out + captured.err)


def test_create_app_detaches_the_sdk_handler(redis_url: str, restore_logging: None) -> None:
    from bot.web import create_app

    lark = logging.getLogger("Lark")
    lark.addHandler(logging.StreamHandler(sys.stdout))
    create_app(Settings(_env_file=None, FEISHU_ENCRYPT_KEY="k" * 8, REDIS_URL=redis_url))  # type: ignore[call-arg]
    assert lark.handlers == []
    assert lark.level >= logging.ERROR


def test_typer_apps_never_show_locals() -> None:
    from bot.cli import app
    from sim.cli import app as sim_app

    for typer_app in (app, sim_app):
        assert typer_app.pretty_exceptions_show_locals is False


def test_cli_crash_does_not_print_locals(tmp_path: Any) -> None:
    """A crashing command prints its traceback without the secrets held in local variables."""
    code = (
        "import typer, sys\n"
        "app = __import__('bot.cli', fromlist=['app']).app\n"
        "@app.command('crash-test')\n"
        "def crash() -> None:\n"
        f"    encrypt_key = {ENCRYPT_KEY!r}\n"
        "    raise RuntimeError('crashed')\n"
        "sys.argv = ['seedance-bot', 'crash-test']\n"
        "app()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode != 0
    assert "RuntimeError" in r.stderr + r.stdout
    assert ENCRYPT_KEY not in r.stderr + r.stdout


# --- the job's ids on every line (structlog contextvars) ------------------------------------------------


def test_every_line_of_a_job_carries_its_ids_in_json_and_text(restore_logging: None) -> None:
    """Plain `logging` calls from anywhere (a client deep down) get the ids bound around the job."""
    for log_json in (True, False):
        out = io.StringIO()
        configure_logging(_settings(log_json=log_json), stream=out)
        with log_scope(rid="m-om_1"):
            logging.getLogger("bot.engine.worker").info("entry taken")
            bind_job(chat_id="oc_chat", task_id="")  # only what is known is bound
            with job_context(rid="m-om_1", chat_id="oc_chat"):
                bind_job(task_id="cgt-1")
                logging.getLogger("bot.clients.ark").warning("ark GET -> 500 with %s", ARK_KEY)
            logging.getLogger("bot.engine.worker").info("back in the entry")
        logging.getLogger("bot.engine.worker").info("between entries")
        text = out.getvalue()
        _assert_clean(text)
        if log_json:
            lines = [json.loads(line) for line in text.splitlines()]
            ids = [{k: x.get(k) for k in ("rid", "task_id", "chat_id")} for x in lines]
            assert ids == [
                {"rid": "m-om_1", "task_id": None, "chat_id": None},
                {"rid": "m-om_1", "task_id": "cgt-1", "chat_id": "oc_chat"},
                {"rid": "m-om_1", "task_id": None, "chat_id": "oc_chat"},  # the job's context ended
                {"rid": None, "task_id": None, "chat_id": None},  # the entry's scope ended
            ]
            assert lines[1]["event"] == "ark GET -> 500 with ***" and lines[1]["logger"] == "bot.clients.ark"
        else:
            first, ark, back, between = text.splitlines()
            assert "rid=m-om_1" in first and "task_id" not in first
            assert all(f"{k}={v}" in ark for k, v in (("rid", "m-om_1"), ("task_id", "cgt-1"), ("chat_id", "oc_chat")))
            assert "task_id" not in back and "rid=" not in between


def test_job_contexts_nest_and_never_leak_to_another_job_or_thread(restore_logging: None) -> None:
    import threading

    import structlog

    ctx = structlog.contextvars.get_contextvars
    with log_scope(rid="m-a"):
        bind_job(chat_id="oc_a", task_id="cgt-a")
        with job_context(rid="m-b"):  # another job started from the same entry (admission)
            assert ctx() == {"rid": "m-b"}, "none of m-a's ids"
            rebind_job(rid="m-c", chat_id="oc_c")  # a button's job makes a new one
            assert ctx() == {"rid": "m-c", "chat_id": "oc_c"}
        assert ctx() == {"rid": "m-a", "chat_id": "oc_a", "task_id": "cgt-a"}
        seen: list[dict[str, object]] = []
        t = threading.Thread(target=lambda: seen.append(ctx()))
        t.start()
        t.join()
        assert seen == [{}], "another thread has its own context"
    assert ctx() == {}
    structlog.contextvars.bind_contextvars(rid="left-over")  # a previous unit that did not clean up
    with log_scope():
        assert ctx() == {}

