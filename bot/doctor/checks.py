"""The checks of `seedance-bot doctor`: one small function per setting or dependency.

Each returns `Check`s in the operator's language and never raises for what it checks: a failure
is a finding. Every network call has the doctor's timeout and no retries. Nothing is created
or changed anywhere: the Ark check lists tasks, the Feishu checks fetch a token, the bot's info
and the app's scopes, the webhook check asks ``/healthz`` and sends Feishu's own URL challenge
(answered without touching Redis), the callback check posts to a callback id nobody issued
(answered 404), and the long-connection check asks for an endpoint without connecting to it.

What can't be checked from here is said in the line itself: whether a model is activated (only
creating a task tells; a task of it that succeeded in the last 7 days proves it), and whether
Feishu reaches BOT_PUBLIC_URL from the internet (this machine reaching it is necessary, not
sufficient).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bot import catalogue, i18n
from bot.clients.ark import ArkClient
from bot.clients.feishu import CODE_LOCAL, FeishuClient
from bot.config import Settings
from bot.doctor.facts import without_password
from bot.doctor.result import Check, Section, Severity
from bot.doctor.scopes import NEEDS
from bot.errors import ArkError, FeishuError
from bot.store.embedded import redis_binary
from bot.store.server import MIN_VERSION, ServerUnreachable, sentinel_facts, server_facts

ARK_CONSOLE = "https://console.byteplus.com/ark/region:ark+ap-southeast-1/apiKey"
DISK_FAIL_BYTES = 200 * 1024 * 1024
DISK_WARN_BYTES = 1024 * 1024 * 1024
MB = 1024 * 1024


@dataclass
class Context:
    """What every check gets: the settings, the language, the timeout, and what earlier checks found."""

    settings: Settings
    lang: str = "en"
    timeout: float = 5.0
    ark_ok: bool = False
    feishu: FeishuClient | None = None  # set once the credentials work
    public: PublicProbe | None = None
    http: requests.Session = field(default_factory=requests.Session)

    def t(self, key: str, /, **params: Any) -> str:
        return i18n.t(key, self.lang, **params)

    def check(self, id: str, section: Section, ok: bool, message: str, fix: str = "",
              severity: Severity = Severity.BLOCKING) -> Check:
        return Check(id=id, section=section, ok=ok, message=message, fix=fix if not ok else "", severity=severity)

    def skip(self, id: str, section: Section, message: str) -> Check:
        return Check(id=id, section=section, ok=False, message=message, skipped=True)


# --- ModelArk -------------------------------------------------------------------------------------


def check_ark_key(ctx: Context) -> list[Check]:
    s = ctx.settings
    if s.ark_api_key is None:
        return [ctx.check("ark.key", Section.ARK, False, ctx.t("doctor.ark.key_missing"),
                          ctx.t("doctor.ark.key_missing_fix", console=ARK_CONSOLE))]
    client = ArkClient(s.ark_base_url, s.ark_api_key.get_secret_value(), timeout=ctx.timeout, max_retries=0)
    try:
        page = client.list(page_size=1, retries=0)
    except ArkError as exc:
        return [_ark_failure(ctx, exc)]
    finally:
        client.close()
    ctx.ark_ok = True
    return [ctx.check("ark.key", Section.ARK, True, ctx.t("doctor.ark.key_ok", url=s.ark_base_url, tasks=page.total))]


def _ark_failure(ctx: Context, exc: ArkError) -> Check:
    url = ctx.settings.ark_base_url
    if exc.status is None:  # no HTTP answer at all
        return ctx.check("ark.key", Section.ARK, False, ctx.t("doctor.ark.unreachable", url=url, error=exc.code),
                         ctx.t("doctor.ark.unreachable_fix"))
    if exc.status == 401:
        return ctx.check("ark.key", Section.ARK, False, ctx.t("doctor.ark.key_invalid", code=exc.code),
                         ctx.t("doctor.ark.key_invalid_fix", console=ARK_CONSOLE))
    if exc.status == 403:
        return ctx.check("ark.key", Section.ARK, False, ctx.t("doctor.ark.key_denied", code=exc.code),
                         ctx.t("doctor.ark.key_denied_fix"))
    if exc.status == 404:
        return ctx.check("ark.key", Section.ARK, False, ctx.t("doctor.ark.bad_url", url=url, code=exc.code),
                         ctx.t("doctor.ark.bad_url_fix"))
    return ctx.check("ark.key", Section.ARK, False,
                     ctx.t("doctor.ark.error", status=exc.status, code=exc.code, message=exc.message[:200]),
                     ctx.t("doctor.ark.error_fix"))


def check_model(ctx: Context) -> list[Check]:
    name = ctx.settings.seedance_default_model
    found = catalogue.lookup(name)
    info = found.info
    if info is None:
        if name.startswith("ep-"):  # an inference endpoint ID: Ark resolves it, the catalogue can't
            return [ctx.check("ark.model", Section.ARK, True, ctx.t("doctor.model.endpoint", model=name))]
        return [ctx.check("ark.model", Section.ARK, False, ctx.t("doctor.model.unknown", model=name),
                          ctx.t("doctor.model.unknown_fix", models=_current_models()), Severity.WARNING)]
    if info.retired:
        return [ctx.check("ark.model", Section.ARK, False, ctx.t("doctor.model.retired", model=name, name=info.name),
                          ctx.t("doctor.model.unknown_fix", models=_current_models()), Severity.WARNING)]
    if ctx.ark_ok and _recently_succeeded(ctx, {info.id, info.volcengine_id or info.id}):
        return [ctx.check("ark.model", Section.ARK, True, ctx.t("doctor.model.ok_used", model=found.model_id,
                                                                 name=info.name))]
    return [ctx.check("ark.model", Section.ARK, True, ctx.t("doctor.model.ok_unverified", model=found.model_id,
                                                             name=info.name))]


def _current_models() -> str:
    return ", ".join(m.id for m in catalogue.MODELS if not m.retired)


def _recently_succeeded(ctx: Context, ids: set[str]) -> bool:
    """A task of one of these models succeeded in the last 7 days (Ark's list window): it is activated."""
    s = ctx.settings
    if s.ark_api_key is None:
        return False
    client = ArkClient(s.ark_base_url, s.ark_api_key.get_secret_value(), timeout=ctx.timeout, max_retries=0)
    try:
        page = client.list(page_size=100, status="succeeded", retries=0)
    except ArkError:
        return False
    finally:
        client.close()
    return any(task.model in ids for task in page.items)


# --- Redis ----------------------------------------------------------------------------------------


def check_redis(ctx: Context) -> list[Check]:
    s = ctx.settings
    if not s.redis_url:
        binary = redis_binary()
        if binary is None:
            return [ctx.check("redis.embedded", Section.REDIS, False, ctx.t("doctor.redis.no_binary"),
                              ctx.t("doctor.redis.no_binary_fix"))]
        return [ctx.check("redis.embedded", Section.REDIS, True,
                          ctx.t("doctor.redis.embedded", binary=binary, dir=(s.bot_data_dir / "redis").absolute(),
                                maxmemory=s.embedded_redis_maxmemory))]
    shown = without_password(s.redis_url)
    out = check_sentinel(ctx)
    try:
        facts = server_facts(s.redis_url, timeout=ctx.timeout)
    except (ServerUnreachable, ValueError) as exc:
        return [*out, ctx.check("redis.reachable", Section.REDIS, False,
                                ctx.t("doctor.redis.unreachable", url=shown, error=str(exc)[:200]),
                                ctx.t("doctor.redis.unreachable_fix"))]
    minimum = ".".join(map(str, MIN_VERSION))
    out.append(ctx.check("redis.reachable", Section.REDIS, facts.recent_enough,
                         ctx.t("doctor.redis.ok" if facts.recent_enough else "doctor.redis.old", url=shown,
                               version=facts.version, minimum=minimum),
                         ctx.t("doctor.redis.old_fix", minimum=minimum)))
    out.append(ctx.check("redis.aof", Section.REDIS, facts.aof,
                         ctx.t("doctor.redis.aof_on" if facts.aof else "doctor.redis.aof_off"),
                         ctx.t("doctor.redis.aof_fix")))
    noeviction = facts.policy == "noeviction"
    out.append(ctx.check("redis.eviction", Section.REDIS, noeviction,
                         ctx.t("doctor.redis.noeviction" if noeviction else "doctor.redis.eviction",
                               policy=facts.policy or "?"),
                         ctx.t("doctor.redis.eviction_fix")))
    out.append(ctx.check("redis.maxmemory", Section.REDIS, facts.maxmemory > 0,
                         ctx.t("doctor.redis.maxmemory", max=facts.maxmemory // MB, used=facts.used_memory // MB,
                               share=round(100 * facts.used_memory / facts.maxmemory) if facts.maxmemory else 0)
                         if facts.maxmemory else ctx.t("doctor.redis.no_maxmemory"),
                         ctx.t("doctor.redis.maxmemory_fix"), Severity.WARNING))
    if _exposed_without_password(s.redis_url):
        out.append(ctx.check("redis.password", Section.REDIS, False, ctx.t("doctor.redis.no_password", url=shown),
                             ctx.t("doctor.redis.no_password_fix"), Severity.WARNING))
    return out


def check_sentinel(ctx: Context) -> list[Check]:
    """With REDIS_SENTINELS: the master the sentinels name, and the ones that don't answer (or disagree)."""
    s = ctx.settings
    try:
        facts = sentinel_facts(s.redis_url or "", timeout=ctx.timeout)
    except ValueError:
        facts = None
    if facts is None:
        return []
    total = len(facts.answering) + len(facts.silent)
    silent = ", ".join(facts.silent) or "-"
    if not facts.masters:
        return [ctx.check("redis.sentinel", Section.REDIS, False,
                          ctx.t("doctor.redis.sentinel_none", name=facts.master_name, silent=silent,
                                answering=", ".join(facts.answering) or "-"),
                          ctx.t("doctor.redis.sentinel_fix"))]
    if facts.silent or len(facts.masters) > 1:
        return [ctx.check("redis.sentinel", Section.REDIS, False,
                          ctx.t("doctor.redis.sentinel_partial", name=facts.master_name, master=facts.masters[0],
                                silent=silent, others=", ".join(facts.masters[1:]) or "-"),
                          ctx.t("doctor.redis.sentinel_fix"), Severity.WARNING)]
    return [ctx.check("redis.sentinel", Section.REDIS, True,
                      ctx.t("doctor.redis.sentinel_ok", name=facts.master_name, master=facts.masters[0],
                            answering=len(facts.answering), total=total))]


def _exposed_without_password(url: str) -> bool:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        password = parts.password
    except ValueError:
        return False
    if parts.scheme == "unix" or host in ("", "localhost", "::1") or host.startswith("127."):
        return False
    return not password


# --- Feishu ----------------------------------------------------------------------------------------


def check_feishu_credentials(ctx: Context) -> list[Check]:
    s = ctx.settings
    secret = s.feishu_app_secret.get_secret_value()
    if not s.feishu_app_id or not secret:
        return [ctx.check("feishu.credentials", Section.FEISHU, False, ctx.t("doctor.feishu.creds_missing"),
                          ctx.t("doctor.feishu.creds_missing_fix", console=_console(s)))]
    try:
        client = FeishuClient(s.feishu_app_id, secret, base_url=s.feishu_base_url, timeout=ctx.timeout,
                              max_retries=0)
    except ValueError:
        return [ctx.check("feishu.credentials", Section.FEISHU, False,
                          ctx.t("doctor.feishu.bad_domain", domain=s.feishu_domain),
                          ctx.t("doctor.feishu.bad_domain_fix"))]
    try:
        client.verify_credentials()
    except FeishuError as exc:
        if exc.code == CODE_LOCAL:
            return [ctx.check("feishu.credentials", Section.FEISHU, False,
                              ctx.t("doctor.feishu.unreachable", url=s.feishu_base_url, error=exc.msg[:200]),
                              ctx.t("doctor.feishu.unreachable_fix"))]
        return [ctx.check("feishu.credentials", Section.FEISHU, False,
                          ctx.t("doctor.feishu.creds_refused", code=exc.code, msg=_feishu_msg(exc)),
                          ctx.t("doctor.feishu.creds_refused_fix", console=_console(s)))]
    ctx.feishu = client
    return [ctx.check("feishu.credentials", Section.FEISHU, True,
                      ctx.t("doctor.feishu.creds_ok", app_id=s.feishu_app_id, url=s.feishu_base_url))]


def _feishu_msg(exc: FeishuError) -> str:
    """Feishu's own words, without the client's "<operation>: " prefix."""
    op, sep, rest = exc.msg.partition(": ")
    return (rest if sep and op in ("tenant_access_token", "bot_info", "app_scopes") else exc.msg)[:200]


def _console(s: Settings) -> str:
    """The developer console of this app (open.larksuite.com for Lark, else open.feishu.cn)."""
    host = "open.larksuite.com" if s.feishu_base_url == "https://open.larksuite.com" else "open.feishu.cn"
    return f"https://{host}/app/{s.feishu_app_id}" if s.feishu_app_id else f"https://{host}/app"


def check_bot(ctx: Context) -> list[Check]:
    if ctx.feishu is None:
        return [ctx.skip("feishu.bot", Section.FEISHU, ctx.t("doctor.skipped.feishu", what=ctx.t("doctor.what.bot")))]
    console = _console(ctx.settings)
    try:
        info = ctx.feishu.bot_info()
    except FeishuError as exc:
        return [ctx.check("feishu.bot", Section.FEISHU, False,
                          ctx.t("doctor.feishu.bot_error", code=exc.code, msg=_feishu_msg(exc)),
                          ctx.t("doctor.feishu.bot_enable_fix", console=console))]
    if info.activate_status not in (None, 2):
        status = int(info.activate_status or 0)
        meaning = ctx.t(f"doctor.feishu.activate.{status}") if 0 <= status <= 6 else "?"
        return [ctx.check("feishu.bot", Section.FEISHU, False,
                          ctx.t("doctor.feishu.bot_inactive", name=info.app_name, status=info.activate_status,
                                meaning=meaning),
                          ctx.t("doctor.feishu.bot_inactive_fix", console=console))]
    return [ctx.check("feishu.bot", Section.FEISHU, True,
                      ctx.t("doctor.feishu.bot_ok", name=info.app_name, open_id=info.open_id))]


def check_scopes(ctx: Context) -> list[Check]:
    if ctx.feishu is None:
        return [ctx.skip("feishu.scopes", Section.FEISHU,
                         ctx.t("doctor.skipped.feishu", what=ctx.t("doctor.what.scopes")))]
    page = f"{_console(ctx.settings)}/auth"
    try:
        granted = ctx.feishu.app_scopes()
    except FeishuError as exc:
        listed = ", ".join(n.scope for n in NEEDS if n.required)
        return [ctx.check("feishu.scopes", Section.FEISHU, False,
                          ctx.t("doctor.scopes.unreadable", code=exc.code, msg=_feishu_msg(exc)),
                          ctx.t("doctor.scopes.unreadable_fix", scopes=listed, page=page), Severity.WARNING)]
    out: list[Check] = []
    for need in NEEDS:
        if any(granted.get(s) for s in need.scopes):
            continue
        severity = Severity.BLOCKING if need.required else Severity.WARNING
        purpose = ctx.t(need.purpose)
        kind = "optional" if not need.required else "required"
        if any(s in granted for s in need.scopes):  # added, not granted yet
            out.append(ctx.check(f"feishu.scope.{need.scope}", Section.FEISHU, False,
                                 ctx.t(f"doctor.scopes.pending.{kind}", scope=need.scope, purpose=purpose),
                                 ctx.t("doctor.scopes.pending_fix", page=_console(ctx.settings)), severity))
        else:
            out.append(ctx.check(f"feishu.scope.{need.scope}", Section.FEISHU, False,
                                 ctx.t(f"doctor.scopes.missing.{kind}", scope=need.scope, purpose=purpose),
                                 ctx.t("doctor.scopes.missing_fix", scope=need.scope, page=page), severity))
    if not out:
        out.append(ctx.check("feishu.scopes", Section.FEISHU, True, ctx.t("doctor.scopes.ok", count=len(NEEDS))))
    return out


# --- how events arrive --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicProbe:
    """What `<BOT_PUBLIC_URL>/healthz` answered (from this machine)."""

    reachable: bool  # an HTTP answer from this bot's app
    problem: Check | None = None  # why not, as a finding


def check_events(ctx: Context) -> list[Check]:
    s = ctx.settings
    if s.feishu_connection == "websocket":
        return _check_long_connection(ctx)
    out: list[Check] = []
    key = s.feishu_encrypt_key.get_secret_value()
    token = s.feishu_verification_token.get_secret_value()
    if key:
        out.append(ctx.check("events.encryption", Section.EVENTS, True, ctx.t("doctor.events.encrypted")))
    elif token and s.feishu_allow_token_only:
        out.append(ctx.check("events.encryption", Section.EVENTS, False, ctx.t("doctor.events.token_only"),
                             ctx.t("doctor.events.no_key_fix"), Severity.WARNING))
    else:
        out.append(ctx.check("events.encryption", Section.EVENTS, False,
                             ctx.t("doctor.events.no_key" if token else "doctor.events.no_key_no_token"),
                             ctx.t("doctor.events.no_key_fix"), Severity.BLOCKING))
    if not s.bot_public_url:
        out.append(ctx.check("events.url", Section.EVENTS, False, ctx.t("doctor.events.no_url"),
                             ctx.t("doctor.events.no_url_fix"), Severity.BLOCKING))
        return out
    if urlsplit(s.bot_public_url).scheme != "https":
        out.append(ctx.check("events.https", Section.EVENTS, False,
                             ctx.t("doctor.events.not_https", url=s.bot_public_url),
                             ctx.t("doctor.events.not_https_fix"), Severity.WARNING))
    probe = _probe_public(ctx)
    if probe.problem is not None:
        out.append(probe.problem)
        return out
    out.append(_challenge(ctx, token))
    return out


def _probe_public(ctx: Context) -> PublicProbe:
    """GET <BOT_PUBLIC_URL>/healthz once; the events and the callback checks share the answer."""
    if ctx.public is not None:
        return ctx.public
    s = ctx.settings
    url = f"{s.bot_public_url}/healthz"
    try:
        resp = ctx.http.get(url, timeout=ctx.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        fix = (ctx.t("doctor.public.fix_proxy", port=s.bot_port) if _local_bot_answers(ctx)
               else ctx.t("doctor.public.fix_start", port=s.bot_port))
        ctx.public = PublicProbe(False, ctx.check("events.reachable", Section.EVENTS, False,
                                                  ctx.t("doctor.public.unreachable", url=url,
                                                        error=type(exc).__name__), fix))
        return ctx.public
    body = _json(resp)
    if resp.status_code == 200 and body.get("ok") is True:
        ctx.public = PublicProbe(True)
    elif resp.status_code == 503 and body.get("ok") is False:
        ctx.public = PublicProbe(False, ctx.check("events.reachable", Section.EVENTS, False,
                                                  ctx.t("doctor.public.unhealthy", url=url,
                                                        error=str(body.get("error", ""))[:100]),
                                                  ctx.t("doctor.public.unhealthy_fix")))
    else:
        ctx.public = PublicProbe(False, ctx.check("events.reachable", Section.EVENTS, False,
                                                  ctx.t("doctor.public.not_the_bot", url=url, status=resp.status_code),
                                                  ctx.t("doctor.public.not_the_bot_fix", port=s.bot_port)))
    return ctx.public


def _local_bot_answers(ctx: Context) -> bool:
    try:
        resp = ctx.http.get(f"http://127.0.0.1:{ctx.settings.bot_port}/healthz", timeout=min(ctx.timeout, 2.0))
    except requests.RequestException:
        return False
    return "ok" in _json(resp)


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _challenge(ctx: Context, token: str) -> Check:
    """Feishu's own check when the request URL is saved: POST url_verification, expect the challenge back."""
    url = f"{ctx.settings.bot_public_url}/feishu/events"
    challenge = f"seedance-bot-doctor-{secrets.token_hex(8)}"
    doc: dict[str, Any] = {"type": "url_verification", "challenge": challenge}
    if token:
        doc["token"] = token
    try:
        resp = ctx.http.post(url, json=doc, timeout=ctx.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return ctx.check("events.challenge", Section.EVENTS, False,
                         ctx.t("doctor.public.unreachable", url=url, error=type(exc).__name__),
                         ctx.t("doctor.public.fix_proxy", port=ctx.settings.bot_port))
    if resp.status_code == 200 and _json(resp).get("challenge") == challenge:
        return ctx.check("events.challenge", Section.EVENTS, True, ctx.t("doctor.events.challenge_ok", url=url))
    if resp.status_code == 404:
        return ctx.check("events.challenge", Section.EVENTS, False, ctx.t("doctor.events.no_webhook", url=url),
                         ctx.t("doctor.events.no_webhook_fix"))
    if resp.status_code == 401:
        return ctx.check("events.challenge", Section.EVENTS, False, ctx.t("doctor.events.challenge_refused", url=url),
                         ctx.t("doctor.events.challenge_refused_fix"))
    return ctx.check("events.challenge", Section.EVENTS, False,
                     ctx.t("doctor.public.not_the_bot", url=url, status=resp.status_code),
                     ctx.t("doctor.public.not_the_bot_fix", port=ctx.settings.bot_port))


def _check_long_connection(ctx: Context) -> list[Check]:
    """FEISHU_CONNECTION=websocket: ask for a connection endpoint as lark-oapi does, and don't connect."""
    s = ctx.settings
    secret = s.feishu_app_secret.get_secret_value()
    if not s.feishu_app_id or not secret:
        return [ctx.skip("events.websocket", Section.EVENTS,
                         ctx.t("doctor.skipped.feishu", what=ctx.t("doctor.what.websocket")))]
    url = f"{s.feishu_base_url}/callback/ws/endpoint"
    try:
        resp = ctx.http.post(url, json={"AppID": s.feishu_app_id, "AppSecret": secret},
                             headers={"locale": "zh"}, timeout=ctx.timeout)
    except requests.RequestException as exc:
        return [ctx.check("events.websocket", Section.EVENTS, False,
                          ctx.t("doctor.feishu.unreachable", url=url, error=type(exc).__name__),
                          ctx.t("doctor.feishu.unreachable_fix"))]
    body = _json(resp)
    data = body.get("data")
    data = data if isinstance(data, dict) else {}
    if resp.status_code == 200 and body.get("code") == 0 and data.get("URL"):
        return [ctx.check("events.websocket", Section.EVENTS, True, ctx.t("doctor.events.ws_ok"))]
    return [ctx.check("events.websocket", Section.EVENTS, False,
                      ctx.t("doctor.events.ws_refused", status=resp.status_code, code=body.get("code"),
                            msg=str(body.get("msg", ""))[:200]),
                      ctx.t("doctor.events.ws_refused_fix", console=_console(s)))]


def check_callback(ctx: Context) -> list[Check]:
    """Ark POSTs status changes to <BOT_PUBLIC_URL>/ark/callback/<id>: is that route this bot's?"""
    s = ctx.settings
    if not s.bot_public_url:
        return [ctx.check("ark.callback", Section.EVENTS, True, ctx.t("doctor.callback.polling"))]
    probe = _probe_public(ctx)
    if not probe.reachable:
        return [ctx.skip("ark.callback", Section.EVENTS, ctx.t("doctor.skipped.public"))]
    url = f"{s.bot_public_url}/ark/callback/doctor{secrets.token_hex(12)}"
    shown = f"{s.bot_public_url}/ark/callback/…"
    try:
        resp = ctx.http.post(url, json={}, timeout=ctx.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return [ctx.check("ark.callback", Section.EVENTS, False,
                          ctx.t("doctor.public.unreachable", url=shown, error=type(exc).__name__),
                          ctx.t("doctor.public.fix_proxy", port=s.bot_port))]
    if resp.status_code == 404 and _json(resp).get("error") == "unknown callback":
        return [ctx.check("ark.callback", Section.EVENTS, True, ctx.t("doctor.callback.ok", url=shown))]
    return [ctx.check("ark.callback", Section.EVENTS, False,
                      ctx.t("doctor.public.not_the_bot", url=shown, status=resp.status_code),
                      ctx.t("doctor.callback.fix", port=s.bot_port))]


# --- this machine ----------------------------------------------------------------------------------


def check_disk(ctx: Context) -> list[Check]:
    """BOT_DATA_DIR (the embedded Redis's AOF, shared media) and the temp dir (each video on its way)."""
    found = [_check_dir(ctx, "disk", Path(ctx.settings.bot_data_dir).absolute(), "BOT_DATA_DIR")]
    tmp = Path(tempfile.gettempdir()).absolute()
    if tmp != Path(ctx.settings.bot_data_dir).absolute():
        found.append(_check_dir(ctx, "disk.tmp", tmp, "TMPDIR"))
    return found


def _check_dir(ctx: Context, name: str, path: Path, var: str) -> Check:
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        return ctx.check(name, Section.MACHINE, False, ctx.t("doctor.disk.not_writable", path=existing, var=var),
                         ctx.t("doctor.disk.not_writable_fix", var=var))
    free = shutil.disk_usage(existing).free
    params = {"path": path, "free": _size(free), "var": var}
    if free < DISK_FAIL_BYTES:
        return ctx.check(name, Section.MACHINE, False, ctx.t("doctor.disk.full", **params),
                         ctx.t("doctor.disk.fix", var=var))
    if free < DISK_WARN_BYTES:
        return ctx.check(name, Section.MACHINE, False, ctx.t("doctor.disk.low", **params),
                         ctx.t("doctor.disk.fix", var=var), Severity.WARNING)
    return ctx.check(name, Section.MACHINE, True, ctx.t("doctor.disk.ok", **params))


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n // MB} MB"


def check_media(ctx: Context) -> list[Check]:
    """PyAV (bundled FFmpeg): probing and covers need the h264 decoder, shrinking libx264 and aac."""
    try:
        import av  # deferred: PyAV (FFmpeg) is heavy; only this check and delivery need it
    except ImportError as exc:
        return [ctx.check("media", Section.MACHINE, False, ctx.t("doctor.media.missing", error=str(exc)[:200]),
                          ctx.t("doctor.media.missing_fix"))]
    missing = []
    for name, mode in (("h264", "r"), ("libx264", "w"), ("aac", "w")):
        try:
            av.codec.Codec(name, mode)
        except Exception:  # PyAV raises its own UnknownCodecError (a ValueError) or FFmpegError
            missing.append(name)
    if missing:
        return [ctx.check("media", Section.MACHINE, False,
                          ctx.t("doctor.media.codecs", version=av.__version__, codecs=", ".join(missing)),
                          ctx.t("doctor.media.missing_fix"), Severity.WARNING)]
    return [ctx.check("media", Section.MACHINE, True, ctx.t("doctor.media.ok", version=av.__version__))]


def check_admins(ctx: Context) -> list[Check]:
    admins = ctx.settings.admin_ids
    if not admins:
        return [ctx.check("admins", Section.SETTINGS, False, ctx.t("doctor.admins.none"),
                          ctx.t("doctor.admins.none_fix"), Severity.WARNING)]
    allow = ctx.settings.allowlist_ids
    return [ctx.check("admins", Section.SETTINGS, True,
                      ctx.t("doctor.admins.ok", count=len(admins),
                            allowlist=ctx.t("doctor.admins.everyone") if not allow else len(allow)))]


CHECKS: tuple[Callable[[Context], list[Check]], ...] = (
    check_admins,
    check_ark_key, check_model,
    check_redis,
    check_feishu_credentials, check_bot, check_scopes,
    check_events, check_callback,
    check_disk, check_media,
)
"""In the order they run and print: later ones use what earlier ones found (`Context`)."""


def run_checks(settings: Settings, *, lang: str = "en", timeout: float = 5.0) -> list[Check]:
    """Every check against these settings. A check that crashes is a finding too, not a traceback."""
    ctx = Context(settings=settings, lang=lang, timeout=timeout)
    found: list[Check] = []
    try:
        for check in CHECKS:
            try:
                found.extend(check(ctx))
            except Exception as exc:  # a bug of ours, or a dependency's surprise: say so and go on
                found.append(ctx.check(check.__name__.removeprefix("check_"), Section.SETTINGS, False,
                                       ctx.t("doctor.crashed", check=check.__name__.removeprefix("check_"),
                                             error=f"{type(exc).__name__}: {exc}"[:300]),
                                       ctx.t("doctor.crashed_fix")))
    finally:
        ctx.http.close()
    return found
