/**
 * Registers the official socket.io-client bundles with the core's client
 * file serving (src/socket/client-files.ts). Imported for its effect by the
 * Node, Bun and Deno shims, which all provide `node:fs/promises` and
 * `node:module`. The files come from the socket.io-client package's `dist/`
 * as resolved from here; when the package is not installed nothing is
 * registered and `/socket.io/socket.io.js` is simply not served.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { brotliCompress, constants as zlib } from "node:zlib";
import { CLIENT_FILES, clientBundleVersion, setClientBundleLoader } from "../socket/client-files.ts";

/** Resolves socket.io-client's `dist/` directory and version, or null when it is not installed. */
export function locateClientBundle(from: string = import.meta.url): { dir: string; version: string } | null {
  try {
    const require = createRequire(from);
    // Only `./package.json` and two dist files are exported; the package file gives the directory.
    const pkgFile = require.resolve("socket.io-client/package.json");
    const pkg = require("socket.io-client/package.json") as { version?: unknown };
    if (typeof pkg.version !== "string") return null;
    const dir = pkgFile.slice(0, pkgFile.length - "package.json".length) + "dist/";
    return { dir, version: pkg.version };
  } catch {
    return null;
  }
}

/** Registers the loader for the bundle found by `locateClientBundle`; returns whether one was found. */
export function registerClientBundle(from?: string): boolean {
  const found = locateClientBundle(from);
  if (!found) return false;
  setClientBundleLoader(async (file) => {
    if (!CLIENT_FILES.has(file)) return null;
    try {
      const buf = await readFile(found.dir + file);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch {
      return null;
    }
  }, found.version, { brotli });
  return true;
}

/** Brotli from `node:zlib` (the Web CompressionStream has none), for text at the best quality as the reference. */
function brotli(bytes: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    brotliCompress(bytes, { params: { [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT } }, (err, out) =>
      err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)),
    );
  });
}

// A loader the user registered (or an earlier copy of this module) wins.
if (clientBundleVersion() === undefined) registerClientBundle();
