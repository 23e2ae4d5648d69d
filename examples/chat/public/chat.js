// The chat demo's browser side. Plain JavaScript over the official client
// (`io` comes from /socket.io/socket.io.js, served by unio).
//
// Optional query string: ?transports=polling or ?transports=websocket
// restricts the client to one transport (default: polling, then upgrade).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const transports = params.get("transports")?.split(",").filter(Boolean);

  const socket = io({ ...(transports ? { transports } : {}), ackTimeout: 10_000 });

  const state = {
    nick: localStorage.getItem("unio-chat-nick") || "",
    room: "general",
    id: null,
    joined: false,
    rooms: [],
    users: [],
    typing: new Map(), // id -> { nick, timer }
    outbox: [], // sends waiting for a (re)joined connection
    wasConnected: false,
  };
  // For the console and the browser tests.
  window.chat = { socket, state };

  // ── helpers ──────────────────────────────────────────────
  function el(tag, props = {}, children = []) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }

  function colorOf(nick) {
    let h = 0;
    for (const ch of nick) h = (h * 31 + ch.codePointAt(0)) % 360;
    return `hsl(${h} 58% 52%)`;
  }

  function avatar(nick) {
    const initials = ([...nick][0] ?? "?").toUpperCase();
    const a = el("span", { class: "avatar", text: initials, title: nick });
    a.style.background = colorOf(nick);
    return a;
  }

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const timeOf = (ts) => timeFmt.format(new Date(ts));

  let toastTimer;
  function toast(text) {
    const t = $("toast");
    t.textContent = text;
    t.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove("show"), 3500);
  }

  // ── connection status ────────────────────────────────────
  function setStatus(kind, label) {
    const s = $("status");
    s.dataset.state = kind;
    s.dataset.transport = kind === "connected" ? socket.io.engine.transport.name : "";
    $("status-label").textContent = label;
  }
  const showConnected = () => setStatus("connected", `connected · ${socket.io.engine.transport.name}`);

  socket.on("connect", () => {
    showConnected();
    socket.io.engine.once("upgrade", showConnected);
    if (state.wasConnected) toast(socket.recovered ? "Reconnected: caught up on missed messages" : "Reconnected");
    state.wasConnected = true;
    if (!state.joined) return;
    if (socket.recovered) return flushOutbox();
    // A fresh session (the server restarted, or we were away too long): join again, quietly.
    join(state.nick, state.room, { quiet: true });
  });

  socket.on("disconnect", (reason) => {
    setStatus(reason === "io server disconnect" ? "disconnected" : "reconnecting", "reconnecting…");
    clearTyping();
    if (reason === "io server disconnect") socket.connect();
  });
  socket.io.on("reconnect_attempt", (n) => setStatus("reconnecting", `reconnecting… (attempt ${n})`));
  socket.on("connect_error", () => {
    if (!socket.active) setStatus("disconnected", "disconnected");
  });

  // ── rooms and people ─────────────────────────────────────
  function renderRooms() {
    const list = $("rooms");
    list.replaceChildren(
      ...state.rooms.map((r) => {
        const b = el("button", { type: "button" }, [
          el("span", { class: "name", text: r.name }),
          el("span", { class: "n", text: r.count ? String(r.count) : "" }),
        ]);
        b.addEventListener("click", () => r.name !== state.room && join(state.nick, r.name));
        return el("li", { class: r.name === state.room ? "active" : "", "data-room": r.name }, [b]);
      }),
    );
    const select = $("room-select");
    const current = select.value || state.room;
    select.replaceChildren(...state.rooms.map((r) => el("option", { value: r.name, text: `# ${r.name}` })));
    select.value = state.rooms.some((r) => r.name === current) ? current : "general";
  }

  function renderOnline() {
    $("online-count").textContent = String(state.users.length);
    $("online").replaceChildren(
      ...state.users.map((u) =>
        el("li", { class: u.id === socket.id ? "me" : "", "data-id": u.id }, [
          avatar(u.nick),
          el("span", { class: "nick", text: u.nick }),
        ]),
      ),
    );
  }

  socket.on("rooms", (rooms) => {
    state.rooms = rooms;
    renderRooms();
  });
  socket.on("presence", (users) => {
    state.users = users;
    renderOnline();
  });

  // ── messages ─────────────────────────────────────────────
  const list = $("messages");
  function append(node) {
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
    list.append(node);
    if (nearBottom || node.classList.contains("mine")) list.scrollTop = list.scrollHeight;
  }

  function bubble({ id, nick, ts, mine, content }) {
    const meta = el("div", { class: "meta" }, [
      el("span", { class: "author", text: mine ? "You" : nick }),
      el("time", { text: timeOf(ts) }),
    ]);
    const stateEl = mine ? el("span", { class: "state", "data-state": "sending", text: "sending…" }) : null;
    if (stateEl) meta.append(stateEl);
    const li = el("li", { class: `msg${mine ? " mine" : ""}`, "data-author": nick }, [
      avatar(nick),
      el("div", { class: "bubble" }, [meta, content]),
    ]);
    if (id) li.dataset.id = id;
    return { li, stateEl };
  }

  function imageNode(data, type) {
    const blob = data instanceof Blob ? data : new Blob([data], { type });
    const img = el("img", { alt: "shared image" });
    img.src = URL.createObjectURL(blob);
    return img;
  }

  function showMessage(m) {
    append(bubble({ ...m, mine: false, content: el("div", { class: "text", text: m.text }) }).li);
  }
  function showImage(m) {
    append(bubble({ ...m, mine: false, content: imageNode(m.data, m.type) }).li);
  }
  function showSystem(text) {
    append(el("li", { class: "system", text }));
  }

  socket.on("message", (m) => {
    showMessage(m);
    stopTypingOf(m.nick);
  });
  socket.on("image", (m) => showImage(m));
  socket.on("system", (s) => showSystem(s.text));

  function markDelivered(stateEl, li, res) {
    if (!res || res.error) {
      stateEl.dataset.state = "failed";
      stateEl.textContent = res?.error ? `not sent: ${res.error}` : "not delivered";
      return;
    }
    li.dataset.id = res.id;
    stateEl.dataset.state = "delivered";
    stateEl.textContent = "✓ delivered";
    stateEl.title = `Acknowledged by the server at ${timeOf(res.ts)}`;
  }

  /** Sends now when joined and connected, otherwise after the next (re)join. */
  function send(event, args, stateEl, li) {
    const go = () =>
      socket.emit(event, ...args, (err, res) => markDelivered(stateEl, li, err ? null : res));
    if (state.joined && socket.connected) go();
    else state.outbox.push(go);
  }
  function flushOutbox() {
    const pending = state.outbox.splice(0);
    for (const go of pending) go();
  }

  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("message-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    stopTyping();
    const { li, stateEl } = bubble({
      nick: state.nick,
      ts: Date.now(),
      mine: true,
      content: el("div", { class: "text", text }),
    });
    append(li);
    send("message", [text], stateEl, li);
  });

  $("image-input").addEventListener("change", (e) => {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    if (file.size > 2 * 1024 * 1024) return toast("Images up to 2 MB, please");
    const { li, stateEl } = bubble({ nick: state.nick, ts: Date.now(), mine: true, content: imageNode(file) });
    append(li);
    // The File (a Blob) goes as is: socket.io sends it as a binary attachment.
    send("image", [file, { type: file.type }], stateEl, li);
  });

  // ── typing indicator ─────────────────────────────────────
  let typingSent = false;
  let typingIdle;
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingSent) socket.emit("typing", false);
    typingSent = false;
  }
  $("message-input").addEventListener("input", (e) => {
    if (!state.joined) return;
    if (!e.target.value) return stopTyping();
    if (!typingSent) socket.emit("typing", true);
    typingSent = true;
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 2500);
  });

  function renderTyping() {
    const names = [...state.typing.values()].map((t) => t.nick);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    $("typing").textContent = text;
  }
  function stopTypingOf(nick) {
    for (const [id, t] of state.typing) {
      if (t.nick === nick) {
        clearTimeout(t.timer);
        state.typing.delete(id);
      }
    }
    renderTyping();
  }
  function clearTyping() {
    for (const t of state.typing.values()) clearTimeout(t.timer);
    state.typing.clear();
    renderTyping();
  }
  socket.on("typing", ({ id, nick, typing }) => {
    const prev = state.typing.get(id);
    if (prev) clearTimeout(prev.timer);
    if (typing) {
      // A lost "stopped typing" must not leave the indicator on forever.
      const timer = setTimeout(() => {
        state.typing.delete(id);
        renderTyping();
      }, 6000);
      state.typing.set(id, { nick, timer });
    } else {
      state.typing.delete(id);
    }
    renderTyping();
  });

  // ── joining ──────────────────────────────────────────────
  function join(nick, room, { quiet = false } = {}) {
    $("login-error").textContent = "";
    socket.timeout(8000).emit("join", { nick, room }, (err, res) => {
      if (err || !res?.ok) {
        const msg = err ? "The server did not answer; is it running?" : res.error;
        if (!state.joined) $("login-error").textContent = msg;
        else toast(msg);
        return;
      }
      const switched = res.room !== state.room || !state.joined;
      Object.assign(state, { nick: res.nick, room: res.room, id: res.id, users: res.users, joined: true });
      localStorage.setItem("unio-chat-nick", res.nick);
      $("app").dataset.state = "chat";
      $("room-title").textContent = res.room;
      $("me").textContent = `Signed in as ${res.nick}`;
      if (switched && !quiet) {
        list.replaceChildren();
        clearTyping();
        for (const h of res.history) {
          if (h.kind === "message") h.nick === res.nick ? showOwn(h) : showMessage(h);
          else if (h.kind === "image") showImage(h);
          else showSystem(h.text);
        }
      }
      renderRooms();
      renderOnline();
      flushOutbox();
      if (!quiet) $("message-input").focus();
    });
  }

  function showOwn(h) {
    const { li, stateEl } = bubble({ ...h, mine: true, content: el("div", { class: "text", text: h.text }) });
    markDelivered(stateEl, li, h);
    append(li);
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const nick = $("nick").value.trim();
    if (!nick) return;
    join(nick, $("room-select").value || "general");
  });

  $("new-room").addEventListener("submit", (e) => {
    e.preventDefault();
    const name = $("new-room-name").value.trim();
    if (!name) return;
    $("new-room-name").value = "";
    join(state.nick, name);
  });

  // ── start ────────────────────────────────────────────────
  $("nick").value = state.nick;
  state.rooms = ["general", "random", "help"].map((name) => ({ name, count: 0 }));
  renderRooms();
  $("nick").focus();
})();
