/**
 * An HTTP request through node:http that shows the response as sent: no
 * automatic decoding (fetch would inflate a gzip body and hide it), raw
 * headers, the body as bytes.
 */
import { request } from "node:http";
import { readdirSync, readFileSync } from "node:fs";

export interface BytesResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function httpBytes(
  url: string,
  method = "GET",
  headers: Record<string, string> = {},
  body?: Buffer | string,
): Promise<BytesResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    // A server may answer (415, 413) and close while the body is still going out.
    req.on("error", (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EPIPE" && code !== "ECONNRESET") reject(err);
    });
    req.end(body);
  });
}

/** Resident memory, in bytes, of `pid` and all its descendants (Linux /proc). */
export function treeRss(pid: number): number {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // The process ended meanwhile.
    }
  }
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (m) total += Number(m[1]) * 1024;
    } catch {
      // Gone.
    }
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}
