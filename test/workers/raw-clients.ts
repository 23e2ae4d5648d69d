/**
 * A load generator in its own process: `n` raw Engine.IO v4 WebSockets
 * (optionally sending the Socket.IO CONNECT), answering the server's pings
 * until told to fall silent; or as many long-polling sessions, each with
 * an upgrade probe that never completes (`transport`, `probe`). Raw frames,
 * no client library: its own cost is a few µs a frame, so the timings it
 * reports are the server's.
 *
 * Run by `forkRawClients()` (below, from tests and bench/workers-scale.ts)
 * as `node --import tsx test/workers/raw-clients.ts '<json RawClientsConfig>'`,
 * it talks to its parent over IPC: it sends `{ type: "open", ... }` once
 * every socket has its handshake, then answers `silent`, `report` and
 * `close` messages. A process holds at most ~19,000 sockets (20,000 open
 * files); bench/workers-scale.ts spreads more over several.
 *
 * Sockets open in waves that start at least `gap` ms apart, each wave once
 * the one before has its handshakes: on a loaded machine the waves slow
 * down instead of piling up handshakes whose sessions would time out before
 * the client saw them, and the sockets' pings fall in different phases.
 */
import { type ChildProcess, fork } from "node:child_process";
import WebSocket from "ws";

export interface RawClientsConfig {
  /** The server's base URL (http://host:port). */
  url: string;
  /** Query string after `EIO=4&transport=websocket&` (the router's shard, ...). */
  query: string;
  n: number;
  /** Sockets per wave. */
  wave: number;
  /** ms from one wave's start to the next's, at least. */
  gap: number;
  /**
   * The share of time the server may spend on handshakes (default 1): after
   * a wave that took t ms, the next starts t / duty ms after it, at least
   * `gap`. A Durable Object handles its events one at a time, so while it
   * works through a wave its alarm waits; at 0.5 the wait stays below one
   * wave's handshakes, whatever the machine's load.
   */
  duty?: number;
  /** Send the Socket.IO CONNECT ("40") after the handshake. */
  connect: boolean;
  /** Answer pings from the start (the `silent` message stops it). */
  pong: boolean;
  /** Keep per-socket times (ping arrivals, pongs sent, the close frame) for `report`. */
  detail: boolean;
  /** A frame to send once the server accepted the Socket.IO CONNECT (an event, say). */
  emit?: string;
  /** Offer permessage-deflate, as browsers do (default true; workerd accepts every offer). */
  deflate?: boolean;
  /**
   * Sessions over HTTP long-polling instead (default "websocket"): each polls
   * as a client does, answering pings with a POSTed pong.
   */
  transport?: "websocket" | "polling";
  /**
   * Polling only: right after the handshake, open a WebSocket for the
   * session and send the upgrade probe ("2probe"), then never the UPGRADE
   * packet; the server closes it at upgradeTimeout. The session polls on.
   */
  probe?: boolean;
}

/** What one socket saw, in the client's Date.now() ms. */
export interface RawSocketReport {
  sid: string;
  /** When the open packet arrived. */
  opened: number;
  pings: number[];
  pongs: number[];
  /** When the close frame arrived (readyState CLOSING), or null while open. */
  closed: number | null;
  /** The upgrade probe (`probe`): when "3probe" came back and when its close frame arrived. */
  probe?: { answered: number | null; closed: number | null };
}

export interface RawClientsReport {
  open: number;
  pings: number;
  pongs: number;
  closed: number;
  errors: number;
  sockets?: RawSocketReport[];
  /**
   * How late this process's own timer fired (ms, one sample per 10 ms tick)
   * since `probe()`: what a deadline on Node fires like on this machine now,
   * in a Node process carrying these sockets' traffic.
   */
  nodeTimerLate?: number[];
}

type Message = { type: "open"; opened: number; ms: number; handshakeP50: number; handshakeMax: number } | { type: "report"; report: RawClientsReport };

interface Held {
  /** The session's WebSocket: the transport, or (polling) the probe. */
  ws?: WebSocket;
  /** Polling: the session ended (a close packet, or a request refused). */
  ended?: boolean;
  r: RawSocketReport;
  /** This socket no longer answers pings. */
  mute?: boolean;
}

