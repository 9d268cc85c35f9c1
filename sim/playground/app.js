// The chat playground: a Feishu-like chat on the Feishu simulator. Plain script, no build step.
//
// What the page shows comes from the simulator's message store (GET /playground/api/events:
// a snapshot, then every change, as server-sent events); what the person does goes through the
// simulator's users' side (POST /playground/api/send, /click, /images), which sends the bot
// signed Feishu events and card callbacks. Cards are drawn from the card JSON the bot sent.
"use strict";

(() => {
  const API = "/playground/api";
  const STATE_STEP_MS = 350; // a card that changed several times between two updates shows each state this long
  const EMOJI = {
    OnIt: "🫡", OK: "👌", THUMBSUP: "👍", DONE: "✅", Typing: "⌨️", OneSecond: "⏳", Get: "👌", LGTM: "👍",
    CheckMark: "✔️", CrossMark: "❌", ERROR: "❗", SMILE: "😊", HEART: "❤️", Fire: "🔥", PARTY: "🎉",
    APPLAUSE: "👏", CLAP: "👏", THANKS: "🙏", WOW: "😮", SOB: "😭", THINKING: "🤔", Yes: "✅", No: "🚫",
  };
  const AVATAR_COLOURS = ["#3370ff", "#f5a623", "#2ea121", "#7f3bf5", "#f54a45", "#00a6a6", "#e0569b"];

  const state = {
    config: null,
    me: null, // a person of config.people
    chat: null, // chat_id on screen
    messages: new Map(), // message_id -> message (see routes.ui_message)
    rendered: new Map(), // message_id -> card header titles in the order the page showed them
    cardQueue: new Map(), // message_id -> {pending: [card...], timer}
    shown: new Map(), // message_id -> the card JSON on screen
    unread: new Map(), // chat_id -> count
    replyTo: null,
    attachments: [], // {image_key, url, width, height}
  };

  // --- small helpers --------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = tag === "svg" ? document.createElementNS("http://www.w3.org/2000/svg", "svg") : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.setAttribute("class", v);
      else if (k === "text") node.textContent = v;
      else if (k === "html") node.innerHTML = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "style" && typeof v === "object") Object.assign(node.style, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function esc(s) {
    return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  async function api(path, options = {}) {
    const resp = await fetch(API + path, options);
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    if (!resp.ok) throw new Error((data && data.error) || `HTTP ${resp.status}`);
    return data;
  }

  const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  function hhmm(ms) {
    const d = new Date(Number(ms));
    return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
  }

  function colourOf(key) {
    let n = 0;
    for (const ch of String(key)) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
    return AVATAR_COLOURS[n % AVATAR_COLOURS.length];
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/);
    return (words.length > 1 ? words[0][0] + words[1][0] : words[0].slice(0, 2)).toUpperCase();
  }

  function avatar(kind, name, key) {
    if (kind === "bot") {
      return el("div", { class: "avatar bot", title: name },
        el("svg", { viewBox: "0 0 24 24", "aria-hidden": "true", html: '<path d="M8 6.5v11l9-5.5z" fill="currentColor"/>' }));
    }
    if (kind === "group") return el("div", { class: "avatar group", title: name }, initials(name));
    return el("div", { class: "avatar", title: name, style: { background: colourOf(key || name) } }, initials(name));
  }

  function personByOpenId(openId) {
    return (state.config.people || []).find((p) => p.open_id === openId);
  }

  function isMine(m) {
    return !m.from_bot && state.me && m.sender_id === state.me.open_id;
  }

  // --- toasts ---------------------------------------------------------------------------------------

  function toast(text, type = "info") {
    const icons = { success: "✓", error: "!", warning: "!", info: "i" };
    const node = el("div", { class: `toast toast-${type}` }, el("span", { class: "toast-icon" }, icons[type] || "i"), el("span", { class: "toast-text" }, text));
    $("toasts").append(node);
    setTimeout(() => node.classList.add("leaving"), 3600);
    setTimeout(() => node.remove(), 4000);
  }

  // --- text, markdown -------------------------------------------------------------------------------

  // Card markdown (lark_md): **bold**, *italic*, ~~strike~~, `code`, [links](url), <at id=…>,
  // <font color=…>, line breaks, "- " lists, "# " headings, ---.
  function markdown(src) {
    const codes = [];
    let s = esc(String(src ?? "")).replace(/`([^`\n]+)`/g, (_, c) => { codes.push(c); return `\u0000${codes.length - 1}\u0000`; });
    s = s.replace(/&lt;at (?:id|user_id)=(?:&quot;|&#39;)?([^\s&>]+?)(?:&quot;|&#39;)?&gt;(.*?)&lt;\/at&gt;/g, (_, id, name) => {
      const who = name || (id === "all" ? "all" : (personByOpenId(id) || {}).name || (id === state.config.bot.open_id ? state.config.bot.name : id));
      return `<span class="mention">@${who}</span>`;
    });
    s = s.replace(/&lt;font color=(?:&quot;|&#39;)?([a-z-]+)(?:&quot;|&#39;)?&gt;(.*?)&lt;\/font&gt;/gi, (_, c, t) => `<span class="font-${c.toLowerCase()}">${t}</span>`);
    s = s.replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, (_, t, u) => `<a href="${u}" target="_blank" rel="noopener noreferrer">${t}</a>`);
    s = s.replace(/\*\*([^*\n]+?)\*\*/g, "<strong>$1</strong>");
    s = s.replace(/(^|[^*\w])\*([^*\n]+?)\*(?!\w)/g, "$1<em>$2</em>");
    s = s.replace(/~~([^~\n]+?)~~/g, "<del>$1</del>");
    const lines = s.split("\n").map((line) => {
      if (/^\s*---+\s*$/.test(line)) return '<hr class="md-hr">';
      const heading = line.match(/^(#{1,6})\s+(.*)$/);
      if (heading) return `<span class="md-h md-h${heading[1].length}">${heading[2]}</span>`;
      const item = line.match(/^\s*[-*]\s+(.*)$/);
      if (item) return `<span class="md-li">${item[1]}</span>`;
      return line;
    });
    s = lines.join("<br>").replace(/(<\/span>|<hr class="md-hr">)<br>/g, "$1");
    return s.replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${codes[Number(i)]}</code>`);
  }

  const safeUrl = (u) => (/^https?:\/\//i.test(String(u || "")) ? String(u) : null); // no javascript: links

  function linkify(escaped) {
    return escaped.replace(/(https?:\/\/[^\s<]+)/g, '<a href="$1" target="_blank" rel="noopener noreferrer">$1</a>');
  }

  // A text message: @_user_N keys (users' messages) or <at user_id=…>Name</at> (the bot's) become names.
  function textHtml(m, text) {
    let s = esc(text);
    for (const x of m.mentions || []) {
      if (x.key) s = s.split(esc(x.key)).join(`<span class="mention">@${esc(x.name || "")}</span>`);
    }
    s = s.replace(/&lt;at (?:user_id|id)=(?:&quot;)?([^\s&]+?)(?:&quot;)?&gt;(.*?)&lt;\/at&gt;/g, (_, id, name) => `<span class="mention">@${name || id}</span>`);
    return linkify(s).replace(/\n/g, "<br>");
  }

  // --- message bodies -------------------------------------------------------------------------------

  function imageNode(key, cls = "photo") {
    const img = el("img", { class: cls, src: `/__sim__/images/${encodeURIComponent(key)}`, alt: "photo", loading: "lazy" });
    img.addEventListener("load", keepBottom);
    return img;
  }

  // A video message: its cover until the player knows the video, then the player's controls (so no
  // loading spinner sits on the cover meanwhile); the file comes with HTTP Range, so it plays and seeks.
  function videoNode(content) {
    const video = el("video", {
      class: "video", playsinline: true, preload: "metadata",
      poster: content.image_key ? `/__sim__/images/${encodeURIComponent(content.image_key)}` : null,
      src: `/__sim__/files/${encodeURIComponent(content.file_key)}`,
      "data-file-key": content.file_key,
    });
    const caption = el("div", { class: "video-caption" });
    const describe = (seconds) => {
      caption.textContent = [content.file_name || "Video", seconds ? `${seconds.toFixed(1)} s` : ""].filter(Boolean).join(" · ");
    };
    describe(content.duration ? content.duration / 1000 : 0);
    const box = el("div", { class: "video-msg loading" }, video, el("span", { class: "video-play", "aria-hidden": "true" }), caption);
    const ready = () => {
      if (video.videoWidth && video.videoHeight) video.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
      video.controls = true;
      box.classList.remove("loading");
      describe(video.duration);
      keepBottom();
    };
    if (video.readyState >= 1) ready(); else video.addEventListener("loadedmetadata", ready, { once: true });
    video.addEventListener("error", () => { box.classList.remove("loading"); caption.textContent = "The video could not be loaded"; });
    box.addEventListener("click", () => { if (!video.controls) video.play().catch(() => {}); });
    return box;
  }

  function unwrapPost(content) {
    if (!content || typeof content !== "object") return null;
    if (Array.isArray(content.content)) return content;
    const inner = content.post && typeof content.post === "object" ? content.post : content;
    for (const key of ["zh_cn", "en_us", "ja_jp"]) if (inner[key] && Array.isArray(inner[key].content)) return inner[key];
    const first = Object.values(inner).find((v) => v && Array.isArray(v.content));
    return first || null;
  }

  function postNode(m) {
    const post = unwrapPost(m.content);
    if (!post) return el("div", { class: "bubble" }, "[post]");
    const mentionName = (id, name) => {
      const found = (m.mentions || []).find((x) => x.key === id);
      return (found && found.name) || name || id;
    };
    const box = el("div", { class: "bubble post" });
    if (post.title) box.append(el("div", { class: "post-title" }, post.title));
    for (const row of post.content || []) {
      const p = el("div", { class: "post-row" });
      for (const e of Array.isArray(row) ? row : []) {
        if (!e || typeof e !== "object") continue;
        if (e.tag === "text") p.append(el("span", { html: esc(e.text).replace(/\n/g, "<br>") }));
        else if (e.tag === "a") p.append(el("a", { href: safeUrl(e.href), target: "_blank", rel: "noopener noreferrer" }, e.text || e.href));
        else if (e.tag === "at") p.append(el("span", { class: "mention" }, "@" + mentionName(e.user_id, e.user_name)));
        else if (e.tag === "img") p.append(imageNode(e.image_key));
        else if (e.tag === "media") p.append(videoNode(e));
        else if (e.tag === "emotion") p.append(EMOJI[e.emoji_type] || `[${e.emoji_type}]`);
        else if (e.tag === "code_block") p.append(el("pre", { class: "code" }, e.text || ""));
        else if (e.tag === "md") p.append(el("span", { html: markdown(e.text) }));
        else if (e.tag === "hr") p.append(el("hr"));
      }
      box.append(p);
    }
    return box;
  }

  function bodyNode(m) {
    const c = m.content || {};
    switch (m.msg_type) {
      case "text": return el("div", { class: "bubble", html: textHtml(m, c.text || "") });
      case "post": return postNode(m);
      case "image": return el("div", { class: "bubble bare" }, imageNode(c.image_key));
      case "media": return videoNode(c);
      case "interactive": return cardShell(m);
      case "file":
        return el("a", { class: "bubble file", href: `/__sim__/files/${encodeURIComponent(c.file_key)}`, download: c.file_name || "file" }, "📎 ", c.file_name || c.file_key);
      default: return el("div", { class: "bubble muted" }, `[${m.msg_type} message]`);
    }
  }

  // --- cards ------------------------------------------------------------------------------------------

  function localised(card, key) {
    if (card[key] !== undefined) return card[key];
    const i18n = card[`i18n_${key}`];
    if (i18n && typeof i18n === "object") return i18n.en_us || i18n.zh_cn || Object.values(i18n)[0];
    return undefined;
  }

  function textOf(t) {
    if (t === null || t === undefined) return "";
    if (typeof t === "string") return esc(t);
    if (t.tag === "lark_md") return markdown(t.content);
    const i18n = t.i18n || t.i18n_content;
    const content = t.content ?? (i18n ? i18n.en_us || Object.values(i18n)[0] : "");
    return esc(content).replace(/\n/g, "<br>");
  }

  function callbackOf(button) {
    if (Array.isArray(button.behaviors)) {
      return button.behaviors.some((b) => b && (b.type === "callback" || b.type === "form_action"));
    }
    return "value" in button || ["submit", "reset"].includes(button.form_action_type) || button.action_type === "form_submit";
  }

  function urlOf(button) {
    if (Array.isArray(button.behaviors)) {
      const open = button.behaviors.find((b) => b && b.type === "open_url");
      if (open) return open.default_url || open.pc_url;
    }
    return button.url || (button.multi_url && (button.multi_url.url || button.multi_url.pc_url)) || null;
  }

  function buttonNode(b, ctx) {
    const type = String(b.type || "default");
    const disabled = b.disabled === true;
    const node = el("button", {
      type: "button", class: `card-btn btn-${type.replace(/[^a-z_]/g, "")}` + (b.width === "fill" ? " fill" : ""),
      "data-button-index": b._pg_button, disabled, title: disabled && b.disabled_tips ? textOf(b.disabled_tips).replace(/<[^>]+>/g, "") : null,
    }, el("span", { html: textOf(b.text) }));
    const url = safeUrl(urlOf(b));
    node.addEventListener("click", () => {
      if (callbackOf(b) && b._pg_button !== undefined) press(ctx.messageId, b._pg_button, node);
      else if (url) window.open(url, "_blank", "noopener");
    });
    return node;
  }

  function selectNode(s) {
    const sel = el("select", { class: "card-select", disabled: true, title: "Select menus are shown; the playground sends button callbacks only" });
    sel.append(el("option", { value: "" }, textOf(s.placeholder).replace(/<[^>]+>/g, "") || "Select…"));
    for (const o of s.options || []) {
      sel.append(el("option", { value: o.value, selected: o.value === s.initial_option }, textOf(o.text).replace(/<[^>]+>/g, "")));
    }
    return sel;
  }

  function elementsNode(elements, ctx) {
    const frag = document.createDocumentFragment();
    let row = null; // consecutive buttons share a row
    for (const e of Array.isArray(elements) ? elements : []) {
      if (e && e.tag === "button") {
        if (!row) { row = el("div", { class: "card-actions" }); frag.append(row); }
        row.append(buttonNode(e, ctx));
        continue;
      }
      row = null;
      const node = elementNode(e, ctx);
      if (node) frag.append(node);
    }
    return frag;
  }

  function elementNode(e, ctx) {
    if (!e || typeof e !== "object") return null;
    switch (e.tag) {
      case "markdown":
      case "lark_md":
        return el("div", { class: "card-md", style: e.text_align ? { textAlign: e.text_align } : null, html: markdown(e.content ?? (e.i18n_content && (e.i18n_content.en_us || Object.values(e.i18n_content)[0]))) });
      case "plain_text":
        return el("div", { class: "card-md", html: textOf(e) });
      case "div": {
        const box = el("div", { class: "card-div" });
        if (e.text) box.append(el("div", { class: "card-md", html: textOf(e.text) }));
        if (Array.isArray(e.fields) && e.fields.length) {
          box.append(el("div", { class: "card-fields" }, e.fields.map((f) =>
            el("div", { class: "card-field" + (f.is_short ? " short" : ""), html: textOf(f.text) }))));
        }
        if (e.extra) {
          const extra = elementNode(e.extra, ctx);
          if (extra) box.append(el("div", { class: "card-extra" }, extra));
        }
        return box;
      }
      case "hr": return el("hr", { class: "card-hr" });
      case "note":
        return el("div", { class: "card-note" }, (e.elements || []).map((x) =>
          x.tag === "img" ? imageNode(x.img_key, "note-img") : el("span", { html: textOf(x) })));
      case "img":
      case "image": {
        const img = imageNode(e.img_key || e.image_key, "card-img");
        if (e.alt) img.alt = textOf(e.alt).replace(/<[^>]+>/g, "");
        return el("div", { class: "card-img-box" }, img);
      }
      case "column_set":
        return el("div", { class: "card-columns" }, (e.columns || []).map((c) =>
          el("div", { class: "card-column", style: { flex: c.width === "auto" ? "0 0 auto" : `${Number(c.weight) || 1} 1 0` } }, elementsNode(c.elements, ctx))));
      case "action":
        return el("div", { class: "card-actions" }, (e.actions || []).map((a) => elementNode(a, ctx)));
      case "button": return el("div", { class: "card-actions" }, buttonNode(e, ctx));
      case "select_static":
      case "multi_select_static":
      case "select_person":
      case "overflow":
        return selectNode(e);
      case "form":
        return el("div", { class: "card-form" }, elementsNode(e.elements, ctx));
      case "collapsible_panel": {
        const title = e.header && e.header.title ? textOf(e.header.title) : "Details";
        return el("details", { class: "card-panel", open: e.expanded === true }, el("summary", { html: title }), elementsNode(e.elements, ctx));
      }
      case "interactive_container":
        return el("div", { class: "card-container" }, elementsNode(e.elements, ctx));
      case "person":
        return el("span", { class: "mention" }, "@" + ((personByOpenId(e.user_id) || {}).name || e.user_id));
      default:
        return el("div", { class: "card-unknown" }, `[${e.tag || "component"}]`);
    }
  }

  function cardNode(card, ctx) {
    if (!card || typeof card !== "object") return el("div", { class: "card" }, "[card]");
    if (card.type === "template") {
      return el("div", { class: "card" }, el("div", { class: "card-body" }, el("div", { class: "card-unknown" }, "[template card: " + ((card.data || {}).template_id || "?") + "]")));
    }
    const v2 = String(card.schema || "") === "2.0";
    const config = card.config || {};
    const wide = config.width_mode === "fill" || config.wide_screen_mode === true;
    const node = el("div", { class: "card" + (wide ? " wide" : "") + (v2 ? " v2" : " v1") });
    const header = localised(card, "header");
    if (header && typeof header === "object") {
      const tpl = String(header.template || "default").toLowerCase();
      const head = el("div", { class: `card-header tpl-${tpl.replace(/[^a-z]/g, "")}` },
        el("div", { class: "card-title", html: textOf(header.title) }));
      if (header.subtitle) head.append(el("div", { class: "card-subtitle", html: textOf(header.subtitle) }));
      if (Array.isArray(header.text_tag_list)) {
        head.querySelector(".card-title").append(...header.text_tag_list.map((t) => el("span", { class: `card-tag tag-${t.color || "neutral"}`, html: textOf(t.text) })));
      }
      node.append(head);
    }
    const body = v2 ? localised(card, "body") || {} : null;
    const elements = v2 ? body.elements : localised(card, "elements");
    node.append(el("div", { class: "card-body" }, elementsNode(elements || [], ctx)));
    return node;
  }

  function headerTitle(card) {
    const header = card && typeof card === "object" ? localised(card, "header") : null;
    const t = header && header.title;
    return t ? String(t.content ?? "") : "";
  }

  // A card message's frame; its content is drawn (and redrawn) by showCard.
  function cardShell(m) {
    const box = el("div", { class: "card-frame", "data-card-for": m.message_id });
    const shown = state.shown.get(m.message_id);
    if (shown) paintCard(box, m.message_id, shown);
    return box;
  }

  function paintCard(frame, messageId, card) {
    const node = cardNode(card, { messageId });
    node.dataset.states = (state.rendered.get(messageId) || []).join(" → ");
    node.dataset.title = headerTitle(card);
    frame.replaceChildren(node);
  }

  function showCard(messageId, card) {
    state.shown.set(messageId, card);
    const title = headerTitle(card);
    const seen = state.rendered.get(messageId) || [];
    if (seen[seen.length - 1] !== title) seen.push(title);
    state.rendered.set(messageId, seen);
    const frame = document.querySelector(`[data-card-for="${messageId}"]`);
    if (frame) { paintCard(frame, messageId, card); keepBottom(); }
  }

  // Shows each version of a card in turn (a card patched twice between two updates still shows both).
  function queueCard(messageId, cards) {
    let q = state.cardQueue.get(messageId);
    if (!q) { q = { pending: [], timer: null }; state.cardQueue.set(messageId, q); }
    q.pending.push(...cards);
    const step = () => {
      q.timer = null;
      const next = q.pending.shift();
      if (next === undefined) return;
      showCard(messageId, next);
      if (q.pending.length) q.timer = setTimeout(step, STATE_STEP_MS);
    };
    if (!q.timer) step();
  }

  async function press(messageId, index, button) {
    const card = button.closest(".card");
    card.querySelectorAll(".card-btn").forEach((b) => b.classList.add("busy"));
    button.classList.add("pressed");
    try {
      const r = await post("/click", { user: state.me.open_id, message_id: messageId, button: index });
      if (r.toast && (r.toast.content || r.toast.i18n)) {
        const text = r.toast.content || r.toast.i18n.en_us || Object.values(r.toast.i18n)[0];
        toast(text, r.toast.type || "info");
      } else if (r.error) {
        toast(`The bot did not answer the button: ${r.error}`, "error");
      }
    } catch (err) {
      toast(String(err.message || err), "error");
    } finally {
      card.querySelectorAll(".card-btn").forEach((b) => b.classList.remove("busy", "pressed"));
    }
  }

  // --- the message list -----------------------------------------------------------------------------

  function senderName(m) {
    if (m.from_bot) return state.config.bot.name;
    return m.sender_name || (personByOpenId(m.sender_id) || {}).name || m.sender_id;
  }

  function reactionsNode(m) {
    const box = el("div", { class: "reactions" });
    const counts = new Map();
    for (const r of m.reactions || []) counts.set(r, (counts.get(r) || 0) + 1);
    for (const [r, n] of counts) {
      box.append(el("span", { class: "reaction", title: `${state.config.bot.name} reacted ${r}`, "data-reaction": r },
        el("span", { class: "reaction-emoji" }, EMOJI[r] || "🙂"), el("span", {}, n > 1 ? `${state.config.bot.name} ×${n}` : state.config.bot.name)));
    }
    return box;
  }

  function quoteNode(m) {
    const parent = state.messages.get(m.parent_id);
    if (!parent || m.parent_id === m.root_id) return null;
    return el("div", { class: "quote" }, `↩ ${senderName(parent)}: ${preview(parent)}`);
  }

  function messageNode(m) {
    const mine = isMine(m);
    const node = el("div", {
      class: "msg" + (m.from_bot ? " from-bot" : "") + (mine ? " mine" : ""),
      "data-message-id": m.message_id, "data-msg-type": m.msg_type, "data-sender": senderName(m),
    });
    node.append(avatar(m.from_bot ? "bot" : "person", senderName(m), m.sender_id));
    const meta = el("div", { class: "msg-meta" }, el("span", { class: "msg-name" }, senderName(m)));
    if (m.from_bot) meta.append(el("span", { class: "bot-tag" }, "Bot"));
    meta.append(el("span", { class: "msg-time" }, hhmm(m.create_time)));
    const main = el("div", { class: "msg-main" }, meta, quoteNode(m), el("div", { class: "msg-body" }, bodyNode(m)), reactionsNode(m));
    node.append(main);
    node.append(el("div", { class: "msg-actions" },
      el("button", { type: "button", class: "icon-btn", title: "Reply", "aria-label": "Reply", onclick: () => setReply(m.message_id) },
        el("svg", { viewBox: "0 0 24 24", "aria-hidden": "true", html: '<path d="M10 8V4l-7 7 7 7v-4c5 0 8 1.5 11 6-1-6-4-12-11-12z" fill="currentColor"/>' }))));
    return node;
  }

  function threadRootOf(m) {
    if (!m.root_id || m.root_id === m.message_id) return null;
    const root = state.messages.get(m.root_id);
    return root && root.chat_id === m.chat_id ? root : null;
  }

  function insertSorted(container, node, createTime, selector) {
    const siblings = Array.from(container.children).filter((c) => c.matches(selector));
    const after = siblings.find((c) => Number(c.dataset.time) > createTime);
    node.dataset.time = String(createTime);
    if (after) container.insertBefore(node, after); else container.append(node);
  }

  function threadNode(root) {
    return el("div", { class: "thread", "data-thread-root": root.message_id },
      messageNode(root),
      el("div", { class: "replies", hidden: true }, el("div", { class: "replies-label" })));
  }

  function updateRepliesLabel(thread) {
    const replies = thread.querySelector(":scope > .replies");
    const n = replies.querySelectorAll(":scope > .msg").length;
    replies.hidden = n === 0;
    replies.querySelector(".replies-label").textContent = n === 1 ? "1 reply" : `${n} replies`;
  }

  function placeMessage(m) {
    const list = $("messages");
    const root = threadRootOf(m);
    if (!root) {
      insertSorted(list, threadNode(m), Number(m.create_time), ".thread");
      return;
    }
    let thread = list.querySelector(`.thread[data-thread-root="${root.message_id}"]`);
    if (!thread) { placeMessage(root); thread = list.querySelector(`.thread[data-thread-root="${root.message_id}"]`); }
    if (!thread) return;
    const replies = thread.querySelector(":scope > .replies");
    insertSorted(replies, messageNode(m), Number(m.create_time), ".msg");
    updateRepliesLabel(thread);
  }

  function refreshMessage(m) {
    const old = document.querySelector(`.msg[data-message-id="${m.message_id}"]`);
    if (!old) return;
    if (m.msg_type === "interactive") {
      // the card is redrawn by its queue; only the reactions change here
      old.querySelector(".reactions").replaceWith(reactionsNode(m));
      return;
    }
    const fresh = messageNode(m);
    fresh.dataset.time = old.dataset.time;
    const video = old.querySelector("video");
    const freshVideo = fresh.querySelector("video");
    if (video && freshVideo && video.dataset.fileKey === freshVideo.dataset.fileKey) freshVideo.replaceWith(video); // keep playback
    old.replaceWith(fresh);
  }

  function systemNote(text) {
    return el("div", { class: "system-note" }, el("span", { html: text }));
  }

  function renderMessages() {
    const list = $("messages");
    list.replaceChildren();
    const chat = currentChat();
    if (chat.type === "group") {
      const names = (state.config.people || []).map((p) => esc(p.name)).join(", ");
      list.append(systemNote(`${names} and ${esc(state.config.bot.name)} are in this group. Feishu shows the bot only the group messages that @mention it: try <code>@${esc(state.config.bot.name)} /video a kitten yawning</code>`));
    } else {
      list.append(systemNote(`Your private chat with ${esc(state.config.bot.name)}: no @mention needed. Try <code>/video a red panda surfing --ratio 9:16</code> or <code>/help</code>`));
    }
    const mine = Array.from(state.messages.values()).filter((m) => m.chat_id === state.chat)
      .sort((a, b) => Number(a.create_time) - Number(b.create_time));
    for (const m of mine) if (!document.querySelector(`.msg[data-message-id="${m.message_id}"]`)) placeMessage(m);
    list.scrollTop = list.scrollHeight;
  }

  let stickToBottom = true;
  function keepBottom() {
    const list = $("messages");
    if (stickToBottom) list.scrollTop = list.scrollHeight;
  }

  // --- chats ----------------------------------------------------------------------------------------

  function chats() {
    const out = [{ id: state.config.group.chat_id, type: "group", name: state.config.group.name }];
    out.push({ id: state.me.p2p_chat_id, type: "p2p", name: state.config.bot.name });
    const known = new Set(out.map((c) => c.id));
    const privateChats = new Set(state.config.people.map((p) => p.p2p_chat_id));
    for (const m of state.messages.values()) {
      if (known.has(m.chat_id) || privateChats.has(m.chat_id)) continue;
      known.add(m.chat_id);
      out.push({ id: m.chat_id, type: m.chat_type, name: m.chat_type === "group" ? `Group ${m.chat_id}` : `Private chat ${m.chat_id}` });
    }
    return out;
  }

  function currentChat() {
    return chats().find((c) => c.id === state.chat) || chats()[0];
  }

  function preview(m) {
    switch (m.msg_type) {
      case "text": {
        let t = m.content.text || "";
        for (const x of m.mentions || []) if (x.key) t = t.split(x.key).join("@" + (x.name || ""));
        return t.replace(/<at [^>]*>(.*?)<\/at>/g, "@$1");
      }
      case "post": {
        const p = unwrapPost(m.content);
        const parts = [];
        let photo = false;
        for (const row of (p && p.content) || []) for (const e of row || []) {
          if (e.tag === "text") parts.push(e.text);
          else if (e.tag === "at") parts.push("@" + (((m.mentions || []).find((x) => x.key === e.user_id) || {}).name || e.user_name || ""));
          else if (e.tag === "img") photo = true;
        }
        return (photo ? "[Photo] " : "") + parts.join("").trim();
      }
      case "image": return "[Photo]";
      case "media": return "[Video]";
      case "interactive": return "[Card] " + headerTitle(m.content);
      default: return `[${m.msg_type}]`;
    }
  }

  function renderChats() {
    const ul = $("chats");
    ul.replaceChildren();
    for (const c of chats()) {
      const msgs = Array.from(state.messages.values()).filter((m) => m.chat_id === c.id);
      const last = msgs.sort((a, b) => Number(a.create_time) - Number(b.create_time))[msgs.length - 1];
      const unread = state.unread.get(c.id) || 0;
      const li = el("li", { class: "chat-item" + (c.id === state.chat ? " active" : ""), "data-chat-id": c.id, "data-chat-type": c.type, role: "button", tabindex: "0", onclick: () => openChat(c.id) },
        c.type === "p2p" ? avatar("bot", c.name) : avatar("group", c.name),
        el("div", { class: "chat-info" },
          el("div", { class: "chat-top" },
            el("span", { class: "chat-name" }, c.name, c.type === "p2p" ? el("span", { class: "bot-tag" }, "Bot") : null),
            el("span", { class: "chat-time" }, last ? hhmm(last.create_time) : "")),
          el("div", { class: "chat-preview" }, last ? `${senderName(last)}: ${preview(last)}` : (c.type === "p2p" ? "Private chat with the bot" : "Group chat"))),
        unread ? el("span", { class: "badge" }, String(unread)) : null);
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") openChat(c.id); });
      ul.append(li);
    }
  }

  function renderHeader() {
    const c = currentChat();
    $("chat-avatar").replaceWith(Object.assign(c.type === "p2p" ? avatar("bot", c.name) : avatar("group", c.name), { id: "chat-avatar" }));
    $("chat-name").textContent = c.name;
    let members = state.config.people.map((p) => p.name);
    if (c.id !== state.config.group.chat_id) { // a group made elsewhere (curl, a test): who has written there
      members = Array.from(new Set(Array.from(state.messages.values())
        .filter((m) => m.chat_id === c.id && !m.from_bot).map(senderName)));
    }
    $("chat-sub").textContent = c.type === "group"
      ? `${members.length + 1} members · ${[...members, state.config.bot.name].join(", ")}`
      : `Private chat · you are ${state.me.name}`;
    $("input").placeholder = c.type === "group" ? `Message ${c.name} — type @ to mention ${state.config.bot.name}` : `Message ${c.name}`;
    $("hint").textContent = c.type === "group" ? `Enter to send · @${state.config.bot.name} to talk to the bot` : "Enter to send · Shift+Enter for a new line";
    renderSuggestions();
  }

  function renderSuggestions() {
    const group = currentChat().type === "group";
    const at = group ? `@${state.config.bot.name} ` : "";
    const tries = [
      [`${at}/video a kitten yawning`, "/video a kitten yawning"],
      [`${at}/draft a flower blooming`, "/draft a flower blooming"],
      [`${at}/video a red panda surfing --ratio 9:16`, "/video … --ratio 9:16"],
      [`${at}/help`, "/help"],
    ];
    $("suggestions").replaceChildren(el("span", { class: "suggest-label" }, "Try:"),
      ...tries.map(([text, label]) => el("button", { type: "button", class: "chip", onclick: () => { $("input").value = text; $("input").focus(); } }, label)));
  }

  function openChat(chatId) {
    state.chat = chatId;
    state.unread.delete(chatId);
    setReply(null);
    renderChats();
    renderHeader();
    renderMessages();
  }

  function setMe(openId) {
    const me = personByOpenId(openId) || state.config.people[0];
    state.me = me;
    $("whoami").value = me.open_id;
    const railMe = $("rail-me");
    railMe.replaceChildren(avatar("person", me.name, me.open_id));
    railMe.title = `You are ${me.name}`;
    try { localStorage.setItem("playground.me", me.open_id); } catch (_) { /* private mode */ }
    const chat = state.chat && currentChat();
    const onPrivate = chat && chat.type === "p2p" && state.config.people.some((p) => p.p2p_chat_id === state.chat);
    openChat(!state.chat ? state.config.group.chat_id : onPrivate ? me.p2p_chat_id : state.chat);
  }

  // --- live updates ---------------------------------------------------------------------------------

  function apply(messages, { snapshot }) {
    if (snapshot) {
      const ids = new Set(messages.map((m) => m.message_id));
      const gone = Array.from(state.messages.keys()).filter((id) => !ids.has(id));
      if (gone.length) { // the simulator was reset
        state.messages.clear(); state.rendered.clear(); state.shown.clear(); state.cardQueue.clear(); state.unread.clear();
      }
    }
    const fresh = [];
    for (const m of messages) {
      const known = state.messages.has(m.message_id);
      state.messages.set(m.message_id, m);
      if (m.msg_type === "interactive") {
        const before = state.shown.get(m.message_id);
        const cards = [...(m.replay || []), m.content];
        if (snapshot && before && JSON.stringify(before) === JSON.stringify(m.content)) { /* unchanged */ }
        else if (!known && !snapshot) { state.shown.set(m.message_id, cards[0]); queueCard(m.message_id, cards); }
        else queueCard(m.message_id, cards);
        if (!state.rendered.has(m.message_id)) state.rendered.set(m.message_id, []);
      }
      if (!known) fresh.push(m);
      else if (m.chat_id === state.chat) refreshMessage(m);
    }
    if (snapshot) {
      if (fresh.length) renderMessages();
    } else {
      fresh.sort((a, b) => Number(a.create_time) - Number(b.create_time));
      for (const m of fresh) {
        if (m.chat_id !== state.chat) state.unread.set(m.chat_id, (state.unread.get(m.chat_id) || 0) + 1);
        else if (!document.querySelector(`.msg[data-message-id="${m.message_id}"]`)) placeMessage(m);
      }
    }
    renderChats();
    keepBottom();
  }

  function connect() {
    const conn = $("conn");
    const es = new EventSource(`${API}/events`);
    es.addEventListener("open", () => { conn.textContent = "Live"; conn.className = "conn live"; });
    es.addEventListener("error", () => { conn.textContent = "Reconnecting…"; conn.className = "conn down"; });
    es.addEventListener("snapshot", (e) => apply(JSON.parse(e.data).messages, { snapshot: true }));
    es.addEventListener("update", (e) => apply(JSON.parse(e.data).messages, { snapshot: false }));
  }

  // --- composing ------------------------------------------------------------------------------------

  function setReply(messageId) {
    state.replyTo = messageId;
    const box = $("reply-to");
    if (!messageId || !state.messages.get(messageId)) { box.hidden = true; state.replyTo = null; return; }
    const m = state.messages.get(messageId);
    $("reply-to-text").textContent = `Reply to ${senderName(m)}: ${preview(m)}`;
    box.hidden = false;
    $("input").focus();
  }

  function renderAttachments() {
    $("attachments").replaceChildren(...state.attachments.map((a, i) => el("div", { class: "attachment", "data-image-key": a.image_key },
      el("img", { src: a.url, alt: "photo to send" }),
      el("button", { type: "button", class: "attachment-remove", "aria-label": "Remove photo", onclick: () => { state.attachments.splice(i, 1); renderAttachments(); } }, "×"))));
  }

  async function uploadFiles(files) {
    for (const file of files) {
      try {
        const r = await api("/images", { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
        state.attachments.push({ ...r, url: `/__sim__/images/${encodeURIComponent(r.image_key)}` });
        renderAttachments();
      } catch (err) {
        toast(`Could not upload ${file.name}: ${err.message || err}`, "error");
      }
    }
    $("input").focus();
  }

  async function addSample(name) {
    hideMenus();
    try {
      const r = await post(`/images/sample/${encodeURIComponent(name)}`, {});
      state.attachments.push({ ...r, url: `/__sim__/images/${encodeURIComponent(r.image_key)}` });
      renderAttachments();
      $("input").focus();
    } catch (err) {
      toast(String(err.message || err), "error");
    }
  }

  function mentionables() {
    const out = [{ open_id: state.config.bot.open_id, name: state.config.bot.name, bot: true }];
    for (const p of state.config.people) if (p.open_id !== state.me.open_id) out.push({ ...p, bot: false });
    return out;
  }

  // "@VideoBot /video …" → the bot's mention (group chats) and "@Bob" → Bob's, taken out of the text.
  function parseMentions(text, group) {
    let mentionBot = false;
    const mentions = [];
    let rest = text;
    if (group) {
      for (const who of mentionables()) {
        const re = new RegExp(`(^|\\s)@${who.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?=\\s|$)`, "gi");
        if (re.test(rest)) {
          rest = rest.replace(re, "$1");
          if (who.bot) mentionBot = true; else mentions.push(who.open_id);
        }
      }
    }
    return { text: rest.replace(/[ \t]+/g, " ").trim(), mentionBot, mentions };
  }

  let sending = false;
  async function send() {
    if (sending) return;
    const input = $("input");
    const chat = currentChat();
    const group = chat.type === "group";
    const parsed = parseMentions(input.value, group);
    if (!parsed.text && !state.attachments.length) { input.focus(); return; }
    sending = true;
    $("send").disabled = true;
    const body = {
      user: state.me.open_id, chat_id: chat.id, text: parsed.text, images: state.attachments.map((a) => a.image_key),
      parent_id: state.replyTo, mention_bot: parsed.mentionBot, mentions: parsed.mentions,
    };
    try {
      stickToBottom = true;
      const r = await post("/send", body);
      input.value = "";
      state.attachments = [];
      renderAttachments();
      setReply(null);
      if (r.status !== 200) toast(`Feishu could not deliver the message to the bot: ${r.error || "HTTP " + r.status}`, "warning");
      else if (group && !parsed.mentionBot && parsed.text.startsWith("/")) toast(`Sent without @${state.config.bot.name}: in a group the bot only sees messages that mention it`, "info");
    } catch (err) {
      toast(String(err.message || err), "error");
    } finally {
      sending = false;
      $("send").disabled = false;
      input.focus();
    }
  }

  // --- menus (mention, sample photos) ---------------------------------------------------------------

  function hideMenus() {
    $("mention-menu").hidden = true;
    $("sample-menu").hidden = true;
  }

  function showMenu(menu, anchor, items) {
    menu.replaceChildren(...items);
    const box = anchor.getBoundingClientRect();
    menu.hidden = false;
    menu.style.left = `${Math.max(8, box.left)}px`;
    menu.style.top = `${Math.max(8, box.top - menu.offsetHeight - 6)}px`;
  }

  let mentionStart = -1;
  function openMentionMenu() {
    const input = $("input");
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    const match = before.match(/(^|\s)@([^\s@]*)$/);
    if (!match) { $("mention-menu").hidden = true; mentionStart = -1; return; }
    mentionStart = caret - match[2].length - 1;
    const q = match[2].toLowerCase();
    const who = mentionables().filter((p) => p.name.toLowerCase().startsWith(q));
    if (!who.length) { $("mention-menu").hidden = true; return; }
    showMenu($("mention-menu"), input, who.map((p, i) => el("button", {
      type: "button", class: "menu-item" + (i === 0 ? " active" : ""), role: "menuitem", "data-name": p.name,
      onmousedown: (e) => { e.preventDefault(); pickMention(p.name); },
    }, p.bot ? avatar("bot", p.name) : avatar("person", p.name, p.open_id), el("span", {}, p.name), p.bot ? el("span", { class: "bot-tag" }, "Bot") : null)));
  }

  function pickMention(name) {
    const input = $("input");
    const caret = input.selectionStart;
    const start = mentionStart >= 0 ? mentionStart : caret;
    input.value = `${input.value.slice(0, start)}@${name} ${input.value.slice(caret)}`;
    const pos = start + name.length + 2;
    input.setSelectionRange(pos, pos);
    $("mention-menu").hidden = true;
    mentionStart = -1;
    input.focus();
  }

  // --- start ----------------------------------------------------------------------------------------

  function wire() {
    const input = $("input");
    input.addEventListener("keydown", (e) => {
      const menu = $("mention-menu");
      if (!menu.hidden) {
        const items = Array.from(menu.querySelectorAll(".menu-item"));
        const at = items.findIndex((x) => x.classList.contains("active"));
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
          e.preventDefault();
          items[at]?.classList.remove("active");
          items[(at + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].classList.add("active");
          return;
        }
        if ((e.key === "Enter" || e.key === "Tab") && at >= 0) { e.preventDefault(); pickMention(items[at].dataset.name); return; }
        if (e.key === "Escape") { menu.hidden = true; return; }
      }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    });
    input.addEventListener("input", openMentionMenu);
    input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== input) $("mention-menu").hidden = true;
    }, 150));
    $("send").addEventListener("click", send);
    $("at-btn").addEventListener("click", () => {
      const caret = input.selectionStart ?? input.value.length;
      const pad = caret > 0 && !/\s/.test(input.value[caret - 1]) ? " " : "";
      input.value = input.value.slice(0, caret) + pad + "@" + input.value.slice(caret);
      input.setSelectionRange(caret + pad.length + 1, caret + pad.length + 1);
      input.focus();
      openMentionMenu();
    });
    $("file").addEventListener("change", (e) => { uploadFiles(Array.from(e.target.files || [])); e.target.value = ""; });
    $("sample-btn").addEventListener("click", (e) => {
      e.stopPropagation();
      const menu = $("sample-menu");
      if (!menu.hidden) { menu.hidden = true; return; }
      showMenu(menu, $("sample-btn"), state.config.samples.map((s) => el("button", {
        type: "button", class: "menu-item", role: "menuitem", "data-sample": s.name, onclick: () => addSample(s.name),
      }, s.title)));
    });
    document.addEventListener("click", (e) => { if (!e.target.closest(".menu")) $("sample-menu").hidden = true; });
    $("reply-cancel").addEventListener("click", () => setReply(null));
    $("whoami").addEventListener("change", (e) => setMe(e.target.value));
    const list = $("messages");
    list.addEventListener("scroll", () => { stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80; });
    // paste a photo
    input.addEventListener("paste", (e) => {
      const files = Array.from(e.clipboardData?.files || []).filter((f) => f.type.startsWith("image/"));
      if (files.length) { e.preventDefault(); uploadFiles(files); }
    });
  }

  async function start() {
    state.config = await api("/config");
    const select = $("whoami");
    for (const p of state.config.people) select.append(el("option", { value: p.open_id }, p.name));
    const asked = new URLSearchParams(location.search).get("as");
    let saved = null;
    try { saved = localStorage.getItem("playground.me"); } catch (_) { /* private mode */ }
    const byName = asked && state.config.people.find((p) => p.name.toLowerCase() === asked.toLowerCase());
    wire();
    setMe((byName && byName.open_id) || saved || state.config.people[0].open_id);
    connect();
    window.playground = { state, version: 1 };
  }

  start().catch((err) => {
    document.body.prepend(el("div", { class: "fatal" }, `The playground could not start: ${err.message || err}`));
  });
})();
