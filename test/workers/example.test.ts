/**
 * examples/workers as a user deploys it: bundled by wrangler itself
 * (`wrangler deploy --dry-run` with the example's own wrangler.jsonc), then
 * run in workerd. Two rooms are two objects; a shout reaches both.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { io as connect, type Socket as ClientSocket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { once, within } from "../helpers/wait.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const exampleDir = join(root, "examples/workers");
let outDir: string;
let mf: Miniflare | undefined;
let url: string;
const clients: ClientSocket[] = [];

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "unio-example-"));
  await within(
    new Promise<void>((resolve, reject) => {
      execFile(
        join(root, "node_modules/.bin/wrangler"),
        ["deploy", "--dry-run", "--outdir", outDir],
        { cwd: exampleDir, env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
        (err, _stdout, stderr) => (err ? reject(new Error(`wrangler failed: ${stderr}`)) : resolve()),
      );
    }),
    { timeout: 90_000, what: "wrangler bundle" },
  );
  const bundle = readdirSync(outDir).find((f) => f.endsWith("socket.io.js"))!;
  mf = new Miniflare({
    modules: [
      { type: "ESModule", path: join(outDir, "worker.js"), contents: readFileSync(join(outDir, "worker.js"), "utf8") },
      { type: "Text", path: join(outDir, bundle), contents: readFileSync(join(outDir, bundle), "utf8") },
    ],
    modulesRoot: outDir,
    compatibilityDate: "2025-09-01",
    host: "127.0.0.1",
    port: 0,
    cf: false,
    durableObjects: { CHAT: { className: "ChatRoom", useSQLite: true } },
  });
  url = (await mf.ready).toString().replace(/\/$/, "");
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await mf?.dispose();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

async function join_(room: string, nick: string): Promise<{ c: ClientSocket; history: unknown[] }> {
  const c = connect(url, { transports: ["websocket"], query: { room }, forceNew: true, reconnection: false });
  clients.push(c);
  await once(c, "connect", { failOn: "connect_error" });
  const r = (await within(c.timeout(3000).emitWithAck("join", nick), { what: "join" })) as { ok: boolean; history: unknown[] };
  expect(r.ok).toBe(true);
  return { c, history: r.history };
}

describe("examples/workers, bundled by wrangler", () => {
  it("wrangler produced the Worker and the client bundle module", () => {
    const files = readdirSync(outDir);
    expect(files).toContain("worker.js");
    expect(files.some((f) => f.endsWith("socket.io.js"))).toBe(true);
  });

  it("serves the client bundle from the Worker", async () => {
    const res = await fetch(`${url}/socket.io/socket.io.js`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Socket.IO");
  });

  it("rooms are objects: messages stay in a room, history is kept, shouts reach every room", async () => {
    const { c: ada } = await join_("general", "ada");
    const { c: bob } = await join_("general", "bob");
    const { c: cy } = await join_("random", "cy");

    const toBob = once(bob, "message");
    let leaked = false;
    cy.on("message", () => (leaked = true));
    ada.emit("message", "hello general");
    expect(await toBob).toMatchObject({ nick: "ada", text: "hello general" });

    const { history } = await join_("general", "dee");
    expect(history).toEqual([expect.objectContaining({ nick: "ada", text: "hello general" })]);

    const shoutAtCy = once(cy, "shout", { what: "the shout in the other room" });
    const shoutAtBob = once(bob, "shout");
    ada.emit("shout", "hi everyone");
    expect(await shoutAtCy).toMatchObject({ nick: "ada", text: "hi everyone" });
    expect(await shoutAtBob).toMatchObject({ nick: "ada", text: "hi everyone" });
    expect(leaked).toBe(false);
  });
});
