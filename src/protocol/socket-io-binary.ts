/**
 * Binary attachments of Socket.IO v5 packets, and JSON serialisation that
 * survives any nesting depth.
 *
 * Every walk here uses an explicit stack: packet data comes from users or from
 * the network, and a recursive walk lets a deeply nested array (the reference
 * parser dies at a few thousand levels) crash the process with a stack
 * overflow. V8's own `JSON.stringify` is recursive too, so `stringifyJSON`
 * falls back to an iterative serialiser when it runs out of stack.
 */

type Bag = Record<string, unknown>;

const hasOwn = Object.prototype.hasOwnProperty;
const dateToJSON = Date.prototype.toJSON;
/** Past this many objects a detection walk starts remembering what it saw, so a cycle cannot spin forever. */
const CYCLE_GUARD_AFTER = 10_000;
/** Past this nesting depth a copying walk starts tracking ancestors to detect cycles. */
const CYCLE_GUARD_DEPTH = 128;

/** Bytes as socket.io sends them: ArrayBuffer or any view (Node's Buffer is a Uint8Array). */
export function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** Views the same memory as a `Uint8Array`; copies nothing. */
export function toUint8Array(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** `toJSON` the way `JSON.stringify` applies it; Date's is skipped in detection because it yields a string or null, never binary. */
function applyToJSON(value: unknown, key: string | number, skipDate: boolean): unknown {
  const fn = (value as { toJSON?: unknown }).toJSON;
  if (typeof fn !== "function" || (skipDate && fn === dateToJSON)) return value;
  return fn.call(value, String(key));
}

/** Own-key assignment that never goes through the `__proto__` setter. */
function setOwn(target: Bag, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/**
 * Whether `data` holds binary anywhere JSON.stringify would look, following
 * `toJSON` like the reference `hasBinary`. Cost: one pass, no allocation for
 * primitives.
 */
export function hasBinary(data: unknown): boolean {
  if (data === null || typeof data !== "object") return false;
  const stack: object[] = [data];
  let visited = 0;
  let seen: Set<object> | null = null;
  while (stack.length > 0) {
    let node = stack.pop()!;
    if (isBinary(node)) return true;
    if (seen !== null) {
      if (seen.has(node)) continue;
      seen.add(node);
    } else if (++visited > CYCLE_GUARD_AFTER) {
      seen = new Set();
    }
    const resolved = applyToJSON(node, "", true);
    if (resolved !== node) {
      if (resolved === null || typeof resolved !== "object") continue;
      if (isBinary(resolved)) return true;
      node = resolved;
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const child: unknown = node[i];
        if (child !== null && typeof child === "object") stack.push(child);
      }
    } else {
      for (const key in node) {
        if (!hasOwn.call(node, key)) continue;
        const child = (node as Bag)[key];
        if (child !== null && typeof child === "object") stack.push(child);
      }
    }
  }
  return false;
}

interface CopyFrame {
  source: object;
  target: unknown[] | Bag;
  /** Object keys, or null for an array. */
  keys: string[] | null;
  index: number;
}

/**
 * Copies `data`, replacing each binary with `{_placeholder: true, num}` in
 * depth-first order (the order the reference numbers them). `toJSON` results
 * are copied into plain containers, so `JSON.stringify` of the copy equals
 * `JSON.stringify` of the original. Throws TypeError on a cycle, as
 * JSON.stringify would.
 */
export function deconstruct(data: unknown): { data: unknown; buffers: Uint8Array[] } {
  const buffers: Uint8Array[] = [];
  const frames: CopyFrame[] = [];
  // A cycle means unbounded depth, so ancestors are tracked only past a depth no sane payload reaches.
  let ancestors = null as Set<object> | null; // (cast: it is reassigned inside `visit`, which narrowing cannot see)
  const circular = () => new TypeError("Converting circular structure to JSON");

  // Returns the copy of one value; containers are registered and filled later by the loop.
  const visit = (value: unknown, key: string | number): unknown => {
    if (value === null || typeof value !== "object") return value;
    if (isBinary(value)) {
      buffers.push(toUint8Array(value));
      return { _placeholder: true, num: buffers.length - 1 };
    }
    const resolved = applyToJSON(value, key, false);
    if (resolved === null || typeof resolved !== "object") return resolved;
    if (isBinary(resolved)) {
      buffers.push(toUint8Array(resolved));
      return { _placeholder: true, num: buffers.length - 1 };
    }
    // Boxed primitives serialise as their primitive; leave them to JSON.stringify.
    if (resolved instanceof Number || resolved instanceof String || resolved instanceof Boolean) return resolved;
    if (ancestors !== null) {
      if (ancestors.has(resolved)) throw circular();
      ancestors.add(resolved);
    } else if (frames.length >= CYCLE_GUARD_DEPTH) {
      ancestors = new Set([resolved]);
      for (const frame of frames) {
        if (ancestors.has(frame.source)) throw circular();
        ancestors.add(frame.source);
      }
    }
    const isArray = Array.isArray(resolved);
    const target: unknown[] | Bag = isArray ? new Array<unknown>(resolved.length) : {};
    frames.push({ source: resolved, target, keys: isArray ? null : Object.keys(resolved), index: 0 });
    return target;
  };

  const root = visit(data, "");
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    if (frame.keys === null) {
      const source = frame.source as unknown[];
      if (frame.index < source.length) {
        const i = frame.index++;
        (frame.target as unknown[])[i] = visit(source[i], i);
        continue;
      }
    } else if (frame.index < frame.keys.length) {
      const key = frame.keys[frame.index++]!;
      setOwn(frame.target as Bag, key, visit((frame.source as Bag)[key], key));
      continue;
    }
    if (ancestors !== null) ancestors.delete(frame.source);
    frames.pop();
  }
  return { data: root, buffers };
}

