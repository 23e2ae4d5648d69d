/**
 * What one connection state recovery restore costs on the Redis Streams
 * adapter, and where it goes: a stream of N "welcome"-like entries, each a
 * socket.emit to one socket (with recovery on, every emit is a stream
 * entry, to the socket's own room), then R sessions restored from an
 * offset at the stream's start, as after a drain where every client's last
 * offset is its welcome. Prints CPU ms per restore (this process; Redis
 * apart), reading the stream from Redis (an offset the node's reader never
 * saw) and from the entries the reader kept (redis-streams-recent.ts).
 * `node --cpu-prof` shows where it goes.
 *
 *   node --import tsx bench/restore-cost.ts --entries=5000 --restores=300
 */
import { Redis } from "ioredis";
import { MessageType } from "../src/adapters/cluster-protocol.ts";
import { command } from "../src/adapters/redis-clients.ts";
import { StreamsSessionStore } from "../src/adapters/redis-streams-sessions.ts";
import { RecentEntries } from "../src/adapters/redis-streams-recent.ts";
import { encodeEntry, parseEntries } from "../src/adapters/redis-streams-wire.ts";
import { startRedis } from "../test/redis/harness.ts";

function arg(name: string, fallback: number): number {
  const hit = process.argv.find((x) => x.startsWith(`--${name}=`));
  return hit ? Number(hit.split("=")[1]) : fallback;
}

const entries = arg("entries", 5000);
const restores = arg("restores", 300);
const redis = await startRedis();
const client = new Redis(redis.url);
try {
  const stream = "socket.io";
  const sid = (i: number) => `sid-${String(i).padStart(6, "0")}-xxxxxxxxxx`;
  let first = "";
  for (let i = 0; i < entries; i++) {
    const message = {
      uid: "node-a",
      nsp: "/",
      type: MessageType.BROADCAST,
      data: {
        packet: { type: 2, nsp: "/", data: ["welcome", { node: "A", id: sid(i), recovered: false }] },
        opts: { rooms: [sid(i)], except: [], flags: {} },
      },
    };
    const id = (await command(client, ["XADD", stream, "*", ...encodeEntry(message as never, false)])) as string;
    first ||= id;
  }
  // What the node's stream reader would have kept: every entry, in order.
  const recent = new RecentEntries(entries);
  for (const e of parseEntries(await command(client, ["XRANGE", stream, "-", "+"]))) recent.push(e.id, e.fields);
  for (const mode of ["redis", "memory"] as const) {
    const store = new StreamsSessionStore({
      client,
      nsp: "/",
      streamName: stream,
      sessionKeyPrefix: "sio:session:",
      maxDisconnectionDuration: () => 60_000,
      onError: (err) => console.error(err),
      recent: mode === "memory" ? () => recent : undefined,
    });
    // Sessions of sockets spread over the stream: each was the recipient of one entry.
    for (let i = 0; i < restores; i++) {
      const k = Math.floor((i * entries) / restores);
      await store.persistSession({ sid: sid(k), pid: `pid-${i}`, rooms: [sid(k)], data: { i } } as never);
    }
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let missed = 0;
    for (let i = 0; i < restores; i++) {
      const session = await store.restoreSession(`pid-${i}` as never, first);
      if (!session) throw new Error(`session ${i} not restored`);
      missed += session.missedPackets.length;
    }
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    console.log(
      JSON.stringify({
        mode,
        entries,
        restores,
        missedPackets: missed,
        cpuMsPerRestore: +((cpu.user + cpu.system) / 1000 / restores).toFixed(3),
        wallMsPerRestore: +(wall / restores).toFixed(3),
      }),
    );
  }
} finally {
  client.disconnect();
  await redis.stop();
}
