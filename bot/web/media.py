"""GET /media/<id>?exp=…&sig=…: chat videos and voice messages, served to Ark (Seedance 2.0 references).

The worker puts the files under `<BOT_DATA_DIR>/media` and signs their URLs (`bot.shared_media`);
this route only reads. It answers:

- 403 when the signature does not match the id and expiry (compared in constant time);
- 404 once the URL or the file has expired (and removes the file), or for an unknown id;
- else the file with its content type, `Accept-Ranges`, and 206 for a `Range` request.

The id is checked against a fixed pattern before any path is built, so no request can name a
file outside the directory. Nothing here touches Redis or Feishu.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, request, send_file
from flask.typing import ResponseReturnValue

from bot.config import Settings
from bot.shared_media import MEDIA_ROUTE, MediaStore

log = logging.getLogger(__name__)


def media_blueprint(settings: Settings) -> Blueprint:
    bp = Blueprint("media", __name__)
    store = MediaStore.from_settings(settings)

    @bp.get(f"{MEDIA_ROUTE}/<media_id>")
    def media(media_id: str) -> ResponseReturnValue:
        if store is None:
            abort(404)
        verdict = store.verify(media_id, request.args.get("exp", ""), request.args.get("sig", ""))
        if verdict == "bad":
            log.info("media: refused a request with a bad signature")
            abort(403)
        item = store.get(media_id)
        if verdict == "expired" or item is None:
            store.remove_if_expired(media_id)  # the sweep would, later
            abort(404)
        resp = send_file(item.path, mimetype=item.content_type, conditional=True, etag=True, max_age=0)
        resp.headers["Cache-Control"] = "private, no-store"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    return bp
