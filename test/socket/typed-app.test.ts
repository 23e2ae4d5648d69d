import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { typedApp } from "./typed-app.ts";

const MARKER = "// ---- identical below this line ----";
const body = (file: string) => {
  const text = readFileSync(new URL(file, import.meta.url), "utf8");
  return text.slice(text.indexOf(MARKER));
};

describe("typed app", () => {
  it("is the same source for unio and socket.io (both type-checked by tsc -p .)", () => {
    expect(body("./typed-app.ts")).toBe(body("./typed-app.socketio.ts"));
    expect(body("./typed-app.ts").length).toBeGreaterThan(1000);
  });

  it("builds and closes at runtime", async () => {
    const io = typedApp();
    expect(io.of("/admin").name).toBe("/admin");
    await io.close();
  });
});
