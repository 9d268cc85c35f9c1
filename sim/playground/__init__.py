"""The chat playground: a Feishu-like chat in the browser, served by the Feishu simulator.

Open `http://<feishu simulator>/playground` (`seedance-bot demo` prints the address): a group
chat and a private chat with the bot, a choice of who you are (Alice, Bob or Carol, so the card
buttons' owner check can be seen), a composer with @mentions, photo upload (or a sample photo)
with a caption and replies; the bot's answers in their threads, its cards rendered from the card
JSON it really sent and updated live as it PATCHes them, its videos playing inline.

Plain HTML, CSS and one script (`index.html`, `app.css`, `app.js`, package data next to this
file): no build step, nothing fetched from anywhere else. `routes.playground_blueprint` serves
them and the JSON/SSE API over the simulator's users' side (`sim.feishu_users`), so the bot sees
exactly what Feishu would send; `samples` draws the sample photos.
"""

from __future__ import annotations

from sim.playground.routes import (
    ALICE,
    BOB,
    CAROL,
    GROUP_CHAT_ID,
    GROUP_NAME,
    PATH,
    PEOPLE,
    playground_blueprint,
    ui_message,
)

__all__ = [
    "ALICE", "BOB", "CAROL", "GROUP_CHAT_ID", "GROUP_NAME", "PATH", "PEOPLE", "playground_blueprint",
    "ui_message",
]
