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
    # --- reference videos and audios (bot.spec, bot.reference_media; ark-api.md §2.2, §5.4) --------
    "media_with_frames": (
        "A reference video or voice message can't be combined with first/last frames: add --ref so the "
        "photos are reference images too.",
        "参考视频或语音不能与首帧/尾帧同时使用：请加上 --ref，让图片也作为参考图。",
    ),
    "audio_needs_visual": (
        "A voice/audio reference needs at least one photo or video with it (Seedance 2.0 doesn't take "
        "audio alone). Reply to the voice message with photos and the caption `/video --ref --model 2.0 …`.",
        "语音/音频参考需要至少搭配一张图片或一个视频（Seedance 2.0 不支持只有音频）。"
        "请回复这条语音，附上图片并配文 `/视频 --ref --model 2.0 …`。",
    ),
    "media_unsupported": (
        "{model} can't use reference videos or audio. Models that can: {models} (e.g. `--model 2.0`).",
        "{model} 不支持参考视频或音频。支持的模型：{models}（例如 `--model 2.0`）。",
    ),
    "too_many_ref_videos": (
        "{model} takes at most {max} reference videos; {count} given.",
        "{model} 最多支持 {max} 个参考视频，收到 {count} 个。",
    ),
    "too_many_ref_audios": (
        "{model} takes at most {max} reference audios; {count} given.",
        "{model} 最多支持 {max} 段参考音频，收到 {count} 段。",
    ),
    "ref_video_length": (
        "Video {number} is {seconds} s long; a reference video must be {lo}–{hi} s. Trim it and send it again.",
        "视频{number} 时长 {seconds} 秒；参考视频需在 {lo}–{hi} 秒之间，请剪辑后重新发送。",
    ),
    "ref_audio_length": (
        "Audio {number} is {seconds} s long; a reference audio must be {lo}–{hi} s. Record a shorter "
        "(or longer) one and send it again.",
        "音频{number} 时长 {seconds} 秒；参考音频需在 {lo}–{hi} 秒之间，请重新录制后发送。",
    ),
    "ref_videos_total": (
        "The {count} reference videos last {seconds} s together; the limit is {limit} s in total. Use fewer "
        "or shorter clips.",
        "{count} 个参考视频总时长 {seconds} 秒，总时长上限 {limit} 秒。请减少数量或使用更短的片段。",
    ),
    "ref_audios_total": (
        "The {count} reference audios last {seconds} s together; the limit is {limit} s in total. Use fewer "
        "or shorter ones.",
        "{count} 段参考音频总时长 {seconds} 秒，总时长上限 {limit} 秒。请减少数量或使用更短的音频。",
    ),
    "ref_video_format": (
        "Video {number} is {value}; a reference video must be an MP4 or MOV file (H.264 or H.265). "
        "Convert it and send it again.",
        "视频{number} 的格式是 {value}；参考视频需为 MP4 或 MOV（H.264 或 H.265 编码），请转换后重新发送。",
    ),
    "ref_video_codec": (
        "Video {number} is encoded as {value}; a reference video must be H.264 or H.265. Re-export it "
        "(e.g. as MP4/H.264) and send it again.",
        "视频{number} 的编码是 {value}；参考视频需为 H.264 或 H.265，请重新导出（例如 MP4/H.264）后发送。",
    ),
    "ref_video_audio_codec": (
        "The sound of video {number} is {value}; a reference video's sound must be AAC or MP3. Re-export it "
        "(e.g. as MP4 with AAC sound) and send it again.",
        "视频{number} 的音轨编码是 {value}；参考视频的声音需为 AAC 或 MP3，请重新导出（例如 MP4、AAC 音轨）后发送。",
    ),
    "ref_video_sides": (
        "Video {number} is {width}×{height}; each side must be {lo}–{hi} px. Resize it and send it again.",
        "视频{number} 为 {width}×{height}，每边需在 {lo}–{hi} 像素之间，请调整尺寸后重新发送。",
    ),
    "ref_video_pixels": (
        "Video {number} is {width}×{height} ({pixels} pixels); a reference video must have {lo}–{hi} pixels "
        "(about 640×640 to 4K). Resize it and send it again.",
        "视频{number} 为 {width}×{height}（{pixels} 像素），参考视频的像素数需在 {lo}–{hi} 之间"
        "（约 640×640 到 4K），请调整尺寸后重新发送。",
    ),
    "ref_video_aspect": (
        "Video {number} is {width}×{height} (aspect {aspect}); its width/height must be between {lo} and {hi}. "
        "Crop it and send it again.",
        "视频{number} 为 {width}×{height}（宽高比 {aspect}），宽高比需在 {lo} 到 {hi} 之间，请裁剪后重新发送。",
    ),
    "ref_video_fps": (
        "Video {number} runs at {fps} frames per second; a reference video must have {lo}–{hi} fps. "
        "Re-export it (e.g. at 30 fps) and send it again.",
        "视频{number} 的帧率是每秒 {fps} 帧；参考视频需为 {lo}–{hi} fps，请重新导出（例如 30 fps）后发送。",
    ),
    "ref_video_bytes": (
        "Video {number} is {mb} MB; a reference video may be at most {limit} MB. Compress or trim it and send "
        "it again.",
        "视频{number} 大小为 {mb} MB，参考视频最大 {limit} MB，请压缩或剪辑后重新发送。",
    ),
    "ref_audio_bytes": (
        "Audio {number} is {mb} MB; a reference audio may be at most {limit} MB. Send a shorter or smaller "
        "file (WAV or MP3).",
        "音频{number} 大小为 {mb} MB，参考音频最大 {limit} MB，请发送更短或更小的文件（WAV 或 MP3）。",
    ),
    "ref_video_unreadable": (
        "Video {number} couldn't be read as a video ({detail}). Send it again as an MP4 (H.264) file.",
        "视频{number} 无法作为视频读取（{detail}），请以 MP4（H.264）文件重新发送。",
    ),
    "ref_audio_unreadable": (
        "Audio {number} couldn't be read as audio ({detail}). Send it again as a voice message, MP3 or WAV.",
        "音频{number} 无法作为音频读取（{detail}），请以语音消息、MP3 或 WAV 重新发送。",
    ),
    "media_needs_public_url": (
        "Reference videos and voice messages need a public URL: Seedance downloads them from the bot, so the "
        "bot must be reachable from the internet. The admin has to set BOT_PUBLIC_URL (README: Admin). "
        "Nothing was made or charged; photos work without it.",
        "参考视频和语音需要公网地址：Seedance 会从机器人这里下载它们，机器人必须能从互联网访问。"
        "请管理员设置 BOT_PUBLIC_URL（见 README 的 Admin 部分）。本次未生成、未扣费；图片参考不受影响。",
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
