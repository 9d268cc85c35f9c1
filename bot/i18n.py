"""User-facing text in English and Chinese, keyed by message code.

`t(code, lang, **params)` renders one message; unknown codes fall back to the
code itself so a missing translation is visible, not a crash. `detect(text)`
guesses the user's language from what they typed.
"""

from __future__ import annotations

import re
from typing import Any

Lang = str  # "en" | "zh"

MESSAGES: dict[str, tuple[str, str]] = {
    # --- request validation (bot.spec) -------------------------------------------------
    "empty_prompt": (
        "Please describe the video you want, e.g. `/video a kitten yawning`.",
        "请描述想要的视频，例如 `/video 一只打哈欠的小猫`。",
    ),
    "prompt_too_long": (
        "The prompt is {length} characters; the limit is {limit}. Please shorten it.",
        "提示词有 {length} 个字符，上限是 {limit}，请缩短。",
    ),
    "mixed_image_roles": (
        "Reference images can't be combined with first/last frames. Use either --ref or frames.",
        "参考图不能与首帧/尾帧同时使用，请二选一。",
    ),
    "too_many_frames": (
        "{count} images given: send one image for the first frame, or two for first + last frame.",
        "收到 {count} 张图片：一张图作为首帧，两张图作为首帧+尾帧。",
    ),
    "last_without_first": (
        "A last frame needs a first frame too.",
        "设置尾帧时也需要首帧。",
    ),
    "draft_with_images": (
        "A final render from a draft reuses the draft's images; don't attach new ones.",
        "基于样片生成正式视频会沿用样片的图片，请不要再附加图片。",
    ),
    "draft_of_draft": (
        "A final render from a draft can't itself be a draft.",
        "基于样片生成的正式视频不能再设为样片。",
    ),
    "mode_unsupported": (
        "{model} can't do {mode}. It supports: {allowed}. Models that can: {models}.",
        "{model} 不支持 {mode}，它支持：{allowed}。可用的模型：{models}。",
    ),
    "too_many_refs": (
        "{model} takes 1 to {max} reference images; {count} given.",
        "{model} 支持 1 到 {max} 张参考图，收到 {count} 张。",
    ),
    "bad_resolution": (
        "Resolution {value} isn't available on {model}. Allowed: {allowed}.",
        "{model} 不支持分辨率 {value}，可选：{allowed}。",
    ),
    "bad_duration": (
        "Duration {value} s isn't allowed on {model}. Allowed: {allowed} seconds.",
        "{model} 不支持时长 {value} 秒，可选：{allowed} 秒。",
    ),
    "no_audio": (
        "{model} can't generate audio; use --audio off or a model with audio (Seedance 1.5 Pro, 2.0).",
        "{model} 不能生成声音；请使用 --audio off，或换用支持声音的模型（Seedance 1.5 Pro、2.0）。",
    ),
    "no_draft": (
        "{model} has no draft mode. Drafts work with: {models}.",
        "{model} 不支持样片模式，支持的模型：{models}。",
    ),
    "draft_resolution": (
        "Drafts are always 480p ({value} was asked). Drop the resolution, or render the final after the draft.",
        "样片固定为 480p（你指定了 {value}）。请去掉分辨率参数，或在样片完成后生成正式视频。",
    ),
    "draft_last_frame": (
        "A draft can't return its last frame; ask for it on the final render.",
        "样片不能返回尾帧，请在生成正式视频时再要求。",
    ),
    "no_flex": (
        "The flex (offline, half-price) tier isn't available on {model} or for drafts.",
        "{model} 或样片不支持 flex（离线半价）档位。",
    ),
    "no_seed": (
        "{model} doesn't support a fixed seed or camera settings; drop --seed.",
        "{model} 不支持固定种子；请去掉 --seed。",
    ),
    "no_camera_fixed": (
        "{model} can't fix the camera here (not on the 2.0 series or with reference images).",
        "{model} 在此模式下不支持固定镜头（2.0 系列和参考图模式不支持）。",
    ),
    "bad_ratio": (
        "Aspect ratio {value} isn't supported. Allowed: {allowed}.",
        "不支持画面比例 {value}，可选：{allowed}。",
    ),
    "bad_seed": (
        "Seed {value} is out of range: use -1 (random) to 4294967295.",
        "种子 {value} 超出范围：可用 -1（随机）到 4294967295。",
    ),
    "bad_expires": (
        "--expires-after {value} is out of range: {lo} to {hi} seconds.",
        "--expires-after {value} 超出范围：{lo} 到 {hi} 秒。",
    ),
    "bad_tier": (
        "Service tier {value} is unknown: use default or flex.",
        "未知的服务档位 {value}：可用 default 或 flex。",
    ),
    # --- images (bot.images) --------------------------------------------------------------
    "image_format": (
        "That image format ({value}) isn't accepted. Use JPEG, PNG, WebP, BMP, TIFF or GIF{extra}.",
        "不支持该图片格式（{value}）。请使用 JPEG、PNG、WebP、BMP、TIFF 或 GIF{extra}。",
    ),
    "image_unreadable": (
        "The image couldn't be read ({detail}). Please send a JPEG or PNG photo.",
        "无法读取该图片（{detail}），请发送 JPEG 或 PNG 图片。",
    ),
    "image_aspect": (
        "The image is {width}×{height} (aspect {aspect}); it must be between 0.4 and 2.5. Crop it and resend.",
        "图片为 {width}×{height}（宽高比 {aspect}），宽高比需在 0.4 到 2.5 之间，请裁剪后重发。",
    ),
    "image_small": (
        "The image is {width}×{height}; each side must be more than 300 px. Send a larger image.",
        "图片为 {width}×{height}，每边需大于 300 像素，请发送更大的图片。",
    ),
    "image_large": (
        "The image is {width}×{height}; each side must be under 6000 px. Resize it and resend.",
        "图片为 {width}×{height}，每边需小于 6000 像素，请缩小后重发。",
    ),
    "image_bytes": (
        "The image is {mb} MB; the limit is 30 MB. Compress it and resend.",
        "图片大小 {mb} MB，上限 30 MB，请压缩后重发。",
    ),
    "image_missing": (
        "Image file not found: {value}.",
        "找不到图片文件：{value}。",
    ),
    # --- chat commands (bot.parsing) -----------------------------------------------------------
    "lone_mention": (
        "Hi! Tell me what to make, e.g. `/video a kitten yawning --ratio 9:16`, or send a photo with the "
        "caption `/video <what should happen>`. `/help` lists everything.",
        "你好！请告诉我要生成什么，例如 `/视频 一只打哈欠的小猫 --ratio 9:16`，或发送图片并配文 "
        "`/视频 <画面内容>`。发送 `/帮助` 查看全部命令。",
    ),
    "no_command_hint": (
        "Did you mean `{example}`? Videos cost money, so I only start one when the message begins with "
        "/video (or /draft for a cheap preview). `/help` lists all commands.",
        "是想发送 `{example}` 吗？生成视频会产生费用，"
        "所以只有以 /视频（或低价预览 /样片）开头的消息才会开始生成。发送 `/帮助` 查看全部命令。",
    ),
    "image_only_hint": (
        "Got your photo. To animate it, send it with the caption `/video <what should happen>`, "
        "or reply to it with `/video <what should happen>`.",
        "收到图片。要让它动起来，请发送图片时配文 `/视频 <画面内容>`，或回复这张图片 `/视频 <画面内容>`。",
    ),
    "unsupported_message": (
        "I can't use {kind} messages. Send text such as `/video a kitten yawning`, or a photo with a "
        "`/video …` caption.",
        "无法处理 {kind} 类型的消息。请发送文字，例如 `/视频 一只打哈欠的小猫`，"
        "或发送配文为 `/视频 …` 的图片。",
    ),
    "unknown_command": (
        "Unknown command {value}. Commands: {commands}. Example: `/video a kitten yawning`.",
        "未知命令 {value}。可用命令：{commands}。例如：`/视频 一只打哈欠的小猫`。",
    ),
    "unknown_command_suggest": (
        "Unknown command {value}: did you mean {suggestion}? Commands: {commands}.",
        "未知命令 {value}，是要用 {suggestion} 吗？可用命令：{commands}。",
    ),
    "unknown_flag": (
        "Unknown option {value}. Options: {flags}. Example: `/video a kitten --ratio 9:16 --duration 8`.",
        "未知参数 {value}。可用参数：{flags}。例如：`/视频 小猫 --ratio 9:16 --duration 8`。",
    ),
    "unknown_flag_suggest": (
        "Unknown option {value}: did you mean {suggestion}? Options: {flags}.",
        "未知参数 {value}，是要用 {suggestion} 吗？可用参数：{flags}。",
    ),
    "flag_not_allowed": (
        "{flag} can't be used with {command}. Options there: {flags}.",
        "{command} 不支持参数 {flag}。可用参数：{flags}。",
    ),
    "missing_value": (
        "{flag} needs a value, e.g. `{example}`.",
        "{flag} 需要一个值，例如 `{example}`。",
    ),
    "bad_bool": (
        "{flag} takes on or off (got {value}), e.g. `{example}`.",
        "{flag} 只能是 on 或 off（收到 {value}），例如 `{example}`。",
    ),
    "bad_duration_value": (
        "{flag} {value} isn't a whole number of seconds. Use e.g. `--duration 8` "
        "(-1 lets 1.5 Pro / 2.0 choose).",
        "{flag} {value} 不是整数秒。请使用例如 `--duration 8`（-1 表示由 1.5 Pro / 2.0 自动决定）。",
    ),
    "bad_resolution_value": (
        "Resolution {value} isn't recognised. Allowed: {allowed}.",
        "无法识别分辨率 {value}，可选：{allowed}。",
    ),
    "bad_number": (
        "{flag} needs a whole number (got {value}), e.g. `{example}`.",
        "{flag} 需要一个整数（收到 {value}），例如 `{example}`。",
    ),
    "unknown_model": (
        "Unknown model {value}. Available: {allowed}. Send `/models` for details.",
        "未知模型 {value}。可用：{allowed}。发送 `/模型` 查看详情。",
    ),
    "video_usage": (
        "Tell me what to film, e.g. `{command} a kitten yawning --ratio 9:16`, or send a photo with the "
        "caption `{command} <what should happen>`.",
        "请描述视频内容，例如 `{command} 一只打哈欠的小猫 --ratio 9:16`，"
        "或发送图片并配文 `{command} <画面内容>`。",
    ),
    "too_many_images": (
        "{count} images: one image is the first frame, two are the first + last frame. To use more as "
        "reference images add --ref (models: {models}).",
        "收到 {count} 张图片：一张作为首帧，两张作为首帧+尾帧。"
        "如需更多参考图，请加 --ref（支持的模型：{models}）。",
    ),
    "ref_unsupported": (
        "{model} can't use reference images (--ref). Models that can: {models}; "
        "add e.g. `--model {example}`.",
        "{model} 不支持参考图（--ref）。支持的模型：{models}；例如加上 `--model {example}`。",
    ),
    "ref_without_images": (
        "--ref needs images: send photos with the caption `/video --ref <prompt>`, "
        "or reply to a photo with it.",
        "--ref 需要图片：请发送图片并配文 `/视频 --ref <画面内容>`，或用它回复一张图片。",
    ),
    "last_frame_needs_two": (
        "--last-frame needs two images (first and last frame); {count} given. Send two photos with the "
        "caption `/video <prompt>`.",
        "--last-frame 需要两张图片（首帧和尾帧），收到 {count} 张。请发送两张图片并配文 `/视频 <画面内容>`。",
    ),
    "approve_usage": (
        "Reply to a draft with `/approve` or `/approve 1080p` to render the final video. "
        "Resolutions: {allowed}.",
        "请回复样片 `/approve` 或 `/approve 1080p` 来生成正式视频。可选分辨率：{allowed}。",
    ),
    "settings_unknown_key": (
        "Unknown setting {value}. Keys: {keys}. Example: `/settings ratio=9:16 duration=8 audio=off`; "
        "`/settings reset` clears them.",
        "未知设置项 {value}。可设置：{keys}。例如：`/设置 ratio=9:16 duration=8 audio=off`；"
        "`/设置 reset` 恢复默认。",
    ),
    "bad_setting_value": (
        "{key} = {value} isn't valid. Allowed: {allowed}.",
        "{key} 的值 {value} 无效，可选：{allowed}。",
    ),
    "bad_lang": (
        "Language {value} isn't available: use zh or en, e.g. `/settings lang=zh`.",
        "不支持语言 {value}：可用 zh 或 en，例如 `/设置 lang=zh`。",
    ),
}

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def t(code: str, lang: Lang = "en", **params: Any) -> str:
    """Render message `code` in `lang` ("zh" or anything else = English)."""
    pair = MESSAGES.get(code)
    if pair is None:
        return code
    text = pair[1] if lang == "zh" else pair[0]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text


def detect(text: str, default: Lang = "en") -> Lang:
    """Chinese if the text contains CJK ideographs, else `default`."""
    return "zh" if _CJK.search(text or "") else default
