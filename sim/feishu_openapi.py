"""Open API rules of the Feishu simulator: error codes, content validation, upload checks.

Pure functions, so the HTTP layer stays thin and every refusal the bot can meet is listed here.
Codes marked [INF] are not confirmed by feishu-api.md (see its "Open questions"); they are
plausible values so the bot's client can be tested against *a* non-zero code.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from sim.feishu_events import FILE_TYPES, MSG_TYPES, POST_LOCALES, card_problem

JSON = dict[str, Any]

# --- error codes (§5.9) -------------------------------------------------------------------------
TOKEN_MISSING = 99991661
TOKEN_INVALID = 99991663
APP_CREDENTIALS = 99991543
GATEWAY_RATE_LIMIT = 99991400
FIELD_VALIDATION = 99992402  # [INF] generic "field validation failed"
INVALID_PARAM = 230001
NOT_SENDER = 230012
CHAT_RATE_LIMIT = 230020  # also used for the PATCH 5 QPS per message limit [INF]
CONTENT_TOO_LONG = 230025  # [INF]
CARD_INVALID = 230099  # [INF] "Failed to create card content"
UPLOAD_INVALID = 234001  # [INF]
RESOURCE_NOT_IN_MESSAGE = 234003  # [INF]
UPLOAD_TOO_LARGE = 234006  # [INF]
IMAGE_UNRECOGNISED = 234011  # [INF]
RESOURCE_UNSUPPORTED = 234043
REACTION_INVALID = 231001  # [INF]
REACTION_NOT_FOUND = 231003  # [INF]
CARD_TOKEN_INVALID = 200340  # [INF] delayed-update token unknown, expired or used up
CARD_OPEN_IDS_EMPTY = 300090
INTERNAL_ERROR = 2200  # [INF] body of an injected HTTP 500

TEXT_LIMIT = 150 * 1024
CARD_LIMIT = 30 * 1024
POST_LIMIT = 30 * 1024
IMAGE_TYPES = frozenset({"message", "avatar"})
IMAGE_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "ICO", "TIFF", "HEIC", "MPO"})
RECEIVE_ID_TYPES = frozenset({"open_id", "union_id", "user_id", "email", "chat_id"})


class ApiError(Exception):
    """A refusal in Feishu's envelope: HTTP status (400 for business errors) plus a non-zero code."""

    def __init__(self, code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}


def require(cond: object, code: int, msg: str) -> None:
    if not cond:
        raise ApiError(code, msg)


# --- multipart ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def parse_multipart(body: bytes, content_type: str) -> dict[str, Part]:
    """Every part's raw bytes, whether or not it carried a filename.

    lark-oapi's sync path sends a BytesIO upload as a part *without* a filename, which Werkzeug
    would put in `request.form` decoded as text (mangling binary data); reading the raw parts
    treats "file in request.files OR request.form" (§5.5) uniformly and losslessly.
    """
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        raise ApiError(FIELD_VALIDATION, "request must be multipart/form-data")
    decoder = MultipartDecoder(boundary.encode(), max_form_memory_size=None)
    decoder.receive_data(body)
    decoder.receive_data(None)
    parts: dict[str, Part] = {}
    current: Field | File | None = None
    buf = bytearray()
    while True:
        try:
            event = decoder.next_event()
        except ValueError as exc:
            raise ApiError(FIELD_VALIDATION, f"malformed multipart body: {exc}") from exc
        if isinstance(event, (Field, File)):
            current, buf = event, bytearray()
        elif isinstance(event, Data):
            buf += event.data
            if not event.more_data and current is not None:
                filename = current.filename if isinstance(current, File) else None
                parts[current.name] = Part(
                    current.name, filename, current.headers.get("Content-Type"), bytes(buf)
                )
        elif isinstance(event, (NeedData, Epilogue)):
            return parts


# --- uploads (§5.5, §5.6) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckedFile:
    file_type: str
    file_name: str
    duration: int | None
    data: bytes
    content_type: str


