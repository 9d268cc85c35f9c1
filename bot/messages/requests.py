"""Why a request can't be sent as it is (bot.spec) and what is wrong with an image (bot.images).

Keys are the `code` of `SpecError` / `ImageError`, so they stay bare words.
"""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
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
}
