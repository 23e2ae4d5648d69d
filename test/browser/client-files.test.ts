/**
 * serveClient: the official socket.io-client bundles under the server path.
 * First the core function on its own, then the same over HTTP on Node, Bun
 * and Deno (a plain Server through each shim's `serve`).
 */
import { readFileSync, realpathSync } from "node:fs";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IncomingRequest } from "../../src/engine/facade.ts";
import { locateClientBundle, registerClientBundle } from "../../src/runtimes/client-bundle.ts";
import {
  CLIENT_FILES,
  clearClientBundleLoader,
  serveClientFile,
  setClientBundleLoader,
} from "../../src/socket/client-files.ts";
import { root, selectedRuntimes, startServer, type RunningServer, type RuntimeName } from "./harness.ts";

const dist = `${root}node_modules/socket.io-client/dist/`;
const version = (JSON.parse(readFileSync(`${root}node_modules/socket.io-client/package.json`, "utf8")) as { version: string })
  .version;
const ETAG = `"${version}"`;
const FILES = [...CLIENT_FILES];
const typeOf = (file: string) =>
  file.endsWith(".map") ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8";

function request(url: string, headers: Record<string, string> = {}, method = "GET"): IncomingRequest {
  return {
    method,
    url,
    headers,
    remoteAddress: "127.0.0.1",
    secure: false,
    readBody: async () => ({ ok: true, bytes: new Uint8Array(0) }),
    onAbort() {},
  };
}

const bytesOf = (body: string | Uint8Array) => (typeof body === "string" ? new TextEncoder().encode(body) : body);

describe("serveClientFile (core)", () => {
  beforeAll(() => {
    expect(registerClientBundle()).toBe(true);
  });

  it("finds socket.io-client's dist and version from the runtime side", () => {
    const found = locateClientBundle();
    expect(found?.version).toBe(version);
    expect(realpathSync(found!.dir)).toBe(realpathSync(dist));
  });

  it("serves the 8 files with their content type, ETag and cache policy, byte for byte", async () => {
    expect(FILES.sort()).toEqual(
      [
        "socket.io.esm.min.js",
        "socket.io.esm.min.js.map",
        "socket.io.js",
        "socket.io.js.map",
        "socket.io.min.js",
        "socket.io.min.js.map",
        "socket.io.msgpack.min.js",
        "socket.io.msgpack.min.js.map",
      ].sort(),
    );
    for (const file of FILES) {
      const res = await serveClientFile(request(`/socket.io/${file}`), "/socket.io/");
      expect(res, file).toBeDefined();
      expect(res!.status).toBe(200);
      expect(res!.headers["content-type"]).toBe(typeOf(file));
      expect(res!.headers.etag).toBe(ETAG);
      expect(res!.headers["cache-control"]).toBe("public, max-age=0");
      expect(res!.headers["content-encoding"]).toBeUndefined();
      expect(Buffer.from(bytesOf(res!.body)).equals(readFileSync(dist + file)), file).toBe(true);
    }
  });

  it("answers 304 to a matching If-None-Match, strong or weak, and 200 otherwise", async () => {
    for (const tag of [ETAG, `W/${ETAG}`, `"0.0.0", ${ETAG}`]) {
      const res = await serveClientFile(request("/socket.io/socket.io.js", { "if-none-match": tag }), "/socket.io/");
      expect(res?.status, tag).toBe(304);
      expect(res?.body).toBe("");
      expect(res?.headers.etag).toBe(ETAG);
    }
    const stale = await serveClientFile(request("/socket.io/socket.io.js", { "if-none-match": '"4.0.0"' }), "/socket.io/");
    expect(stale?.status).toBe(200);
  });

  it("leaves everything else to the engine", async () => {
    for (const url of [
      "/socket.io/",
      "/socket.io/?EIO=4&transport=polling",
      "/socket.io/socket.io.jsx",
      "/socket.io/socket.io.js/",
      "/socket.io/dist/socket.io.js",
      "/socket.io/../socket.io.js",
      "/socket.io/socket.io.msgpack.js",
      "/socket.io/package.json",
      "/other/socket.io.js",
      "/socket.io.js",
    ]) {
      expect(await serveClientFile(request(url), "/socket.io/"), url).toBeUndefined();
    }
    expect(await serveClientFile(request("/socket.io/socket.io.js", {}, "POST"), "/socket.io/")).toBeUndefined();
  });

  it("ignores the query string and accepts a path with or without its trailing slash", async () => {
    expect((await serveClientFile(request("/socket.io/socket.io.min.js?v=2"), "/socket.io/"))?.status).toBe(200);
    expect((await serveClientFile(request("/custom/socket.io.min.js"), "/custom"))?.status).toBe(200);
    expect((await serveClientFile(request("/custom/socket.io.min.js"), "/custom/"))?.status).toBe(200);
  });

  it("compresses when asked (the client's first choice among equals, q=0 honoured) and the bytes still match", async () => {
    const original = readFileSync(dist + "socket.io.min.js");
    for (const accept of ["br", "br, gzip, deflate", "*", "gzip;q=0.5, br"]) {
      const br = await serveClientFile(request("/socket.io/socket.io.min.js", { "accept-encoding": accept }), "/socket.io/");
      expect(br?.headers["content-encoding"], accept).toBe("br");
      expect(brotliDecompressSync(bytesOf(br!.body)).equals(original)).toBe(true);
    }
    const gz = await serveClientFile(request("/socket.io/socket.io.min.js", { "accept-encoding": "gzip, deflate, br" }), "/socket.io/");
    expect(gz?.headers["content-encoding"]).toBe("gzip");
    expect(gz?.headers.vary).toContain("Accept-Encoding");
    expect(gunzipSync(bytesOf(gz!.body)).equals(original)).toBe(true);
    expect((gz!.body as Uint8Array).byteLength).toBeLessThan(original.byteLength / 2);

    const df = await serveClientFile(request("/socket.io/socket.io.min.js", { "accept-encoding": "gzip;q=0, deflate" }), "/socket.io/");
    expect(df?.headers["content-encoding"]).toBe("deflate");
    expect(inflateSync(bytesOf(df!.body)).equals(original)).toBe(true);

    const plain = await serveClientFile(request("/socket.io/socket.io.min.js", { "accept-encoding": "identity" }), "/socket.io/");
    expect(plain?.headers["content-encoding"]).toBeUndefined();
  });

  it("applies the server's cors option", async () => {
    const res = await serveClientFile(request("/socket.io/socket.io.js", { origin: "http://example.com" }), "/socket.io/", {
      cors: { origin: "http://example.com" },
    });
    expect(res?.headers["access-control-allow-origin"]).toBe("http://example.com");
    expect(res?.headers.vary).toContain("Origin");
  });

  it("serves nothing without a loader, or when the loader has no such file", async () => {
    clearClientBundleLoader();
    try {
      expect(await serveClientFile(request("/socket.io/socket.io.js"), "/socket.io/")).toBeUndefined();
      setClientBundleLoader(async (file) => (file === "socket.io.js" ? new TextEncoder().encode("// hi") : null), "9.9.9");
      const res = await serveClientFile(request("/socket.io/socket.io.js"), "/socket.io/");
      expect(res?.headers.etag).toBe('"9.9.9"');
      expect(new TextDecoder().decode(bytesOf(res!.body))).toBe("// hi");
      expect(await serveClientFile(request("/socket.io/socket.io.min.js"), "/socket.io/")).toBeUndefined();
    } finally {
      registerClientBundle();
    }
  });
});

