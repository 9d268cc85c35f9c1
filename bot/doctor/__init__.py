"""`seedance-bot doctor` and the start-up banner: what an operator needs to see before and while the bot runs.

* `checks`: one small function per setting or dependency (Ark key, model, Redis, Feishu app,
  bot, scopes, event mode, Ark callbacks, disk, media), each returning `Check`s: ok or not, how
  bad (blocking or warning), what was found and how to fix it, in the operator's language
  (the texts are the ``doctor.`` section of `bot.messages`). `run_checks` runs them all.
* `scopes`: the Feishu scopes the bot needs, and what each is for (the setup guides name exactly these).
* `report`: the ✅ / ⚠️ / ❌ lines and the summary; exit status 1 when anything blocks the bot.
* `banner`: the one-screen summary every role prints at start-up (never a secret).

A layer of its own beside `bot.runtime` (pyproject.toml's import contracts): it uses the clients
and the store, and only `bot.cli` uses it.
"""