def check_file_upload(parts: dict[str, Part], limit: int) -> CheckedFile:
    file_type = parts["file_type"].text.strip() if "file_type" in parts else ""
    require(file_type, FIELD_VALIDATION, "file_type is required")
    require(file_type in FILE_TYPES, FIELD_VALIDATION, f"file_type must be one of {sorted(FILE_TYPES)}")
    file_name = parts["file_name"].text.strip() if "file_name" in parts else ""
    require(file_name, FIELD_VALIDATION, "file_name is required")
    duration: int | None = None
    if "duration" in parts and parts["duration"].text.strip():
        try:
            duration = int(parts["duration"].text.strip())
        except ValueError:
            raise ApiError(FIELD_VALIDATION, "duration must be an integer (milliseconds)") from None
    require("file" in parts, FIELD_VALIDATION, "file is required")
    data = parts["file"].data
    require(data, UPLOAD_INVALID, "file is empty")
    if len(data) > limit:
        raise ApiError(UPLOAD_TOO_LARGE, f"file size exceeds the limit of {limit} bytes")
    content_type = "application/octet-stream"
    if file_type == "mp4":
        require(is_mp4(data), UPLOAD_INVALID, "file_type is mp4 but the file is not an mp4 (no ftyp box)")
        content_type = "video/mp4"
    elif file_type == "opus":
        content_type = "audio/opus"
    elif file_type == "pdf":
        content_type = "application/pdf"
    return CheckedFile(file_type, file_name, duration, data, content_type)


