"""ModelArk error codes explained: what went wrong (`ark.what.<Code>`) and what to try (`ark.fix.<Code>`).

The codes and the order they are matched in live in `bot.ark_errors`; `{message}` is the
service's own message (without its request id), `{code}` the code nobody explained.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    "ark.what.InputImageSensitiveContentDetected.PrivacyInformation": (
        "The service refused the image because it may show a real person's face.",
        "服务拒绝了这张图片：其中可能包含真人面部。",
    ),
    "ark.fix.InputImageSensitiveContentDetected.PrivacyInformation": (
        "Use a photo without a real person's face (illustrations and scenery work), or ask an admin about the asset library.",
        "请换用不含真人面部的图片（插画、风景都可以），或联系管理员使用素材库。",
    ),
    "ark.what.InputVideoSensitiveContentDetected.PrivacyInformation": (
        "The service refused the input video because it may show a real person.",
        "服务拒绝了输入视频：其中可能包含真人。",
    ),
    "ark.fix.InputVideoSensitiveContentDetected.PrivacyInformation": (
        "Use footage without real people.",
        "请换用不含真人的素材。",
    ),
    "ark.what.InputTextSensitiveContentDetected": (
        "The service's content check flagged the prompt text.",
        "服务的内容审核拦截了提示词。",
    ),
    "ark.fix.InputTextSensitiveContentDetected": (
        "Rephrase the prompt (avoid violence, real names, brands) and try again.",
        "请改写提示词（避免暴力、真实人名、品牌）后重试。",
    ),
    "ark.what.InputTextRiskDetection": (
        "The service's content check flagged the prompt text.",
        "服务的内容审核拦截了提示词。",
    ),
    "ark.fix.InputTextRiskDetection": (
        "Rephrase the prompt and try again.",
        "请改写提示词后重试。",
    ),
    "ark.what.InputImageSensitiveContentDetected": (
        "The service's content check flagged the image.",
        "服务的内容审核拦截了这张图片。",
    ),
    "ark.fix.InputImageSensitiveContentDetected": (
        "Try a different image.",
        "请换一张图片。",
    ),
    "ark.what.InputImageRiskDetection": (
        "The service's content check flagged the image.",
        "服务的内容审核拦截了这张图片。",
    ),
    "ark.fix.InputImageRiskDetection": (
        "Try a different image.",
        "请换一张图片。",
    ),
    "ark.what.OutputAudioSensitiveContentDetected": (
        "The generated soundtrack was flagged by the service's content check.",
        "生成的音频未通过内容审核。",
    ),
    "ark.fix.OutputAudioSensitiveContentDetected": (
        "Try again with `--audio off`; the video itself was fine.",
        "请加上 `--audio off` 重试，视频本身没有问题。",
    ),
    "ark.what.OutputVideoSensitiveContentDetected": (
        "The finished video was flagged by the service's content check. This happens at random sometimes.",
        "生成的视频未通过内容审核，有时是偶发的。",
    ),
    "ark.fix.OutputVideoSensitiveContentDetected": (
        "Press Reroll or try again; if it keeps happening, rephrase the prompt. If audio was on, `--audio off` sometimes helps.",
        "请点“重新生成”或再试一次；多次失败请改写提示词。若开启了声音，可尝试 `--audio off`。",
    ),
    "ark.what.SensitiveContentDetected": (
        "The service's content check refused the request.",
        "服务的内容审核拒绝了请求。",
    ),
    "ark.fix.SensitiveContentDetected": (
        "Rephrase the prompt or use another image.",
        "请改写提示词或更换图片。",
    ),
    "ark.what.ContentSecurityDetectionError": (
        "The service's content check could not run.",
        "服务的内容审核暂时出错。",
    ),
    "ark.fix.ContentSecurityDetectionError": (
        "Try again in a minute.",
        "请稍后重试。",
    ),
    "ark.what.InvalidParameter.AspectRatio": (
        "The image's aspect ratio isn't accepted.",
        "图片宽高比不被接受。",
    ),
    "ark.fix.InvalidParameter.AspectRatio": (
        "Crop it to between 2:5 and 5:2 and resend.",
        "请裁剪到 2:5 与 5:2 之间后重发。",
    ),
    "ark.what.InvalidParameter": (
        "The service rejected a parameter: {message}",
        "服务拒绝了一个参数：{message}",
    ),
    "ark.fix.InvalidParameter": (
        "Check the flags with /help, or try the defaults.",
        "请用 /help 查看参数，或使用默认设置。",
    ),
    "ark.what.MissingParameter": (
        "A required parameter was missing: {message}",
        "缺少必需参数：{message}",
    ),
    "ark.fix.MissingParameter": (
        "Check the command with /help.",
        "请用 /help 检查命令。",
    ),
    "ark.what.ModelNotOpen": (
        "This model isn't activated for the bot's account.",
        "机器人所用账号尚未开通该模型。",
    ),
    "ark.fix.ModelNotOpen": (
        "Ask an admin to activate it in the ModelArk console, or pick another model with --model.",
        "请联系管理员在方舟控制台开通，或用 --model 换一个模型。",
    ),
    "ark.what.InvalidEndpointOrModel": (
        "The service doesn't know this model.",
        "服务不认识这个模型。",
    ),
    "ark.fix.InvalidEndpointOrModel": (
        "Pick one from /models.",
        "请从 /models 中选择。",
    ),
    "ark.what.InvalidEndpoint": (
        "The model endpoint is closed or unknown.",
        "模型接入点已关闭或不存在。",
    ),
    "ark.fix.InvalidEndpoint": (
        "Ask an admin, or pick another model with --model.",
        "请联系管理员，或用 --model 换一个模型。",
    ),
    "ark.what.AuthenticationError": (
        "The bot's API key was refused by the service.",
        "服务拒绝了机器人的 API Key。",
    ),
    "ark.fix.AuthenticationError": (
        "Ask an admin to check ARK_API_KEY.",
        "请联系管理员检查 ARK_API_KEY。",
    ),
    "ark.what.AccountOverdueError": (
        "The bot's account has an overdue balance.",
        "机器人账号欠费。",
    ),
    "ark.fix.AccountOverdueError": (
        "Ask an admin to top up the ModelArk account.",
        "请联系管理员为方舟账号充值。",
    ),
    "ark.what.OperationDenied.ServiceOverdue": (
        "The bot's account has an overdue balance.",
        "机器人账号欠费。",
    ),
    "ark.fix.OperationDenied.ServiceOverdue": (
        "Ask an admin to top up the ModelArk account.",
        "请联系管理员为方舟账号充值。",
    ),
    "ark.what.AccessDenied": (
        "The bot's account may not use this model.",
        "机器人账号无权使用该模型。",
    ),
    "ark.fix.AccessDenied": (
        "Ask an admin to check the model's access, or use another model.",
        "请联系管理员检查权限，或换一个模型。",
    ),
    "ark.what.OperationDenied": (
        "The service isn't enabled for the bot's account.",
        "机器人账号未开通该服务。",
    ),
    "ark.fix.OperationDenied": (
        "Ask an admin to enable it in the ModelArk console.",
        "请联系管理员在方舟控制台开通。",
    ),
    "ark.what.QuotaExceeded": (
        "The bot's account has used up its quota (insufficient balance).",
        "机器人账号额度已用完（余额不足）。",
    ),
    "ark.fix.QuotaExceeded": (
        "Ask an admin to top up or raise the limit.",
        "请联系管理员充值或提高额度。",
    ),
    "ark.what.SetLimitExceeded": (
        "The account's spending limit was reached.",
        "账号已达到设置的消费上限。",
    ),
    "ark.fix.SetLimitExceeded": (
        "Ask an admin to raise the limit in the ModelArk console.",
        "请联系管理员在方舟控制台提高上限。",
    ),
    "ark.what.RateLimitExceeded": (
        "The service is busy (rate limit).",
        "服务繁忙（触发限流）。",
    ),
    "ark.fix.RateLimitExceeded": (
        "Nothing to do: your job stays queued and is retried automatically.",
        "无需操作：任务会保持排队并自动重试。",
    ),
    "ark.what.ModelAccountRpmRateLimitExceeded": (
        "The service is busy (rate limit).",
        "服务繁忙（触发限流）。",
    ),
    "ark.fix.ModelAccountRpmRateLimitExceeded": (
        "Nothing to do: your job stays queued and is retried automatically.",
        "无需操作：任务会保持排队并自动重试。",
    ),
    "ark.what.ServerOverloaded": (
        "The service is overloaded.",
        "服务过载。",
    ),
    "ark.fix.ServerOverloaded": (
        "Nothing to do: your job stays queued and is retried automatically.",
        "无需操作：任务会保持排队并自动重试。",
    ),
    "ark.what.InternalServiceError": (
        "The video service had an internal error.",
        "视频服务内部出错。",
    ),
    "ark.fix.InternalServiceError": (
        "Try again (Reroll); you were not charged.",
        "请重试（重新生成）；本次未扣费。",
    ),
    "ark.what.expired": (
        "The service didn't finish the video in time, so the task expired.",
        "服务未能在时限内完成，任务已过期。",
    ),
    "ark.fix.expired": (
        "Try again, perhaps with a shorter or lower-resolution video; the flex tier can take longer.",
        "请重试，可缩短时长或降低分辨率；flex 档位耗时更长。",
    ),
    "ark.what.url_expired": (
        "The video's download link has expired (links last 24 hours).",
        "视频下载链接已过期（有效期 24 小时）。",
    ),
    "ark.fix.url_expired": (
        "Generate it again.",
        "请重新生成。",
    ),
    "ark.what.ImageDownloadFailed": (
        "The service couldn't fetch the image from its URL.",
        "服务无法通过链接获取图片。",
    ),
    "ark.fix.ImageDownloadFailed": (
        "Send the image directly in the chat instead of a link.",
        "请直接在聊天中发送图片，而不是链接。",
    ),
    "ark.what.unknown": ("The video service refused the request ({code}).", "视频服务拒绝了请求（{code}）。"),
    "ark.fix.unknown": (
        "Try again; if it keeps failing, show this to an admin.",
        "请重试；若一直失败，请把这条消息发给管理员。",
    ),
}
