/**
 * One request check on both sides of the Workers hop: the same table of
 * requests (request-table.ts) goes to the engine of a core Server behind a
 * fetch handler, and to the Workers router in front of Durable Objects in
 * workerd; every answer must be the same (status, body, CORS origin), and
 * the one the table expects. A query key given twice counts with its last
 * value on both sides, as in socket.io (`EIO=3&EIO=4` is a v4 request).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Server } from "../../src/index.ts";
import { handleWebRequest } from "../../src/engine/web.ts";
import { type Outcome, outcome, ROWS, SERVERS, toRequest } from "./request-table.ts";
import { type RunningWorker, startWorker } from "./harness.ts";

let w: RunningWorker;
let fromWorkers: Outcome[];
const servers = Object.fromEntries(Object.entries(SERVERS).map(([path, opts]) => [path, new Server(opts)])) as Record<
  keyof typeof SERVERS,
  Server
>;

beforeAll(async () => {
  w = await startWorker(new URL("./request-check-app.ts", import.meta.url).pathname, { MAIN: "MainObject", V3: "V3Object" });
  const res = await fetch(`${w.url}/__table`, { method: "POST" });
  expect(res.status).toBe(200);
  fromWorkers = (await res.json()) as Outcome[];
});
afterAll(async () => {
  await w?.dispose();
  for (const io of Object.values(servers)) await io.close();
});

/** The engine's answer through a Web fetch handler; an accepted upgrade is left unopened (`undefined`). */
async function fromEngine(i: number): Promise<Outcome> {
  const row = ROWS[i]!;
  return outcome(await handleWebRequest(servers[row.path], toRequest("http://localhost", row), { upgrade: () => undefined }));
}

describe("the engine and the Workers router answer a request alike", () => {
  it.each(ROWS.map((row, i) => [row.name, i] as const))("%s", async (_name, i) => {
    const row = ROWS[i]!;
    const engine = await fromEngine(i);
    expect(fromWorkers[i]).toEqual(engine);
    expect(engine.status).toBe(row.expect.status);
    if (row.expect.code !== undefined) expect(JSON.parse(engine.body).code).toBe(row.expect.code);
    else if (engine.status === 200 && row.method === "GET") expect(engine.body.startsWith('0{"sid":"<sid>"')).toBe(true);
  });
});
