"""The web role: the only package that imports Flask.

`create_app(settings, redis=...)` builds the webhook app (POST /feishu/events,
POST /ark/callback/<secret>, GET /media/<id> (signed: reference videos/audios
for Ark, `bot.web.media`), GET /healthz, GET /metrics). Importing this
package is cheap; lark-oapi (~3 s to import) loads when the first app is built.
`bot.web.longconn` is the other transport (FEISHU_CONNECTION=websocket): Feishu's long
connection instead of the webhook, through the same `bot.web.intake`.
"""

from bot.web.app import create_app

__all__ = ["create_app"]
