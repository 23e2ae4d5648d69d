/**
 * `io.listen(port)` and `new Server(port)` on Bun and Deno (`unio/bun`,
 * `unio/deno`), run in the real runtimes: the official client connects at
 * the configured path, and `io.close()` stops the runtime's server so the
 * process ends by itself.
 */
import { io as ioc } from "socket.io-client";
import { describe, expect, it } from "vitest";
import { startFixture } from "../conformance/harness.ts";
import { processRuntimes } from "../conformance/runtimes.ts";

const runtimes = processRuntimes("test/compat/fixtures").filter((r) => r.name !== "node");

for (const runtime of runtimes) {
  const command = runtime.command.map((part) => part.replace(/fixtures\/(bun|deno)\.ts$/, "fixtures/listen-$1.ts"));
  for (const form of ["ctor", "listen"] as const) {
    describe(`${runtime.name}: ${form === "ctor" ? "new Server(port, opts)" : "new Server(opts).listen(port)"}`, () => {
      it("serves the official client, then io.close() stops the server and the process ends", async () => {
        const fixture = await startFixture({ ...runtime, command }, { FORM: form });
        try {
          const socket = ioc(fixture.url, { path: "/rt", forceNew: true, reconnection: false });
          expect(await socket.timeout(5000).emitWithAck("hello", "there")).toBe("hi there at /rt");
          expect(await socket.timeout(5000).emitWithAck("shutdown")).toBe("closing");
          const reason = await new Promise((r) => socket.once("disconnect", r));
          expect(reason).toBe("transport close");
          await expect.poll(() => fixture.output(), { timeout: 10_000 }).toContain('{"closed":true,"err":null}');
          await expect.poll(() => fixture.exitCode(), { timeout: 10_000 }).toBe(0);
          await expect(fetch(`${fixture.url}/rt/?EIO=4&transport=polling`)).rejects.toThrow();
        } finally {
          await fixture.stop();
        }
      }, 40_000);
    });
  }
}