const KEEP = Symbol("keep");
const ILLEGAL = Symbol("illegal");

/**
 * Replaces placeholders in freshly parsed packet data, in place. Returns an
 * error message instead of throwing. A placeholder's `num` must be an integer
 * in `[0, buffers.length)`: a string such as "splice" or "toString" would
 * otherwise index into Array.prototype (CVE-2022-2421).
 *
 * `guardCycles` is needed only when a reviver could have produced shared or
 * cyclic objects; plain JSON.parse output is a tree.
 */
export function reconstruct(data: unknown, buffers: readonly Uint8Array[], guardCycles = false): string | null {
  if (data === null || typeof data !== "object") return null;
  const stack: object[] = [data];
  const seen = guardCycles ? new Set<object>() : null;
  // The buffer that replaces `child`, KEEP to leave it (descending into it later), or ILLEGAL.
  const resolve = (child: unknown): Uint8Array | typeof KEEP | typeof ILLEGAL => {
    if (child === null || typeof child !== "object") return KEEP;
    if (hasOwn.call(child, "_placeholder") && (child as Bag)._placeholder === true) {
      const num = (child as Bag).num;
      if (typeof num === "number" && Number.isInteger(num) && num >= 0 && num < buffers.length) return buffers[num]!;
      return ILLEGAL;
    }
    if (seen !== null) {
      if (seen.has(child)) return KEEP;
      seen.add(child);
    }
    stack.push(child);
    return KEEP;
  };
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const replacement = resolve(node[i]);
        if (replacement === ILLEGAL) return "illegal attachments";
        if (replacement !== KEEP) node[i] = replacement;
      }
    } else {
      const keys = Object.keys(node);
      for (let k = 0; k < keys.length; k++) {
        const key = keys[k]!;
        const replacement = resolve((node as Bag)[key]);
        if (replacement === ILLEGAL) return "illegal attachments";
        if (replacement !== KEEP) setOwn(node as Bag, key, replacement);
      }
    }
  }
  return null;
}

/**
 * `JSON.stringify(value)`, except that nesting too deep for V8's recursive
 * serialiser is handled by an iterative one with the same output.
 */
export function stringifyJSON(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return stringifyIteratively(value);
  }
}

const CONTAINER = Symbol("container");

/** Applies toJSON and unwraps boxed primitives (SerializeJSONProperty steps 2 and 4). */
function prepare(value: unknown, key: string | number): unknown {
  if (value !== null && (typeof value === "object" || typeof value === "bigint")) {
    value = applyToJSON(value, key, false);
  }
  if (value !== null && typeof value === "object") {
    if (value instanceof Number) return Number(value);
    if (value instanceof String) return String(value);
    if (value instanceof Boolean) return value.valueOf();
  }
  return value;
}

/** The JSON text of a non-container, `undefined` for values JSON omits, or CONTAINER. */
function atom(value: unknown): string | undefined | typeof CONTAINER {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      throw new TypeError("Do not know how to serialize a BigInt");
    case "object":
      return value === null ? "null" : CONTAINER;
    default:
      return undefined;
  }
}

interface WriteFrame {
  node: object;
  keys: string[] | null;
  index: number;
  wroteMember: boolean;
}

function stringifyIteratively(root: unknown): string | undefined {
  const top = prepare(root, "");
  const first = atom(top);
  if (first !== CONTAINER) return first;
  const out: string[] = [];
  const frames: WriteFrame[] = [];
  const ancestors = new Set<object>();
  const open = (node: object): void => {
    if (ancestors.has(node)) throw new TypeError("Converting circular structure to JSON");
    ancestors.add(node);
    const isArray = Array.isArray(node);
    out.push(isArray ? "[" : "{");
    frames.push({ node, keys: isArray ? null : Object.keys(node), index: 0, wroteMember: false });
  };
  open(top as object);
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]!;
    if (frame.keys === null) {
      const array = frame.node as unknown[];
      if (frame.index < array.length) {
        const i = frame.index++;
        if (i > 0) out.push(",");
        const value = prepare(array[i], i);
        const text = atom(value);
        if (text === CONTAINER) open(value as object);
        else out.push(text ?? "null");
        continue;
      }
      out.push("]");
    } else {
      if (frame.index < frame.keys.length) {
        const key = frame.keys[frame.index++]!;
        const value = prepare((frame.node as Bag)[key], key);
        const text = atom(value);
        if (text === undefined) continue;
        out.push((frame.wroteMember ? "," : "") + JSON.stringify(key) + ":");
        frame.wroteMember = true;
        if (text === CONTAINER) open(value as object);
        else out.push(text);
        continue;
      }
      out.push("}");
    }
    ancestors.delete(frame.node);
    frames.pop();
  }
  return out.join("");
}
