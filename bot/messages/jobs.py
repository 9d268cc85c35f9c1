"""What the bot says about jobs: quota refusals, failures, delivery, and actions on a job.

Used by bot.engine and handlers through `ctx.reply_code(key)` / `i18n.t(key)`; bare keys.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    # --- jobs, delivery and chat actions (bot.engine, handlers) -----------------------------
    "image_fetch_failed": (
        "I couldn't download your image (or video, or voice message) from the chat after several tries. "
        "Please send it again; nothing was charged.",
        "多次尝试后仍无法从聊天中下载你的图片（或视频、语音），请重新发送；本次未扣费。",
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
