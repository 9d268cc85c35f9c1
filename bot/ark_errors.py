"""ModelArk error codes → a plain explanation and the fix to try, in the user's language.

Used for create-time rejections (HTTP error envelopes) and for tasks that end
`failed`/`expired`. Codes come from ark-api.md §4.2; matching is by prefix so
`OutputVideoSensitiveContentDetected.PolicyViolation` finds its family. The texts live in
the catalogue (`bot.messages.ark`: `ark.what.<code>`, `ark.fix.<code>`); this module owns
only which codes are known and the order they are tried in (most specific first).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import t


@dataclass(frozen=True)
class Explanation:
    what: str
    fix: str
    charged: bool = False  # whether the user's quota is spent (only succeeded tasks are billed)


CODES: tuple[str, ...] = (
    "InputImageSensitiveContentDetected.PrivacyInformation",
    "InputVideoSensitiveContentDetected.PrivacyInformation",
    "InputTextSensitiveContentDetected",
    "InputTextRiskDetection",
    "InputImageSensitiveContentDetected",
    "InputImageRiskDetection",
    "OutputAudioSensitiveContentDetected",
    "OutputVideoSensitiveContentDetected",
    "SensitiveContentDetected",
    "ContentSecurityDetectionError",
    "InvalidParameter.AspectRatio",
    "InvalidParameter",
    "MissingParameter",
    "ModelNotOpen",
    "InvalidEndpointOrModel",
    "InvalidEndpoint",
    "AuthenticationError",
    "AccountOverdueError",
    "OperationDenied.ServiceOverdue",
    "AccessDenied",
    "OperationDenied",
    "QuotaExceeded",
    "SetLimitExceeded",
    "RateLimitExceeded",
    "ModelAccountRpmRateLimitExceeded",
    "ServerOverloaded",
    "InternalServiceError",
    "expired",
    "url_expired",
    "ImageDownloadFailed",
)
"""Known code prefixes, tried in order: a longer (more specific) prefix before its family."""


def explain(code: str, lang: str = "en", message: str = "") -> Explanation:
    """The plain explanation and fix for an Ark error code (or task failure code)."""
    text = message or ""
    if "fetching resource" in text or "timeout while fetching" in text:
        code = "ImageDownloadFailed"
    for prefix in CODES:
        if code == prefix or code.startswith((prefix + ".", prefix)):
            short = _short(text)
            return Explanation(t(f"ark.what.{prefix}", lang, message=short),
                               t(f"ark.fix.{prefix}", lang, message=short))
    return Explanation(t("ark.what.unknown", lang, code=code or "unknown"), t("ark.fix.unknown", lang))


def _short(message: str) -> str:
    """Drop the trailing 'Request id: …' from a service message."""
    return message.split(" Request id:")[0].strip() or message
