/**
 * The namespaces of a Server: the ones created by name, and the parents
 * (`io.of(/regex/)`, `io.of(fn)`) that create children when a client asks
 * for a name they accept. `Server.of()` and the CONNECT handling of a
 * Client both go through here.
 */
import { Namespace } from "./namespace.ts";
import { ParentNamespace } from "./parent-namespace.ts";
import type { ParentNspNameMatchFn, Server } from "./server.ts";
import type { Socket } from "./socket.ts";
import type { EventsMap } from "./typed-events.ts";

/**
 * One server's namespace registry.
 *
 * @example
 * // Through the server that owns it:
 * io.of("/chat");                 // created by name
 * io.of(/^\/room-\d+$/);          // a parent: "/room-7" is created when a client connects to it
 */
export class NamespaceRegistry<L extends EventsMap, E extends EventsMap, S extends EventsMap, D> {
  /** Namespaces by name, children of parents included (the Server's `_nsps`). */
  readonly byName = new Map<string, Namespace<L, E, S, D>>();
  /** Parents in registration order, by the function that accepts their children. */
  readonly #parents = new Map<ParentNspNameMatchFn, ParentNamespace<L, E, S, D>>();
  /** Parents made from a RegExp: `of(name)` for a matching name creates the child at once. */
  readonly #parentOfRegExp = new Map<RegExp, ParentNamespace<L, E, S, D>>();

  constructor(readonly server: Server<L, E, S, D>) {}

  /** Gets or creates a namespace, or a parent for a RegExp or function (see `Server.of`). */
  of(name: string | RegExp | ParentNspNameMatchFn, fn?: (socket: Socket<L, E, S, D>) => void): Namespace<L, E, S, D> {
    if (typeof name === "function" || name instanceof RegExp) return this.#parent(name, fn);
    if (String(name)[0] !== "/") name = "/" + name;
    let nsp = this.byName.get(name);
    if (!nsp) {
      for (const [regex, parent] of this.#parentOfRegExp) {
        if (regex.test(name)) {
          const child = parent.createChild(name);
          if (fn) child.on("connect", fn);
          return child;
        }
      }
      nsp = new Namespace(this.server, name);
      this.byName.set(name, nsp);
      // The main namespace is being created here when `sockets` is not set yet.
      if (name !== "/") this.server.sockets._emitNewNamespace(nsp);
    }
    if (fn) nsp.on("connect", fn);
    return nsp;
  }

  #parent(name: RegExp | ParentNspNameMatchFn, fn?: (socket: Socket<L, E, S, D>) => void): ParentNamespace<L, E, S, D> {
    if (name instanceof RegExp && (name.global || name.sticky)) {
      // `test()` on such a RegExp depends on lastIndex, so matches would alternate.
      throw new Error("stateful regular expressions are not supported");
    }
    const parent = new ParentNamespace(this.server);
    if (typeof name === "function") {
      this.#parents.set(name, parent);
    } else {
      const regex = name;
      this.#parents.set((nsp, _auth, next) => next(null, regex.test(nsp)), parent);
      this.#parentOfRegExp.set(regex, parent);
    }
    if (fn) parent.on("connect", fn);
    return parent;
  }

  /**
   * Asks the parents, in registration order, whether `name` may be created;
   * calls `fn` with the (possibly already existing) child, or false. A
   * parent function that throws counts as a refusal.
   */
  check(name: string, auth: { [key: string]: any }, fn: (nsp: Namespace<L, E, S, D> | false) => void): void {
    const entries = [...this.#parents];
    const tryNext = (i: number): void => {
      if (i >= entries.length) return fn(false);
      const [match, parent] = entries[i]!;
      let answered = false;
      const next = (err: Error | null, allow: boolean): void => {
        if (answered) return;
        answered = true;
        if (err || !allow) return tryNext(i + 1);
        // Another client may have created it meanwhile (socket.io #4136): reuse it.
        const existing = this.byName.get(name);
        fn(existing ?? parent.createChild(name));
      };
      try {
        match(name, auth, next);
      } catch {
        next(null, false);
      }
    };
    tryNext(0);
  }
}
