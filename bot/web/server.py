"""The web role inside `seedance-bot serve`: waitress in a thread of the same process.

`seedance-bot web` runs the app under gunicorn (forked workers, for scaling out).
`serve` keeps every role in ONE process so that a SIGKILL leaves no orphan
behind holding the port; waitress is a production WSGI server that runs in a
thread, which gunicorn's forking model cannot.
"""

from __future__ import annotations

import threading
from typing import Any


class InProcessServer:
    def __init__(self, app: Any, *, host: str, port: int, threads: int = 16) -> None:
        from waitress.server import create_server

        self._server = create_server(app, host=host, port=port, threads=threads,
                                     channel_timeout=30, connection_limit=1000, ident="seedance-bot")
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()
        if self._thread is not None:
            self._thread.join(5)
