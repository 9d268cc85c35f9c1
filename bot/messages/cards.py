"""The live job card: its header per state, its field labels and its buttons (bot.cards).

`card.<state>` is the header for a job state (a `JobState` value, or draft_done / discarded /
expired_draft); the rest are labels and button texts.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    "card.queued": ("⏳ Queued", "⏳ 排队中"),
    "card.starting": ("🚀 Starting", "🚀 正在提交"),
    "card.submitted": ("🎬 Generating", "🎬 生成中"),
    "card.running": ("🎬 Generating", "🎬 生成中"),
    "card.finished": ("📤 Uploading", "📤 正在上传"),
    "card.done": ("✅ Video ready", "✅ 视频已生成"),
    "card.draft_done": ("📝 Draft ready — approve to render the final", "📝 样片已生成 — 确认后生成正式视频"),
    "card.failed": ("⚠️ Didn't work", "⚠️ 生成失败"),
    "card.cancelled": ("🚫 Cancelled", "🚫 已取消"),
    "card.discarded": ("🗑 Draft discarded", "🗑 样片已放弃"),
    "card.expired_draft": ("⌛ Draft expired", "⌛ 样片已过期"),
    "card.position": ("Position in queue: **{n}**", "排队位置：第 **{n}** 位"),
    "card.elapsed": ("Elapsed **{elapsed}** of about **{expected}**", "已用时 **{elapsed}**，预计约 **{expected}**"),
    "card.task": ("Task", "任务"),
    "card.prompt": ("Prompt", "提示词"),
    "card.settings": ("Settings", "参数"),
    "card.seed": ("Seed", "种子"),
    "card.tokens": ("Tokens", "Tokens"),
    "card.fix": ("What to try", "建议"),
    "card.cancel": ("Cancel", "取消"),
    "card.reroll": ("Reroll", "重新生成"),
    "card.extend": ("Extend", "延长"),
    "card.approve": ("Approve {res} (≈ ${cost})", "确认 {res}（约 ${cost}）"),
    "card.discard": ("Discard", "放弃"),
    "card.redo": ("Redo draft", "重新生成样片"),
    "card.running_cancel_note": (
        "The service can't stop a running video; it will finish but nothing will be posted.",
        "视频服务无法中止正在生成的视频；它会继续完成，但不会发送到群里。",
    ),
}
