"""Local stand-ins for the two services the bot talks to, and a whole deployment built on them.

Nobody can reach Feishu or BytePlus from a laptop or CI, so both are simulated on loopback, built
to the API references in `shared/reference/`. Not part of the product: installed from the
repository with `pip install -e '.[sim]'`, left out of the production image (`.dockerignore`).
`sim` imports `bot` (the model catalogue, the embedded Redis); `bot` never imports `sim` at module
level (only `seedance-bot sim` and `seedance-bot demo`, when they run).

* `sim.ark`: the BytePlus ModelArk video-task API (`ArkSimulator`); `ark_*` its parts.
* `sim.feishu`: the Feishu/Lark Open API and the users who chat with the bot (`FeishuSimulator`);
  `feishu_*` its parts.
* `sim.playground`: the chat playground, a Feishu-like chat in the browser on the Feishu simulator
  (`/playground`).
* `sim.media`: real playable mp4s and images for both.
* `sim.cli`: `seedance-bot sim ark|feishu`.
* `sim.stack`: `LocalStack`, both simulators + Redis + the bot's roles as processes: what the demo,
  the end-to-end tests and the benchmarks run; `sim.redis_server`: a redis-server of its own.
* `sim.demo`: `seedance-bot demo`.
"""