def is_mp4(data: bytes) -> bool:
    """ISO base media: the first box is `ftyp` (size, then the 4-byte type)."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


@dataclass(frozen=True)
class CheckedImage:
    image_type: str
    data: bytes
    format: str
    width: int
    height: int
    content_type: str


def image_info(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) if Pillow can decode the bytes; raises ValueError otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = str(img.format), img.size
            img.verify()
    except Exception as exc:
        raise ValueError(f"cannot decode image: {exc}") from exc
    return fmt, w, h


def check_image_upload(parts: dict[str, Part], limit: int) -> CheckedImage:
    image_type = parts["image_type"].text.strip() if "image_type" in parts else ""
    require(image_type in IMAGE_TYPES, FIELD_VALIDATION, "image_type must be message or avatar")
    require("image" in parts, FIELD_VALIDATION, "image is required")
    data = parts["image"].data
    require(data, UPLOAD_INVALID, "image is empty")
    if len(data) > limit:
        raise ApiError(UPLOAD_TOO_LARGE, f"image size exceeds the limit of {limit} bytes")
    try:
        fmt, w, h = image_info(data)
    except ValueError as exc:
        raise ApiError(IMAGE_UNRECOGNISED, str(exc)) from None
    require(fmt in IMAGE_FORMATS, IMAGE_UNRECOGNISED, f"unsupported image format {fmt}")
    side = 4096 if image_type == "avatar" else 2000 if fmt == "GIF" else 12000
    require(w <= side and h <= side, UPLOAD_INVALID, f"image larger than {side}x{side}")
    return CheckedImage(image_type, data, fmt, w, h, Image.MIME.get(fmt, "application/octet-stream"))


# --- message content (§5.2-§5.4) ---------------------------------------------------------------------


def check_message_body(body: Any) -> tuple[str, str, str | None]:
    """(msg_type, content string, uuid) of a send/reply body, or ApiError."""
    require(isinstance(body, dict), FIELD_VALIDATION, "request body must be a JSON object")
    msg_type = body.get("msg_type")
    require(isinstance(msg_type, str) and msg_type, FIELD_VALIDATION, "msg_type is required")
    require(msg_type in MSG_TYPES, FIELD_VALIDATION, f"msg_type must be one of {sorted(MSG_TYPES)}")
    content = body.get("content")
    require(isinstance(content, str), FIELD_VALIDATION, "content must be a string holding JSON")
    uuid = body.get("uuid")
    if uuid is not None:
        require(isinstance(uuid, str), FIELD_VALIDATION, "uuid must be a string")
        require(len(uuid) <= 50, FIELD_VALIDATION, "uuid must be at most 50 characters")
    return str(msg_type), str(content), (uuid or None)


def check_content(
    msg_type: str,
    content: str,
    *,
    image_known: Callable[[str], bool],
    file_type_of: Callable[[str], str | None],
) -> Any:
    """Parse and validate `content` for `msg_type`; returns the parsed JSON."""
    size = len(content.encode())
    if msg_type == "text":
        require(size <= TEXT_LIMIT, CONTENT_TOO_LONG, f"text content exceeds {TEXT_LIMIT} bytes")
    elif msg_type == "interactive":
        require(size <= CARD_LIMIT, CONTENT_TOO_LONG, f"card content exceeds {CARD_LIMIT} bytes")
    elif msg_type == "post":
        require(size <= POST_LIMIT, CONTENT_TOO_LONG, f"post content exceeds {POST_LIMIT} bytes")
    try:
        parsed = json.loads(content)
    except ValueError:
        raise ApiError(INVALID_PARAM, f"content is not valid JSON for msg_type {msg_type}") from None
    require(isinstance(parsed, dict), INVALID_PARAM, "content must be a JSON object")

    def need_image(key: Any) -> None:
        require(isinstance(key, str) and image_known(key), INVALID_PARAM, f"invalid image_key {key!r}")

    def need_file(key: Any, *types: str) -> None:
        ftype = file_type_of(key) if isinstance(key, str) else None
        require(ftype is not None, INVALID_PARAM, f"invalid file_key {key!r}")
        if types:
            require(
                ftype in types, INVALID_PARAM, f"file_key {key!r} was uploaded as {ftype}, need {types[0]}"
            )

    if msg_type == "text":
        require(isinstance(parsed.get("text"), str), INVALID_PARAM, "text content needs a string 'text'")
    elif msg_type == "image":
        need_image(parsed.get("image_key"))
    elif msg_type == "file":
        need_file(parsed.get("file_key"))
    elif msg_type == "audio":
        need_file(parsed.get("file_key"), "opus")
    elif msg_type == "media":
        need_file(parsed.get("file_key"), "mp4")
        need_image(parsed.get("image_key"))
    elif msg_type == "sticker":
        require(isinstance(parsed.get("file_key"), str), INVALID_PARAM, "sticker content needs file_key")
    elif msg_type == "share_chat":
        require(isinstance(parsed.get("chat_id"), str), INVALID_PARAM, "share_chat content needs chat_id")
    elif msg_type == "share_user":
        require(isinstance(parsed.get("user_id"), str), INVALID_PARAM, "share_user content needs user_id")
    elif msg_type == "interactive":
        problem = card_problem(parsed)
        require(problem is None, CARD_INVALID, f"Failed to create card content: {problem}")
    elif msg_type == "post":
        _check_post(parsed, need_image, need_file)
    return parsed


def _check_post(parsed: JSON, need_image: Callable[[Any], None], need_file: Callable[..., None]) -> None:
    """A *sent* post must be wrapped in a locale (§1.4); img/media need known keys."""
    bodies = [v for k, v in parsed.items() if k in POST_LOCALES or (len(k) == 5 and k[2] == "_")]
    require(bodies, INVALID_PARAM, 'post content must be wrapped in a locale, e.g. {"zh_cn": {...}}')
    for body in bodies:
        require(
            isinstance(body, dict) and isinstance(body.get("content"), list),
            INVALID_PARAM,
            "post locale body needs a 'content' list of paragraphs",
        )
        for row in body["content"]:
            require(isinstance(row, list), INVALID_PARAM, "each post paragraph must be a list of elements")
            for el in row:
                require(
                    isinstance(el, dict) and isinstance(el.get("tag"), str),
                    INVALID_PARAM,
                    "post elements need a 'tag'",
                )
                if el["tag"] == "img":
                    need_image(el.get("image_key"))
                elif el["tag"] == "media":
                    need_file(el.get("file_key"), "mp4")
                    if el.get("image_key"):
                        need_image(el.get("image_key"))