const FIXTURES: Record<RuntimeName, string[]> = {
  node: [process.execPath, "--import", "tsx", "test/browser/fixtures/node.ts"],
  bun: [`${root}node_modules/.bin/bun`, "run", "test/browser/fixtures/bun.ts"],
  deno: [`${root}node_modules/.bin/deno`, "run", "--allow-net", "--allow-read", "--allow-env", "--no-lock", "test/browser/fixtures/deno.ts"],
};

for (const runtime of selectedRuntimes()) {
  describe(`client bundle over HTTP on ${runtime}`, () => {
    let plain: RunningServer;
    let custom: RunningServer;
    let off: RunningServer;

    beforeAll(async () => {
      [plain, custom, off] = await Promise.all([
        startServer(FIXTURES[runtime]),
        startServer(FIXTURES[runtime], { env: { IO_PATH: "/custom" } }),
        startServer(FIXTURES[runtime], { env: { SERVE_CLIENT: "0" } }),
      ]);
    }, 60_000);
    afterAll(async () => {
      await Promise.allSettled([plain?.stop(), custom?.stop(), off?.stop()]);
    });

    it("serves every bundle and map with content type, ETag and Cache-Control", async () => {
      for (const file of FILES) {
        const res = await fetch(`${plain.url}/socket.io/${file}`, { headers: { "accept-encoding": "identity" } });
        expect(res.status, file).toBe(200);
        expect(res.headers.get("content-type"), file).toBe(typeOf(file));
        expect(res.headers.get("etag")).toBe(ETAG);
        expect(res.headers.get("cache-control")).toBe("public, max-age=0");
        expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(dist + file)), file).toBe(true);
      }
    });

    it("answers 304 to If-None-Match (strong and weak), 200 to another version", async () => {
      for (const tag of [ETAG, `W/${ETAG}`]) {
        const res = await fetch(`${plain.url}/socket.io/socket.io.min.js`, { headers: { "if-none-match": tag } });
        expect(res.status, tag).toBe(304);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
      const res = await fetch(`${plain.url}/socket.io/socket.io.min.js`, { headers: { "if-none-match": '"1.0.0"' } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    });

    it("sends Brotli when the client accepts br", async () => {
      const res = await fetch(`${plain.url}/socket.io/socket.io.js`, { headers: { "accept-encoding": "br" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-encoding")).toBe("br");
      // fetch decodes it: the bytes are the bundle's.
      expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(dist + "socket.io.js"))).toBe(true);
    });

    it("sends gzip when the client accepts it", async () => {
      const res = await fetch(`${plain.url}/socket.io/socket.io.js`, { headers: { "accept-encoding": "gzip" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-encoding")).toBe("gzip");
      // fetch decodes it: the bytes are the bundle's.
      expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(dist + "socket.io.js"))).toBe(true);
    });

    it("lets unknown names fall through to the engine (400, code 0) and keeps the engine working", async () => {
      for (const name of ["nope.js", "socket.io.jsx", "socket.io.msgpack.js"]) {
        const res = await fetch(`${plain.url}/socket.io/${name}`);
        expect(res.status, name).toBe(400);
        expect(await res.json()).toEqual({ code: 0, message: "Transport unknown" });
      }
      const handshake = await fetch(`${plain.url}/socket.io/?EIO=4&transport=polling`);
      expect(handshake.status).toBe(200);
      expect(await handshake.text()).toMatch(/^0\{"sid":/);
    });

    it("follows the server path, and serveClient: false turns it off", async () => {
      const moved = await fetch(`${custom.url}/custom/socket.io.min.js`);
      expect(moved.status).toBe(200);
      expect(moved.headers.get("etag")).toBe(ETAG);
      await moved.arrayBuffer();
      const disabled = await fetch(`${off.url}/socket.io/socket.io.js`);
      expect(disabled.status).toBe(400);
      expect(await disabled.json()).toEqual({ code: 0, message: "Transport unknown" });
    });
  });
}
