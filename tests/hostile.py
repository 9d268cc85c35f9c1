"""A seeded corpus of malformed and hostile webhook deliveries, for the fuzz suites.

`corpus(...)` returns `Case`s: the raw body, the headers, a category and the statuses a
correct webhook may answer. Unsigned cases test the gate in front of the signature
check; signed (and encrypted) ones carry hostile content past it, to the parser, the
filters and the Redis write. Built only with `builders` (independent of the bot's code).

Used twice: in-process through the Flask test client (tests/test_hostile_input.py) and
over HTTP against a real `seedance-bot serve` stack (tests/e2e/test_fuzz.py).
No case may start a video: no text anywhere holds a slash command.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from builders import card_action, encrypt, generic_event, message_event, sign, url_verification

OK = frozenset({200})
OK_OR_BAD = frozenset({200, 400})
BAD = frozenset({400})
FORGED = frozenset({401})
REFUSED = frozenset({400, 401})
TOO_BIG = frozenset({413})


@dataclass(frozen=True)
class Case:
    category: str
    body: bytes
    headers: dict[str, str]
    expect: frozenset[int]
    note: str = ""


def deep(levels: int, open_: str = "[", close: str = "]") -> str:
    return open_ * levels + close * levels


def deep_object(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


# Values that replace a field: wrong types, None, empty, huge, binary-ish, lone surrogates.
# JSON text fragments (not Python values), so NaN, lone surrogates and duplicates stay verbatim.
WEIRD_VALUES: list[str] = [
    "null", "0", "-1", "1.5", "true", "false", '""', "[]", "{}", "[1,2,3]", '{"a":{"b":[null]}}',
    json.dumps("x" * 20_000), '"\\ud800"', '"\\udfff\\ud800 tail"', '"\\u0000nul"', '"😀 emoji"',
    "123456789012345678901234567890", "1e308", "-0", deep(40), deep_object(40),
    '"' + "\\u202e" * 50 + '"', '"<script>alert(1)</script>"', '"\\\\\\"quoted\\""',
]
# Never valid JSON for us: the parser must refuse them (400), not crash.
POISON_VALUES: list[str] = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, deep(200), deep_object(200)]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a JSON document (containers included), depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


_MARK = "\u0000@@WEIRD@@\u0000"


def _replace(doc: dict[str, Any], path: tuple[Any, ...], fragment: str | None) -> str:
    """`doc` as JSON text with the value at `path` replaced by a raw JSON `fragment` (None: deleted)."""
    d = copy.deepcopy(doc)
    parent: Any = d
    for step in path[:-1]:
        parent = parent[step]
    if fragment is None:
        del parent[path[-1]]
        return json.dumps(d, ensure_ascii=False)
    parent[path[-1]] = _MARK
    return json.dumps(d, ensure_ascii=False).replace(json.dumps(_MARK), fragment, 1)


class _Builder:
    def __init__(self, rng: random.Random, key: str, token: str, bot_open_id: str) -> None:
        self.rng, self.key, self.token, self.bot_open_id = rng, key, token, bot_open_id
        self.cases: list[Case] = []

    def rid(self, prefix: str = "") -> str:
        return prefix + f"{self.rng.getrandbits(128):032x}"

    def message(self, text: str = "hello there, nice weather", **kw: Any) -> dict[str, Any]:
        kw.setdefault("chat_type", "p2p")
        kw.setdefault("mentions", [{"key": "@_user_1", "id": {"open_id": self.bot_open_id, "union_id": "on_b",
                                                              "user_id": ""},
                                    "mentioned_type": "bot", "name": "VideoBot", "tenant_key": "t"}])
        return message_event(text, event_id=self.rid(), message_id=self.rid("om_"), token=self.token, **kw)

    def signed(self, category: str, text: str | bytes, expect: frozenset[int], *, encrypted: bool = False,
               note: str = "", key: str | None = None, signing_key: str | None = None,
               ts: str | None = None) -> None:
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        if encrypted:
            raw = json.dumps(encrypt(raw, key or self.key)).encode()
        stamp = ts if ts is not None else str(int(time.time()))
        headers = {"Content-Type": "application/json; charset=utf-8",
                   **sign(stamp, self.rid(), signing_key or self.key, raw)}
        self.cases.append(Case(category, raw, headers, expect, note))

    def unsigned(self, category: str, body: bytes, expect: frozenset[int], note: str = "") -> None:
        self.cases.append(Case(category, body, {"Content-Type": "application/json"}, expect, note))


def corpus(*, seed: int = 20240611, encrypt_key: str, token: str, bot_open_id: str = "ou_bot_sim",
           max_body: int = 1_000_000) -> list[Case]:
    """At least 500 deliveries, the same ones for the same seed (bar ids/IVs drawn at send time)."""
    b = _Builder(random.Random(seed), encrypt_key, token, bot_open_id)
    rng = b.rng

    # --- 1. unsigned junk: refused before (or at) the gate, never parsed deeply -------------------------
    for n in (0, 1, 7, 64, 300, 2000, 5000):
        b.unsigned("unsigned-junk", rng.randbytes(n), REFUSED | TOO_BIG, f"{n} random bytes")
    for text in ("", " ", "null", "[]", '"str"', "1e999", "NaN", "{", '{"a":', '{"encrypt":', "\ufeff{}",
                 '{"type":"url_verification"', '{"encrypt": 12}', '{"encrypt": ""}', '{"encrypt": "!!!"}',
                 '{"encrypt": null}', '{"a":1,"a":2}', '{"type": ["url_verification"]}'):
        b.unsigned("unsigned-junk", text.encode(), REFUSED)
    b.unsigned("unsigned-junk", json.dumps({"k": "é"}).encode("utf-16"), REFUSED, "utf-16")
    b.unsigned("unsigned-junk", '{"k": "é"}'.encode("latin-1"), REFUSED, "latin-1")
    b.unsigned("unsigned-deep", deep(100_000).encode(), REFUSED, "100k nested arrays")
    b.unsigned("unsigned-deep", deep_object(20_000).encode(), REFUSED, "20k nested objects")
    b.unsigned("unsigned-deep", deep(1500).encode(), REFUSED, "1500 nested (under 4 KiB)")
    b.unsigned("unsigned-deep", ('{"type":"url_verification","challenge":' + deep(1000) + "}").encode(), REFUSED)
    b.unsigned("unsigned-huge", b"[" * (max_body + 10), TOO_BIG | FORGED, "over max_body_bytes")
    b.unsigned("unsigned-huge", b"\x00\xff" * 300_000, REFUSED | TOO_BIG, "600 KB binary")
    for event in (b.message(), card_action({"a": "x"}, token=token), generic_event("x.y", token=token)):
        b.unsigned("unsigned-event", json.dumps(event).encode(), FORGED, "plain, no signature")
        b.unsigned("unsigned-event", json.dumps(encrypt(event, encrypt_key)).encode(), FORGED, "encrypted")

    # --- 2. the challenge, unsigned: only the right token gets an echo ---------------------------------
    for challenge in ("null", "5", "[]", '{"x":1}', '""', json.dumps("c" * 600), '"\\ud800"', deep(60)):
        text = f'{{"type":"url_verification","token":{json.dumps(token)},"challenge":{challenge}}}'
        b.unsigned("challenge", text.encode(), OK | BAD)  # a lone surrogate is echoed as U+FFFD
    for bad_token in ("null", "5", '"wrong"', '""', '"\\ud800"', "[]", json.dumps(token + " ")):
        text = f'{{"type":"url_verification","token":{bad_token},"challenge":"abc"}}'
        b.unsigned("challenge", text.encode(), FORGED)
        b.unsigned("challenge", json.dumps(encrypt(text, encrypt_key)).encode(), FORGED)
    b.unsigned("challenge", json.dumps(url_verification("ok-1", token=token)).encode(), OK, "valid")
    b.unsigned("challenge", json.dumps(encrypt(url_verification("ok-2", token=token), encrypt_key)).encode(), OK)
    b.unsigned("challenge", json.dumps(encrypt(url_verification("ok-3", token=token), "other-key")).encode(), BAD)

    # --- 3. signed garbage: authentic bytes that are not an event ---------------------------------------
    for n in (1, 16, 100, 4000):
        b.signed("signed-junk", rng.randbytes(n), BAD, note=f"{n} random bytes")
    for text in ("null", "[]", "[1,2]", '"s"', "3", "true", "{", '{"schema":', "NaN", '{"a":NaN}',
                 '{"a":Infinity}', '{"a":1e999}', '{"a":' + "9" * 5000 + "}", "\ufeff{}", '{"schema": "2.0"}',
                 '{"schema": 2}', '{"schema":"2.0","header":[]}', '{"schema":"2.0","header":"h"}',
                 '{"schema":"2.0","header":{"event_type":5}}', '{"schema":"2.0","header":null}', "{}",
                 '{"uuid": 5}', '{"token": null}'):
        b.signed("signed-junk", text, REFUSED, encrypted=rng.random() < 0.5)
    b.signed("signed-junk", '{"k": "é"}'.encode("latin-1"), BAD, note="latin-1")
    b.signed("signed-junk", json.dumps({"k": "é"}).encode("utf-16"), BAD, note="utf-16")
    for levels in (65, 100, 1000, 100_000):
        b.signed("signed-deep", deep(levels), BAD, note=f"{levels} arrays")
        b.signed("signed-deep", deep_object(levels), BAD, encrypted=True, note=f"{levels} objects, encrypted")
    base = b.message()
    nested = json.dumps(base).replace('"chat_type": "p2p"', '"chat_type": "p2p", "x": ' + deep(500), 1)
    assert nested != json.dumps(base)
    b.signed("signed-deep", nested, BAD, encrypted=True, note="deep inside an event")

    # --- 4. encrypted garbage, wrong keys ---------------------------------------------------------------
    for n in (0, 15, 16, 31, 32, 48, 1000):
        blob = base64.b64encode(rng.randbytes(n)).decode()
        b.signed("encrypted-garbage", json.dumps({"encrypt": blob}), BAD, note=f"{n} random bytes")
    odd_values: list[Any] = ["!!!", "====", "a", "\u00e9\u00e9", 12, None, [], {"x": 1}, "YWJj" * 1000]
    for enc in odd_values:
        b.signed("encrypted-garbage", json.dumps({"encrypt": enc}), BAD)
    for plaintext in (b"\xff\xfe\x00binary", b"not json", b"[1,2]", deep(200).encode(), b'{"a":NaN}',
                      b"\xed\xa0\x80", b""):
        b.signed("encrypted-garbage", json.dumps(encrypt(plaintext or b" ", encrypt_key)), BAD)
    for _ in range(4):
        event = b.message()
        b.signed("wrong-key", json.dumps(event), BAD, encrypted=True, key="another-key-123")
        b.signed("wrong-key", json.dumps(event), FORGED, encrypted=True, key="another-key-123",
                 signing_key="another-key-123")
        b.signed("wrong-key", json.dumps(event), FORGED, signing_key=encrypt_key + "x")

    # --- 5. timestamps and replays ---------------------------------------------------------------------
    now = int(time.time())
    for ts in (str(now - 3600), str(now + 3600), str(now - 301), str((now - 3600) * 1000), "0", "-1", "nan",
               "inf", "-inf", "1e400", "abc", "1.5.5", "1" * 500, str(now) + "x"):
        b.signed("stale", json.dumps(b.message()), FORGED, ts=ts, encrypted=rng.random() < 0.5)
    replay_source = b.cases[-1]
    for _ in range(3):  # headers of one body with another body
        other = json.dumps(encrypt(b.message(), encrypt_key)).encode()
        b.cases.append(Case("replay", other, dict(replay_source.headers), FORGED, "signature of another body"))
    b.signed("replay", json.dumps(b.message()), OK, note="original")
    original = b.cases[-1]
    for _ in range(4):  # the same signed delivery again: a duplicate, answered 200, stored once
        b.cases.append(Case("replay", original.body, dict(original.headers), OK, "exact replay"))
    for bad_sig in ("", "0" * 64, "Z" * 64, "é" * 64, original.headers["X-Lark-Signature"].upper(), "x" * 4000):
        headers = {**original.headers, "X-Lark-Signature": bad_sig}
        b.cases.append(Case("replay", original.body, headers, FORGED, "tampered signature"))

    # --- 6. every field of a message event replaced by something wrong ---------------------------------
    template = b.message()
    paths = list(_paths(template))
    for path in paths:
        values = [*rng.sample(WEIRD_VALUES, 7), rng.choice(POISON_VALUES)]
        for fragment in [None, *values]:
            doc = b.message()
            # keep the ids fresh (no dedupe between cases) unless the path replaces them
            text = _replace(doc, path, fragment)
            poison = fragment in POISON_VALUES
            expect = BAD if poison else OK_OR_BAD
            if path == ("header", "token"):
                expect = expect | FORGED  # a present but wrong token is refused even when signed
            b.signed("field-mutation", text, expect, encrypted=rng.random() < 0.5,
                     note=".".join(map(str, path)) + "=" + ("<deleted>" if fragment is None else fragment[:20]))

    # --- 7. content that does not match message_type ---------------------------------------------------
    contents = ['{"text":"hi"}', '{"title":"","content":[[{"tag":"text","text":"hi"}]]}', '{"image_key":"img_x"}',
                "not json", "[]", "null", '{"text":5}', '{"content":"x"}', '{"text":"\\ud800\\udc00\\ud800"}',
                json.dumps(deep(30)), '{"title":' + deep(10) + "}", '{"zh_cn":{"content":[["x",1,null]]}}']
    types = ["text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat",
             "merge_forward", "unknown_type", ""]
    for message_type in types:
        for content in rng.sample(contents, 5):
            doc = b.message(extra_message_fields={"message_type": message_type})
            doc["event"]["message"]["content"] = content
            b.signed("content-mismatch", json.dumps(doc), OK, encrypted=rng.random() < 0.5)

    # --- 8. card clicks with wrong shapes ----------------------------------------------------------------
    for value in ("null", "5", '"x"', "[]", "{}", '{"a":5,"rid":[],"owner":{}}', '{"a":"x","rid":"y"}',
                  '{"a":"\\ud800","rid":"r","owner":"ou_x"}', json.dumps({"a": "a", "rid": "r", "owner": "o" * 500}),
                  '{"a":"approve","rid":"req_fuzz","owner":"ou_84aad35d084aa403a838cf73ee18467",'
                  '"owner_name":"\\ud800' + "n" * 100 + '"}'):
        doc = card_action(None, event_id=b.rid(), token=token)
        text = json.dumps(doc).replace('"value": {}', '"value": ' + value, 1)
        b.signed("card", text, OK, encrypted=True)
    for path in list(_paths(card_action({"a": "x"})))[:30]:
        doc = card_action({"a": "approve", "rid": "req_fuzz", "owner": "ou_nobody"}, event_id=b.rid(), token=token)
        b.signed("card", _replace(doc, path, rng.choice(WEIRD_VALUES)), OK_OR_BAD | FORGED, encrypted=True,
                 note="card." + ".".join(map(str, path)))

    # --- 9. authentic events we do not handle, and big ones ---------------------------------------------
    for event_type in ("im.chat.member.bot.added_v1", "im.message.reaction.created_v1", "x" * 300, "",
                       "\u202eevil", "im.message.receive_v2"):
        b.signed("other-event", json.dumps(generic_event(event_type, {"chat_id": "oc_x"}, event_id=b.rid(),
                                                         token=token)), OK | BAD, encrypted=True)
    b.signed("other-event", json.dumps({"uuid": b.rid(), "token": token, "ts": "1", "type": "event_callback",
                                        "event": {"type": "message"}}), OK, note="schema 1.0")
    b.signed("other-event", json.dumps({"open_id": "ou_x", "token": "c-legacy", "action": {"value": {}}}), FORGED,
             note="legacy card body")
    b.signed("huge", json.dumps(b.message("y" * (max_body // 2))), OK, note="half the body limit")
    b.signed("huge", json.dumps(b.message("z" * (max_body + 1))), TOO_BIG, note="over the body limit")
    surrogates = json.dumps(b.message("SURROGATES")).replace("SURROGATES", "\\ud800" * 1000 + "\\udfff x")
    b.signed("huge", surrogates, OK, encrypted=True, note="1000 lone surrogates in the text")
    return b.cases


def summary(results: list[tuple[Case, int]]) -> str:
    """One line: bodies sent per category, and statuses seen."""
    by_cat = Counter(c.category for c, _ in results)
    statuses = Counter(s for _, s in results)
    cats = ", ".join(f"{k} {v}" for k, v in sorted(by_cat.items()))
    sts = ", ".join(f"{k}×{v}" for k, v in sorted(statuses.items()))
    return f"fuzz: {len(results)} bodies ({cats}); statuses {sts}"
