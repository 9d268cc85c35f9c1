"""The web role: the only package that imports Flask.

`create_app(settings, redis=...)` builds the webhook app (POST /feishu/events,
POST /ark/callback/<secret>, GET /healthz, GET /metrics). Importing this
package is cheap; lark-oapi (~3 s to import) loads when the first app is built.
"""

from bot.web.app import create_app

__all__ = ["create_app"]