function run(cfg: RawClientsConfig): void {
  const held: Held[] = [];
  let pong = cfg.pong;
  let pings = 0;
  let pongs = 0;
  let errors = 0;
  const send = (m: Message) => process.send!(m);
  const base = `${cfg.url}/socket.io/?EIO=4&transport=polling&${cfg.query}`;
  let stopped = false;

  /** One polling session: the handshake, CONNECT, then GETs until it ends; pongs are POSTed. */
  async function openPolling(): Promise<number> {
    const t0 = Date.now();
    const h: Held = { r: { sid: "", opened: 0, pings: [], pongs: [], closed: null } };
    held.push(h);
    try {
      const open = await (await fetch(base)).text();
      h.r.sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    } catch {
      errors++;
      return -1;
    }
    h.r.opened = Date.now();
    const url = `${base}&sid=${encodeURIComponent(h.r.sid)}`;
    const post = async (body: string) => {
      const res = await fetch(url, { method: "POST", body });
      if (res.status !== 200) end(h);
    };
    if (cfg.connect) await post("40").catch(() => end(h));
    if (cfg.probe) probeUpgrade(h);
    void (async () => {
      while (!h.ended && !stopped) {
        let body: string;
        try {
          const res = await fetch(url);
          body = await res.text();
          if (res.status !== 200) return end(h);
        } catch {
          return end(h);
        }
        const packets = body.split("\x1e");
        if (packets.includes("1")) return end(h);
        if (packets.includes("2")) {
          pings++;
          const now = Date.now();
          if (cfg.detail) h.r.pings.push(now);
          if (pong && !h.mute) {
            pongs++;
            if (cfg.detail) h.r.pongs.push(now);
            await post("3").catch(() => end(h));
          }
        }
        const connected = packets.find((p) => p.startsWith("40"));
        if (connected && cfg.emit) await post(cfg.emit).catch(() => end(h));
        // Only noops (the server ending a held GET while a probe is pending, every 100 ms): poll
        // again a little later, as the session has nothing to answer; pings wait in its buffer.
        if (packets.every((p) => p === "6")) await new Promise((r) => setTimeout(r, 250));
      }
    })();
    return Date.now() - t0;
  }

  function end(h: Held): void {
    if (h.ended) return;
    h.ended = true;
    h.r.closed = Date.now();
  }

  /** The upgrade probe of polling session `h`, never followed by an UPGRADE. */
  function probeUpgrade(h: Held): void {
    const probe = { answered: null as number | null, closed: null as number | null };
    h.r.probe = probe;
    const ws = new WebSocket(`${cfg.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket&${cfg.query}&sid=${encodeURIComponent(h.r.sid)}`, {
      perMessageDeflate: cfg.deflate !== false,
    });
    h.ws = ws;
    ws.on("open", () => ws.send("2probe"));
    ws.on("message", (d) => {
      if (d.toString() === "3probe") probe.answered = Date.now();
    });
    ws.on("error", () => errors++);
  }

  function open(): Promise<number> {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const ws = new WebSocket(`${cfg.url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket&${cfg.query}`, {
        perMessageDeflate: cfg.deflate !== false,
      });
      const h: Held = { ws, r: { sid: "", opened: 0, pings: [], pongs: [], closed: null } };
      held.push(h);
      ws.on("message", (d) => {
        const s = d.toString();
        if (s === "2") {
          pings++;
          const now = Date.now();
          if (cfg.detail) h.r.pings.push(now);
          if (!pong || h.mute) return;
          pongs++;
          if (cfg.detail) h.r.pongs.push(now);
          ws.send("3");
        } else if (s.startsWith("40") && cfg.emit) {
          ws.send(cfg.emit);
        } else if (s[0] === "0") {
          h.r.sid = (JSON.parse(s.slice(1)) as { sid: string }).sid;
          h.r.opened = Date.now();
          if (cfg.connect) ws.send("40");
          resolve(Date.now() - t0);
        }
      });
      ws.on("error", () => {
        errors++;
        resolve(-1);
      });
    });
  }

  // The close frame itself (ws emits `close` only once the TCP connection ends): one poll for all sockets.
  if (cfg.detail) {
    setInterval(() => {
      const now = Date.now();
      for (const h of held) {
        if (!h.ws || h.ws.readyState < WebSocket.CLOSING) continue;
        if (h.r.probe) h.r.probe.closed ??= now;
        else if (h.r.closed === null) h.r.closed = now;
      }
    }, 5).unref();
  }

  let late: number[] | null = null;
  let probe: ReturnType<typeof setInterval> | undefined;
  process.on("message", (m: { type: string; spread?: number }) => {
    if (m.type === "silent") {
      // All at once, or one socket after another over `spread` ms.
      if (!m.spread) pong = false;
      else held.forEach((h, i) => setTimeout(() => (h.mute = true), (i / held.length) * m.spread!));
    }
    else if (m.type === "probe") {
      late = [];
      const tick = 10;
      let due = Date.now() + tick;
      clearInterval(probe);
      probe = setInterval(() => {
        const now = Date.now();
        late!.push(Math.max(0, now - due));
        due = now + tick;
      }, tick);
    }
    else if (m.type === "report") {
      // A polling session is closed once it ended (its probe's close is the probe's own).
      const closed = held.filter((h) => (cfg.transport === "polling" ? h.ended : h.ws!.readyState >= WebSocket.CLOSING)).length;
      const report: RawClientsReport = { open: held.length - closed, pings, pongs, closed, errors };
      if (cfg.detail) report.sockets = held.map((h) => h.r);
      if (late) report.nodeTimerLate = late;
      send({ type: "report", report });
    } else if (m.type === "close") {
      stopped = true;
      for (const h of held) h.ws?.terminate();
      process.exit(0);
    }
  });
  process.on("disconnect", () => process.exit(0));

  (async () => {
    const t0 = Date.now();
    const times: number[] = [];
    for (let i = 0; i < cfg.n; i += cfg.wave) {
      const start = Date.now();
      const wave: Promise<number>[] = [];
      for (let j = i; j < Math.min(cfg.n, i + cfg.wave); j++) wave.push(cfg.transport === "polling" ? openPolling() : open());
      times.push(...(await Promise.all(wave)));
      // Pacing, not waiting for an outcome: the next wave starts `gap` ms after this one did.
      const took = Date.now() - start;
      const rest = Math.max(cfg.gap, took / (cfg.duty ?? 1)) - took;
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
    const ok = times.filter((t) => t >= 0).sort((a, b) => a - b);
    send({
      type: "open",
      opened: ok.length,
      ms: Date.now() - t0,
      handshakeP50: ok[ok.length >> 1] ?? -1,
      handshakeMax: ok[ok.length - 1] ?? -1,
    });
  })();
}

