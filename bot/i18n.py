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
    # --- jobs, delivery and chat actions (bot.engine, handlers) -----------------------------
    "image_fetch_failed": (
        "I couldn't download your image from the chat after several tries. Please send it again; nothing "
        "was charged.",
        "多次尝试后仍无法从聊天中下载你的图片，请重新发送；本次未扣费。",
    ),
    "parent_unreadable": (
        "I couldn't read the message you replied to. Send the photo again with `/video <prompt>` as its caption.",
        "无法读取你回复的那条消息。请重新发送图片，并附上 `/video 描述` 作为说明。",
    ),
    "no_video_url": (
        "The service finished but returned no video. Press Reroll to try again; you were not charged.",
        "服务已完成但没有返回视频。请点“重新生成”再试一次；本次未扣费。",
    ),
    "video_too_large": (
        "The video is {mb} MB, over the 30 MB chat upload limit, and couldn't be made smaller.",
        "视频有 {mb} MB，超过聊天 30 MB 的上传上限，且无法压缩。",
    ),
    "video_too_large_fix": (
        "An admin can fetch it within 24 h: `seedance-bot wait {task_id} --download DIR`. "
        "Or ask again with `--res 720p` or a shorter `--dur`.",
        "管理员可在 24 小时内下载：`seedance-bot wait {task_id} --download DIR`。"
        "或用 `--res 720p` 或更短的 `--dur` 重新生成。",
    ),
    "delivery_failed": (
        "The video (task {task_id}) was made but couldn't be posted here after several tries. "
        "An admin can fetch it within 24 h with `seedance-bot wait {task_id} --download DIR`.",
        "视频（任务 {task_id}）已生成，但多次尝试仍无法发送到这里。管理员可在 24 小时内用 "
        "`seedance-bot wait {task_id} --download DIR` 下载。",
    ),
    "not_allowed": (
        "This bot isn't enabled for this chat. Ask an admin to add it to the allowlist.",
        "此聊天尚未开通本机器人，请联系管理员加入白名单。",
    ),
    "quota_queue_full": (
        "You already have {running} videos generating and {queued} waiting, the most one person may have "
        "({max_running} generating + {max_queued} waiting). Wait for one to finish, or /cancel one.",
        "你已有 {running} 个视频在生成、{queued} 个在排队，已达每人上限（生成 {max_running} 个 + 排队 {max_queued} 个）。"
        "请等待完成，或用 /cancel 取消一个。",
    ),
    "quota_daily": (
        "That would go over your daily video budget: {used} of {limit} seconds used today, and this request "
        "needs up to {need} s. It resets at 00:00 UTC (in {hours} h {minutes} min); see /quota. Nothing was charged.",
        "超出你的每日视频额度：今日已用 {used}/{limit} 秒，本次最多需要 {need} 秒。额度在 UTC 0 点重置"
        "（{hours} 小时 {minutes} 分钟后），详见 /quota。本次未扣费。",
    ),
    "quota_total": (
        "The team's daily video budget is used up: {used} of {limit} seconds today, and this request needs up "
        "to {need} s. It resets at 00:00 UTC (in {hours} h {minutes} min). An admin can raise BOT_DAILY_SECONDS.",
        "团队今日视频总额度已用完：今日已用 {used}/{limit} 秒，本次最多需要 {need} 秒。额度在 UTC 0 点重置"
        "（{hours} 小时 {minutes} 分钟后）。管理员可调高 BOT_DAILY_SECONDS。",
    ),
    "busy_full": (
        "I'm at capacity right now and can't take new videos. Please try again in a few minutes; nothing was "
        "charged, and videos already on their way are not affected.",
        "机器人当前已满负荷，暂时无法接收新的视频请求。请几分钟后再试；本次未扣费，正在生成的视频不受影响。",
    ),
    "start_failed": (
        "Sorry, I couldn't start this video because of a problem on our side. Nothing was charged; please "
        "send the request again.",
        "抱歉，由于系统问题，这个视频没能开始生成。本次未扣费，请重新发送请求。",
    ),
    "approve_not_ready": (
        "The draft isn't finished yet; approve it once its video is here.",
        "样片还没有完成，请在样片视频发出后再确认。",
    ),
    "draft_expired": (
        "This draft is older than 7 days, so the service no longer keeps it. Press Redo draft to make it again.",
        "该样片已超过 7 天，服务已不再保存。请点“重新生成样片”。",
    ),
    "approve_no_draft": (
        "I couldn't find a finished draft. Reply `/approve` to a draft video, or make one with `/draft <prompt>`.",
        "没有找到已完成的样片。请回复样片视频发送 `/approve`，或用 `/draft 描述` 生成样片。",
    ),
    "not_your_job": (
        "Only the person who asked for this video (or an admin) can do that.",
        "只有发起该视频的人（或管理员）可以这样做。",
    ),
    "cancel_too_late": (
        "That job has already finished, so there is nothing to cancel.",
        "该任务已经结束，无需取消。",
    ),
    "cancel_running": (
        "The video is already being generated and the service can't stop it; it won't be posted here.",
        "视频已在生成中，服务无法中止；生成后不会发送到这里。",
    ),
    "extend_not_ready": (
        "Extend works on a finished video: reply `/extend <prompt>` to one of my videos.",
        "延长需要已完成的视频：请回复我的视频发送 `/extend 描述`。",
    ),
    "extend_expired": (
        "That video is more than a day old; its last frame is no longer available. Make a new one with /video.",
        "该视频已超过一天，尾帧已不可用。请用 /video 重新生成。",
    ),
    "no_job_found": (
        "I couldn't find that job. Use /list to see your recent jobs, or give a task id (cgt-…).",
        "没有找到该任务。用 /list 查看最近的任务，或提供任务 ID（cgt-…）。",
    ),
    "message_failed": (
        "Sorry, something went wrong while handling this message, and nothing was created. Please send it again.",
        "抱歉，处理这条消息时出错了，没有创建任何任务。请重新发送。",
    ),
    "settings_chat_admin_only": (
        "Only an admin can change this chat's defaults. Your own defaults: `/settings ratio=9:16`.",
        "只有管理员可以修改本群默认设置。修改你自己的默认：`/settings ratio=9:16`。",
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
