// Samvad simulator page: talks to POST/GET /simulator/messages on this origin.
// Every piece of text from the bot or the user goes into the page through textContent:
// nothing is ever parsed as HTML.
"use strict";

(() => {
  const POLL_MS = 2000;
  const CHANNELS = ["whatsapp", "sms"];
  const NAMES = {
    "+919876500001": "Sunita Devi",
    "+919876500002": "Rahul Verma",
    "+919876510001": "GRO, Dehradun",
    "+919876510002": "LME streetlights, Dehradun",
    "+919876510004": "Registrar, Dehradun",
  };

  const $ = (id) => document.getElementById(id);
  const ui = {
    number: $("number"), newField: $("new-number-field"), newNumber: $("new-number"),
    language: $("language"), lat: $("lat"), lng: $("lng"), photo: $("photo"),
    sendLocation: $("send-location"), sendPhoto: $("send-photo"), smsNote: $("sms-note"),
    phone: $("phone"), log: $("log"), error: $("error"), composer: $("composer"),
    text: $("text"), send: $("send"), title: $("chat-title"), subtitle: $("chat-subtitle"),
    sheet: $("sheet"), sheetTitle: $("sheet-title"), sheetRows: $("sheet-rows"),
    sheetClose: $("sheet-close"), flow: $("state-flow"), step: $("state-step"),
    locale: $("state-locale"),
  };

  const threads = new Map(); // "<channel> <number>" -> {el, flow, step, locale}
  let queue = Promise.resolve();

  // ---- small DOM helpers ------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function safeUrl(value) {
    try {
      const url = new URL(String(value), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  // Text with its http(s) links made clickable; the rest stays plain text nodes.
  function richText(className, text) {
    const node = el("div", className);
    const source = String(text || "");
    const pattern = /https?:\/\/[^\s<>"]+/g;
    let last = 0;
    for (const match of source.matchAll(pattern)) {
      let link = match[0];
      const trailing = link.match(/[.,;:!?)]+$/);
      if (trailing) link = link.slice(0, -trailing[0].length);
      node.append(document.createTextNode(source.slice(last, match.index)));
      const href = safeUrl(link);
      if (href) {
        const a = el("a", null, link);
        a.href = href;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        node.append(a);
      } else {
        node.append(document.createTextNode(link));
      }
      last = match.index + link.length;
    }
    node.append(document.createTextNode(source.slice(last)));
    return node;
  }

  function clock() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ---- who and where ----------------------------------------------------------------

  function currentNumber() {
    if (ui.number.value !== "new") return ui.number.value;
    return ui.newNumber.value.replace(/[\s()-]/g, "");
  }

  function currentChannel() {
    return document.querySelector('input[name="channel"]:checked').value;
  }

  function threadFor(channel, number) {
    const key = `${channel} ${number}`;
    let thread = threads.get(key);
    if (!thread) {
      const node = el("div", "thread");
      node.dataset.channel = channel;
      node.dataset.number = number;
      node.hidden = true;
      const look = channel === "sms" ? "an SMS phone" : "WhatsApp";
      node.append(el("p", "system",
        `You are ${number} on ${look}. Say hi to start; replies appear as ${look} shows them.`));
      ui.log.append(node);
      thread = { el: node, flow: null, step: null, locale: null, channel };
      threads.set(key, thread);
    }
    return thread;
  }

  function activeThread() {
    return threadFor(currentChannel(), currentNumber());
  }

  function showState(thread) {
    ui.flow.textContent = thread.flow || "–";
    ui.step.textContent = thread.step || "–";
    ui.locale.textContent = thread.locale || "–";
    ui.language.value = thread.locale && [...ui.language.options].some(
      (option) => option.value === thread.locale) ? thread.locale : "";
  }

  function refreshView() {
    const channel = currentChannel();
    const number = currentNumber();
    ui.newField.hidden = ui.number.value !== "new";
    ui.phone.dataset.channel = channel;
    const sms = channel === "sms";
    ui.sendLocation.disabled = sms;
    ui.sendPhoto.disabled = sms;
    ui.photo.disabled = sms;
    ui.smsNote.hidden = !sms;
    ui.title.textContent = sms ? "Samvad (SMS)" : "Samvad";
    const name = NAMES[number];
    ui.subtitle.textContent = `${sms ? "SMS" : "WhatsApp"} · you are ${number}` +
      (name ? ` (${name})` : "");
    closeSheet();
    const active = threadFor(channel, number);
    for (const thread of threads.values()) {
      thread.el.hidden = thread !== active;
      thread.el.classList.toggle("active", thread === active);
    }
    showState(active);
    scrollDown();
    markRead(channel);
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function showError(message) {
    ui.error.textContent = message;
    ui.error.hidden = !message;
  }

  // ---- what the user sends ----------------------------------------------------------

  function outgoing(thread, build) {
    const bubble = el("div", "bubble out");
    build(bubble);
    bubble.append(el("span", "time", clock()));
    thread.el.append(bubble);
    scrollDown();
  }

  function echoText(text) {
    return (bubble) => bubble.append(richText("body", text));
  }

  function typing(thread) {
    const dots = el("div", "bubble in typing");
    dots.setAttribute("aria-label", "Samvad is typing");
    for (let i = 0; i < 3; i += 1) dots.append(el("span", "dot"));
    thread.el.append(dots);
    scrollDown();
    return dots;
  }

  // Messages go out one after the other, each with the number and channel of its moment.
  function send(message, echo) {
    const thread = activeThread();
    const body = { from: thread.el.dataset.number, channel: thread.channel, ...message };
    outgoing(thread, echo);
    const turn = queue.then(() => deliver(thread, body));
    queue = turn.catch(() => null);
    return turn;
  }

  async function deliver(thread, body) {
    const dots = typing(thread);
    try {
      const response = await fetch("/simulator/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new Error((data.error && data.error.message) || `HTTP ${response.status}`);
      }
      showError("");
      for (const reply of data.replies || []) incoming(thread, reply, thread.channel, false);
      if (!data.duplicate) {
        thread.flow = data.flow;
        thread.step = data.step;
        thread.locale = data.locale;
      }
      if (thread === activeThread()) showState(thread);
      return data;
    } catch (error) {
      showError(`Not sent: ${error.message}`);
      throw error;
    } finally {
      dots.remove();
      scrollDown();
    }
  }

  function sendText(text) {
    const value = text.trim();
    if (!value) return Promise.resolve(null);
    return send({ text: value }, echoText(value));
  }

  function sendOption(id, label) {
    return send({ option_id: id }, echoText(label));
  }

  function sendLocation() {
    const lat = Number.parseFloat(ui.lat.value);
    const lng = Number.parseFloat(ui.lng.value);
    if (!Number.isFinite(lat) || !Number.isFinite(lng)) {
      showError("Enter a latitude and a longitude first.");
      return Promise.resolve(null);
    }
    return send({ location: { lat, lng } }, (bubble) => {
      bubble.classList.add("location");
      const card = el("div", "pin-card");
      card.append(el("span", "pin", ""), el("span", "pin-text", "Location"));
      bubble.append(card, el("div", "body coords", `${lat.toFixed(4)}, ${lng.toFixed(4)}`));
    });
  }

  async function sendPhoto() {
    const file = ui.photo.files && ui.photo.files[0];
    if (!file) {
      showError("Choose a photo first.");
      return null;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    let hosted;
    try {
      const response = await fetch("/simulator/media", { method: "POST", body: form });
      hosted = await response.json().catch(() => ({}));
      if (!response.ok) {
        throw new Error((hosted.error && hosted.error.message) || `HTTP ${response.status}`);
      }
    } catch (error) {
      showError(`Photo not sent: ${error.message}`);
      return null;
    }
    const preview = URL.createObjectURL(file);
    ui.photo.value = "";
    return send({ media: [{ url: hosted.url, content_type: hosted.content_type }] },
      (bubble) => {
        bubble.classList.add("media");
        const img = el("img", "photo");
        img.src = preview;
        img.alt = "Photo you sent";
        bubble.append(img);
      });
  }

  // The language control does what a person would: "language", then the choice.
  async function chooseLanguage(locale) {
    if (!locale) return;
    const data = await sendText("language").catch(() => null);
    if (!data) return;
    for (const reply of data.replies || []) {
      const index = (reply.options || []).findIndex((option) => option.id === locale);
      if (index >= 0) {
        const option = reply.options[index];
        if (currentChannel() === "sms") await sendText(String(index + 1));
        else await sendOption(option.id, option.label);
        return;
      }
    }
    showError("The bot did not offer that language here; pick it in the chat.");
  }

  // ---- what the bot sends: WhatsApp --------------------------------------------------

  function incomingBubble(thread, notice) {
    const bubble = el("div", "bubble in");
    if (notice) {
      bubble.classList.add("notice");
      bubble.append(el("div", "tag", notice));
    }
    thread.el.append(bubble);
    return bubble;
  }

  function stamp(bubble) {
    bubble.append(el("span", "time", clock()));
  }

  function mediaPart(bubble, kind, media) {
    const link = safeUrl(media.link);
    if (kind === "image" && link) {
      const img = el("img", "photo");
      img.src = link;
      img.alt = media.caption ? media.caption.split("\n")[0] : "Image";
      img.loading = "lazy";
      bubble.classList.add("media");
      bubble.append(img);
    } else {
      const doc = el(link ? "a" : "div", "doc");
      if (link) {
        doc.href = link;
        doc.target = "_blank";
        doc.rel = "noopener noreferrer";
      }
      doc.append(el("span", "doc-icon", kind === "document" ? "PDF" : kind.toUpperCase()),
        el("span", "doc-name", media.filename || (link ? "Open file" : "file unavailable")));
      bubble.append(doc);
    }
    if (media.caption) bubble.append(richText("body", media.caption));
  }

  function actionButton(label, className, onClick) {
    const button = el("button", `action ${className || ""}`.trim(), label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  function whatsappPayload(thread, payload, notice) {
    const bubble = incomingBubble(thread, notice);
    const kind = payload.type;
    if (kind === "text") {
      bubble.append(richText("body", payload.text && payload.text.body));
    } else if (["image", "document", "video", "audio", "sticker"].includes(kind)) {
      mediaPart(bubble, kind, payload[kind] || {});
    } else if (kind === "interactive") {
      const actions = interactive(bubble, payload.interactive || {});
      stamp(bubble);
      bubble.append(actions);
      return;
    } else {
      bubble.append(el("pre", "raw", JSON.stringify(payload, null, 2)));
    }
    stamp(bubble);
  }

  // The body of an interactive message into bubble; returns its buttons.
  function interactive(bubble, message) {
    if (message.header && message.header.text) {
      bubble.append(el("div", "header", message.header.text));
    }
    bubble.append(richText("body", message.body && message.body.text));
    if (message.footer && message.footer.text) {
      bubble.append(el("div", "footer", message.footer.text));
    }
    const action = message.action || {};
    const actions = el("div", "actions");
    if (message.type === "button") {
      bubble.classList.add("with-actions");
      for (const button of action.buttons || []) {
        const reply = button.reply || {};
        actions.append(actionButton(reply.title, "reply",
          () => sendOption(reply.id, reply.title)));
      }
    } else if (message.type === "list") {
      bubble.classList.add("with-actions");
      const label = action.button || "Choose";
      actions.append(actionButton(label, "list-open",
        () => openSheet(label, action.sections || [])));
    } else if (message.type === "location_request_message") {
      bubble.classList.add("with-actions");
      actions.append(actionButton("Send location", "location-send", () => sendLocation()));
    } else {
      actions.append(el("pre", "raw", JSON.stringify(message, null, 2)));
    }
    return actions;
  }

  function openSheet(label, sections) {
    ui.sheetTitle.textContent = label;
    ui.sheetRows.replaceChildren();
    for (const section of sections) {
      if (section.title) ui.sheetRows.append(el("div", "sheet-section", section.title));
      for (const row of section.rows || []) {
        const button = el("button", "row");
        button.type = "button";
        button.dataset.id = row.id;
        const text = el("span", "row-text");
        text.append(el("span", "row-title", row.title));
        if (row.description) text.append(el("span", "row-description", row.description));
        button.append(text, el("span", "radio"));
        button.addEventListener("click", () => {
          closeSheet();
          sendOption(row.id, row.title);
        });
        ui.sheetRows.append(button);
      }
    }
    ui.sheet.hidden = false;
    const first = ui.sheetRows.querySelector("button");
    if (first) first.focus();
  }

  function closeSheet() {
    ui.sheet.hidden = true;
  }

  // ---- what the bot sends: SMS -------------------------------------------------------

  function smsReply(thread, reply, notice) {
    const bubble = incomingBubble(thread, notice);
    bubble.append(richText("body sms-text", reply.rendered));
    const meta = el("div", "meta");
    if (reply.sms) {
      const segments = reply.sms.segments;
      meta.append(el("span", "segments",
        `${segments} SMS segment${segments === 1 ? "" : "s"} · ${reply.sms.encoding} · ` +
        `${reply.sms.units} units`));
    }
    meta.append(el("span", "time", clock()));
    bubble.append(meta);
  }

  function incoming(thread, reply, channel, notice) {
    if (channel === "sms") {
      smsReply(thread, reply, notice);
    } else if (Array.isArray(reply.rendered)) {
      for (const payload of reply.rendered) whatsappPayload(thread, payload, notice);
    } else {
      const bubble = incomingBubble(thread, notice);
      bubble.append(richText("body", reply.text));
      stamp(bubble);
    }
  }

  // ---- notifications -----------------------------------------------------------------

  function markUnread(channel) {
    const label = document.querySelector(`input[name="channel"][value="${channel}"]`)
      .parentElement;
    label.classList.add("unread");
  }

  function markRead(channel) {
    const label = document.querySelector(`input[name="channel"][value="${channel}"]`)
      .parentElement;
    label.classList.remove("unread");
  }

  async function poll() {
    const number = currentNumber();
    if (/^\+?\d{8,15}$/.test(number)) {
      for (const channel of CHANNELS) {
        try {
          const query = new URLSearchParams({ from: number, channel });
          const response = await fetch(`/simulator/messages?${query}`);
          if (!response.ok) continue;
          const data = await response.json();
          const replies = data.replies || [];
          if (!replies.length) continue;
          const thread = threadFor(channel, number);
          for (const reply of replies) incoming(thread, reply, channel, "Notification");
          if (thread === activeThread()) scrollDown();
          else markUnread(channel);
        } catch (_) {
          // The server may be restarting; the next round tries again.
        }
      }
    }
    window.setTimeout(poll, POLL_MS);
  }

  // ---- wiring -------------------------------------------------------------------------

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = ui.text.value;
    ui.text.value = "";
    sendText(value).catch(() => null);
    ui.text.focus();
  });
  ui.number.addEventListener("change", refreshView);
  ui.newNumber.addEventListener("change", refreshView);
  for (const radio of document.querySelectorAll('input[name="channel"]')) {
    radio.addEventListener("change", refreshView);
  }
  ui.language.addEventListener("change", () => {
    const locale = ui.language.value;
    chooseLanguage(locale).catch(() => null);
  });
  ui.sendLocation.addEventListener("click", () => sendLocation().catch(() => null));
  ui.sendPhoto.addEventListener("click", () => sendPhoto().catch(() => null));
  ui.sheetClose.addEventListener("click", closeSheet);
  ui.sheet.addEventListener("click", (event) => {
    if (event.target === ui.sheet) closeSheet();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeSheet();
  });

  // Hindi typed before the font arrives would stay drawn as boxes: load it up front.
  if (document.fonts) document.fonts.load('1em "Samvad Devanagari"', "\u0905").catch(() => null);
  refreshView();
  window.setTimeout(poll, POLL_MS);
})();
