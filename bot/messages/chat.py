"""Replies to chat input that is not a runnable command (bot.parsing `Reply` codes).

Keys are the `code` of a `Reply`, so they stay bare words.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
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
    "media_only_hint": (
        "Got it. To use this video or voice message as a reference for a new video (Seedance 2.0), reply to it with "
        "`/video --ref --model 2.0 <what should happen>`; add photos to that reply to use them too.",
        "收到。要把这个视频或语音作为新视频的参考（Seedance 2.0），请回复它 "
        "`/视频 --ref --model 2.0 <画面内容>`；也可以在回复中附上图片一起参考。",
    ),
    "media_needs_ref": (
        "To use the video in your message as a reference, add --ref (Seedance 2.0): "
        "`/video --ref --model 2.0 <what should happen>`.",
        "要把消息中的视频作为参考，请加上 --ref（Seedance 2.0）：`/视频 --ref --model 2.0 <画面内容>`。",
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
        "or reply to a photo with it. On Seedance 2.0 a video or voice message works too: reply to it "
        "with `/video --ref --model 2.0 <prompt>`.",
        "--ref 需要图片：请发送图片并配文 `/视频 --ref <画面内容>`，或用它回复一张图片。"
        "Seedance 2.0 也可以用视频或语音：回复它 `/视频 --ref --model 2.0 <画面内容>`。",
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
