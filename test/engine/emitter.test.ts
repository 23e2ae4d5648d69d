import { describe, expect, it } from "vitest";
import { Emitter } from "../../src/engine/emitter.ts";

class Open extends Emitter {
  fire(ev: string, ...args: unknown[]): boolean {
    return this.emitReserved(ev, ...args);
  }
}

describe("Emitter", () => {
  it("keeps order across one and several listeners, with prepend, off and once", () => {
    const e = new Open();
    const calls: string[] = [];
    const a = () => calls.push("a");
    const b = () => calls.push("b");
    const c = () => calls.push("c");
    expect(e.fire("x")).toBe(false);
    e.on("x", a);
    expect(e.listenerCount("x")).toBe(1);
    expect(e.fire("x")).toBe(true);
    e.on("x", b);
    e.prependListener("x", c);
    expect(e.listeners("x")).toEqual([c, a, b]);
    e.fire("x");
    expect(calls).toEqual(["a", "c", "a", "b"]);
    e.off("x", c);
    e.off("x", a);
    expect(e.listeners("x")).toEqual([b]);
    expect(e.hasListeners("x")).toBe(true);
    e.off("x", b);
    expect(e.hasListeners("x")).toBe(false);
    expect(e.listenerCount("x")).toBe(0);
    calls.length = 0;
    e.once("y", a);
    e.prependListener("y", b);
    expect(e.listeners("y")).toEqual([b, a]);
    e.fire("y");
    e.fire("y");
    expect(calls).toEqual(["b", "a", "b"]);
    e.removeAllListeners();
    expect(e.fire("y")).toBe(false);
  });

  it("takes any string as an event name, __proto__ included, and symbols", () => {
    const e = new Open();
    const got: unknown[] = [];
    const s = Symbol("s");
    e.on("__proto__", (v: unknown) => got.push(v));
    e.on("constructor", (v: unknown) => got.push(v));
    e.on(s as unknown as string, (v: unknown) => got.push(v));
    e.fire("__proto__", 1);
    e.fire("constructor", 2);
    e.fire(s as unknown as string, 3);
    expect(e.fire("toString")).toBe(false);
    expect(got).toEqual([1, 2, 3]);
  });

  it("lets an emit in progress finish over the listeners it started with", () => {
    const e = new Open();
    const calls: string[] = [];
    const b = () => calls.push("b");
    e.on("x", () => {
      calls.push("a");
      e.off("x", b);
    });
    e.on("x", b);
    e.fire("x");
    e.fire("x");
    expect(calls).toEqual(["a", "b", "a"]);
  });
});
