/**
 * The tick (src/engine/tick.ts): one shared microtask ends it, and with it
 * every write hold taken during it (write coalescing).
 */
import { describe, expect, it } from "vitest";
import { currentTick, holdUntilTickEnd, microtask } from "../../src/engine/tick.ts";

const nextMacrotask = () => new Promise((r) => setTimeout(r, 0));

describe("tick", () => {
  it("stays the same within one synchronous run and moves on after its microtasks", async () => {
    const a = currentTick();
    expect(currentTick()).toBe(a);
    await nextMacrotask();
    expect(currentTick()).toBeGreaterThan(a);
  });

  it("releases every hold of a tick once, after the synchronous code, in the order taken", async () => {
    const released: string[] = [];
    const hold = (name: string) => holdUntilTickEnd({ release: () => released.push(name) });
    hold("a");
    hold("b");
    hold("c");
    expect(released).toEqual([]);
    await nextMacrotask();
    expect(released).toEqual(["a", "b", "c"]);
    await nextMacrotask();
    expect(released).toEqual(["a", "b", "c"]);
  });

  it("releases a hold taken while releasing, and the others when one release throws", async () => {
    const released: string[] = [];
    holdUntilTickEnd({
      release: () => {
        released.push("first");
        holdUntilTickEnd({ release: () => released.push("taken during release") });
      },
    });
    holdUntilTickEnd({
      release: () => {
        throw new Error("a broken connection");
      },
    });
    holdUntilTickEnd({ release: () => released.push("after the throw") });
    await nextMacrotask();
    expect(released).toEqual(["first", "after the throw", "taken during release"]);
  });

  it("microtask() runs in queueMicrotask order", async () => {
    const order: number[] = [];
    microtask(() => order.push(1));
    queueMicrotask(() => order.push(2));
    microtask(() => order.push(3));
    await nextMacrotask();
    expect(order).toEqual([1, 2, 3]);
  });
});
