"""/help and the README's command table: each command's usage line and summary, each option's
help, the examples, and the headings.

Keys: `help.usage.<command>` and `help.cmd.<command>` for every command in the registry
(`bot.parsing.registry`), `help.flag.<option>` for every option shown in /help
(`bot.parsing.options`), `help.example.<name>` for the examples (`bot.parsing.help`).
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    # --- headings ------------------------------------------------------------------------------
    "help.title": ("Seedance video bot", "Seedance 视频机器人"),
    "help.commands": ("Commands:", "命令："),
    "help.options": ("Options (anywhere in the message):", "参数（可放在消息任意位置）："),
    "help.examples": ("Examples:", "示例："),
    "help.aliases": ("also", "也可用"),
    # --- commands: usage line, then what it does -------------------------------------------------
    "help.usage.video": ("/video <prompt> [options]", "/video <描述> [参数]"),
    "help.cmd.video": (
        "make a video from text; attach a photo (first frame) or two (first + last frame), or reply to a photo",
        "根据文字生成视频；附一张图（首帧）或两张图（首帧+尾帧），或回复一张图片",
    ),
    "help.usage.draft": ("/draft <prompt> [options]", "/draft <描述> [参数]"),
    "help.cmd.draft": (
        "a cheap 480p preview (Seedance 1.5 Pro); reply /approve to render the final",
        "低价 480p 样片（Seedance 1.5 Pro）；满意后回复 /approve 生成正式视频",
    ),
    "help.usage.approve": ("/approve [720p|1080p]", "/approve [720p|1080p]"),
    "help.cmd.approve": ("reply to a draft to render the final video", "回复样片，生成正式视频"),
    "help.usage.extend": ("/extend [prompt] [options]", "/extend [描述] [参数]"),
    "help.cmd.extend": (
        "reply to a video to continue it from its last frame",
        "回复一个视频，从它的最后一帧继续生成",
    ),
    "help.usage.status": ("/status [task]", "/status [任务]"),
    "help.cmd.status": ("progress of your latest job (or of a given task)", "查看最近（或指定）任务的进度"),
    "help.usage.cancel": ("/cancel [task]", "/cancel [任务]"),
    "help.cmd.cancel": (
        "cancel a queued job (a running one can't be stopped, but won't be delivered)",
        "取消排队中的任务（运行中的任务无法停止，但不会再发送结果）",
    ),
    "help.usage.list": ("/list", "/list"),
    "help.cmd.list": ("your recent jobs", "最近的任务"),
    "help.usage.models": ("/models", "/models"),
    "help.cmd.models": ("models and what each can do", "可用模型及其能力"),
    "help.usage.settings": ("/settings [chat] key=value …", "/settings [chat] 键=值 …"),
    "help.cmd.settings": (
        "your defaults: model, ratio, duration, resolution, audio, flex, watermark, lang; /settings reset",
        "个人默认值：model、ratio、duration、resolution、audio、flex、watermark、lang；/settings reset 恢复默认",
    ),
    "help.usage.quota": ("/quota", "/quota"),
    "help.cmd.quota": ("what you have used and what is left", "查看已用和剩余额度"),
    "help.usage.whoami": ("/whoami", "/whoami"),
    "help.cmd.whoami": (
        "your open_id, this chat's id, and whether you are an admin and allowed here",
        "你的 open_id、本聊天的 ID，以及你是否为管理员、是否可在此使用",
    ),
    "help.usage.help": ("/help [command]", "/help [命令]"),
    "help.cmd.help": ("this help", "显示本帮助"),
    # --- options -------------------------------------------------------------------------------
    "help.flag.ratio": ("aspect ratio: {ratios}", "画面比例：{ratios}"),
    "help.flag.duration": (
        "seconds: 2-12 (1.0), 4-12 (1.5 Pro), 4-15 (2.0); -1 = the model decides (1.5 Pro, 2.0)",
        "时长（秒）：2-12（1.0）、4-12（1.5 Pro）、4-15（2.0）；-1 表示由模型决定（1.5 Pro、2.0）",
    ),
    "help.flag.resolution": (
        "480p, 720p (default), 1080p; 4k on Seedance 2.0",
        "480p、720p（默认）、1080p；4k 仅 Seedance 2.0",
    ),
    "help.flag.model": ("model ID or alias (see /models)", "模型 ID 或别名（见 /models）"),
    "help.flag.seed": (
        "-1 (random) to 4294967295, for repeatable results (not on 2.0)",
        "随机种子 -1（随机）到 4294967295，用于复现结果（2.0 不支持）",
    ),
    "help.flag.camera-fixed": ("keep the camera still (not on 2.0)", "固定镜头（2.0 不支持）"),
    "help.flag.audio": (
        "sound on or off (1.5 Pro and 2.0; on by default); --no-audio = --audio off",
        "是否生成声音（1.5 Pro 和 2.0；默认开启）；--no-audio 即 --audio off",
    ),
    "help.flag.flex": (
        "offline tier: half price, slower (not on 2.0, not for drafts)",
        "离线档位：半价但更慢（2.0 和样片不支持）",
    ),
    "help.flag.watermark": ("add the \"AI generated\" mark", "添加“AI 生成”水印"),
    "help.flag.last-frame": (
        "with two photos: the second is the last frame (the default)",
        "两张图片时第二张作为尾帧（默认即如此）",
    ),
    "help.flag.ref": (
        "the photos are reference images, not frames (Seedance 2.0: 0-9 images, plus up to 3 videos and "
        "3 voice/audio messages you send or reply to)",
        "图片作为参考图而不是首尾帧（Seedance 2.0：0-9 张图片，另可加最多 3 个视频和 3 段语音/音频，"
        "随消息发送或回复它们）",
    ),
    "help.flag.expires": ("give up if not done within this time (1h-72h)", "超过该时间未完成则放弃（1h-72h）"),
    "help.flag.return-last-frame": ("also return the last frame as an image", "同时返回最后一帧图片"),
    "help.flag.draft": ("make a cheap 480p draft first (same as /draft)", "先生成低价 480p 样片（同 /draft）"),
    # --- examples ------------------------------------------------------------------------------
    "help.example.text": (
        "/video a kitten yawning in the sun --ratio 9:16 --duration 8",
        "/视频 一只在阳光下打哈欠的小猫 --ratio 9:16 --duration 8",
    ),
    "help.example.photo": ("[photo] with the caption: /video she turns and smiles", "[图片] 配文：/视频 她转身微笑"),
    "help.example.two_photos": (
        "[two photos] with the caption: /video the flower slowly blooms (first → last frame)",
        "[两张图片] 配文：/视频 花朵慢慢绽放（首帧 → 尾帧）",
    ),
    "help.example.reply": ("reply to a photo: /video slow zoom in", "回复一张图片：/视频 镜头缓慢推进"),
    "help.example.draft": (
        "/draft waves at sunset → then reply to the draft: /approve 1080p",
        "/样片 日落时的海浪 → 然后回复样片：/确认 1080p",
    ),
    "help.example.refs": (
        "[photos] /video --ref --model 2.0 the two cats play together",
        "[多张图片] /视频 --ref --model 2.0 两只猫一起玩耍",
    ),
    "help.example.media_refs": (
        "reply to a video or voice message (add photos if you like): /video --ref --model 2.0 the same dance on a beach",
        "回复一个视频或语音（可附图片）：/视频 --ref --model 2.0 同样的舞蹈，在海滩上",
    ),
    "help.example.settings": (
        "/settings ratio=9:16 duration=8 audio=off",
        "/设置 ratio=9:16 duration=8 audio=off",
    ),
}
