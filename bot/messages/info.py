"""The information cards: /list, /models, /quota, /settings, /whoami, and the note on an approved draft."""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    # --- /list -----------------------------------------------------------------------------------
    "list.title": ("Your recent jobs", "我的最近任务"),
    "list.empty": ("No jobs here yet. Try `/video a kitten yawning`.", "这里还没有任务。试试 `/video 一只打哈欠的小猫`。"),
    "list.state.queued": ("queued", "排队中"),
    "list.state.starting": ("starting", "提交中"),
    "list.state.submitted": ("generating", "生成中"),
    "list.state.finished": ("uploading", "上传中"),
    "list.state.done": ("done", "已完成"),
    "list.state.failed": ("failed", "失败"),
    "list.state.cancelled": ("cancelled", "已取消"),
    # --- /models ---------------------------------------------------------------------------------
    "models.title": ("Models", "可用模型"),
    "models.mode.text": ("text", "文生视频"),
    "models.mode.first_frame": ("first frame", "首帧"),
    "models.mode.first_last": ("first+last", "首尾帧"),
    "models.mode.reference": ("reference", "参考图"),
    "models.mode.draft_final": ("draft→final", "样片→正式"),
    "models.audio": ("audio", "声音"),
    "models.draft": ("draft", "样片"),
    "models.expected": ("≈ {seconds} s for 5 s at 720p", "≈ {seconds} s 生成 5 秒 720p"),
    # --- /quota ----------------------------------------------------------------------------------
    "quota.title": ("Your quota", "我的额度"),
    "quota.unlimited": ("no limit", "不限"),
    "quota.body": (
        "Jobs generating: **{running}**\nJobs waiting: **{queued}**\nVideo seconds today: **{daily}**",
        "生成中的任务：**{running}**\n排队中的任务：**{queued}**\n今日已用视频时长：**{daily}**",
    ),
    "quota.left": ("Left today: **{left} s**", "今日剩余：**{left} 秒**"),
    "quota.resets": (
        "The budget resets at 00:00 UTC (in {hours} h {minutes} min). Failed or cancelled jobs are never charged.",
        "额度在 UTC 0 点重置（{hours} 小时 {minutes} 分钟后）。失败或取消的任务不计入额度。",
    ),
    # --- /settings -------------------------------------------------------------------------------
    "settings.title.user": ("Your defaults", "我的默认设置"),
    "settings.title.chat": ("Chat defaults", "本群默认设置"),
    "settings.updated": ("Updated.", "已更新。"),
    "settings.from.user": ("yours", "你的设置"),
    "settings.from.chat": ("chat default", "本群默认"),
    "settings.from.builtin": ("built-in", "系统默认"),
    "settings.builtin_ratio": ("16:9 (adaptive with a photo)", "16:9 (adaptive with a photo)"),
    "settings.hint": (
        "Change: `/settings ratio=9:16 duration=8 audio off`; chat defaults: `/settings chat ratio=9:16`; "
        "undo: `/settings reset`",
        "修改：`/settings ratio=9:16 duration=8 audio off`；群默认：`/settings chat ratio=9:16`；"
        "恢复：`/settings reset`",
    ),
    # --- /whoami ----------------------------------------------------------------------------------
    "whoami.title": ("Who you are to the bot", "你在机器人这里的身份"),
    "whoami.body": (
        "Your open_id: `{open_id}`\nThis chat: `{chat_id}` ({chat_type})\nAdmin (BOT_ADMINS): **{admin}**\n"
        "Allowed here (BOT_ALLOWLIST): **{allowed}**\nLanguage: **{lang}**",
        "你的 open_id：`{open_id}`\n本聊天：`{chat_id}`（{chat_type}）\n管理员（BOT_ADMINS）：**{admin}**\n"
        "可在此使用（BOT_ALLOWLIST）：**{allowed}**\n语言：**{lang}**",
    ),
    "whoami.yes": ("yes", "是"),
    "whoami.no": ("no", "否"),
    # --- drafts ----------------------------------------------------------------------------------
    "draft.approved_note": ("✅ Approved at {resolution}; rendering the final", "✅ 已确认 {resolution}，正式视频生成中"),
}