/** The parent's handle on a raw-clients process. */
export interface RawClients {
  child: ChildProcess;
  /** Resolves once every socket has its handshake (or failed): how many opened, how long it took. */
  opened: Promise<{ opened: number; ms: number; handshakeP50: number; handshakeMax: number }>;
  /** Stops answering pings: every socket at once, or one after another over `spread` ms. */
  silent(spread?: number): void;
  /** Starts sampling this process's own timer lateness (reported as `nodeTimerLate`). */
  probe(): void;
  report(): Promise<RawClientsReport>;
  close(): Promise<void>;
}

/** Starts a raw-clients process (see above). */
export function forkRawClients(cfg: RawClientsConfig): RawClients {
  const child = fork(new URL(import.meta.url).pathname, [JSON.stringify(cfg)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const next = <T extends Message["type"]>(type: T) =>
    new Promise<Extract<Message, { type: T }>>((resolve, reject) => {
      const onMessage = (m: Message) => {
        if (m.type !== type) return;
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m as Extract<Message, { type: T }>);
      };
      const onExit = (code: number | null) => {
        child.off("message", onMessage);
        reject(new Error(`raw-clients exited (${code}) before "${type}"`));
      };
      child.on("message", onMessage);
      child.once("exit", onExit);
    });
  const opened = next("open").then(({ type: _, ...rest }) => rest);
  // A rejection nobody awaited yet must not end the test run.
  opened.catch(() => {});
  return {
    child,
    opened,
    silent: (spread?: number) => child.send({ type: "silent", spread }),
    probe: () => child.send({ type: "probe" }),
    report: async () => {
      const r = next("report");
      child.send({ type: "report" });
      return (await r).report;
    },
    close: async () => {
      if (child.exitCode === null && child.connected) child.send({ type: "close" });
      await exited;
    },
  };
}

if (process.argv[1] === new URL(import.meta.url).pathname && process.send) run(JSON.parse(process.argv[2]!) as RawClientsConfig);
