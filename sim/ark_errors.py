"""Ark error envelopes (ark-api.md §4.1) as an exception the simulator's routes raise.

`{"error": {"code", "message", "param", "type"}}`, `type` being the HTTP reason
class and the message ending in `Request id: <id>`.
"""

from __future__ import annotations

from typing import Any

REASON_TYPES: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    429: "TooManyRequests",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}


class ApiError(Exception):
    """One error answer: HTTP status, Ark code, human reason (without the request id) and param."""

    def __init__(
        self, status: int, code: str, reason: str, param: str = "", headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {reason}")
        self.status = status
        self.code = code
        self.reason = reason
        self.param = param
        self.headers = dict(headers or {})  # extra response headers (e.g. Retry-After on a 429)

    def envelope(self, request_id: str) -> dict[str, Any]:
        reason = self.reason.rstrip()
        if not reason.endswith("."):
            reason += "."
        return {
            "error": {
                "code": self.code,
                "message": f"{reason} Request id: {request_id}",
                "param": self.param,
                "type": REASON_TYPES.get(
                    self.status, "BadRequest" if self.status < 500 else "InternalServerError"
                ),
            }
        }


def invalid(param: str, reason: str) -> ApiError:
    """400 InvalidParameter in the documented message shape."""
    return ApiError(
        400, "InvalidParameter",
        f"The parameter `{param}` specified in the request is not valid: {reason}", param,
    )


def missing(param: str) -> ApiError:
    return ApiError(
        400, "MissingParameter",
        f"The request failed because it is missing one or multiple required parameters: `{param}`", param,
    )


def not_found(param: str, what: str) -> ApiError:
    return ApiError(404, "ResourceNotFound", f"The specified resource {what} is not found", param)
