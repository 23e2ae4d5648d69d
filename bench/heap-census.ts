/**
 * A census of a V8 heap snapshot (the .heapsnapshot JSON that
 * `v8.getHeapSnapshot()` streams): object count and self size per
 * "type:name" (e.g. "object:Socket", "closure:onMessage", "string"), and the
 * difference of two censuses per connection. Used by bench/heap-probe.ts.
 */
import { getHeapSnapshot } from "node:v8";

export type Census = Map<string, { count: number; bytes: number }>;

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export function snapshotNode(): Snapshot {
  const stream = getHeapSnapshot();
  const chunks: Buffer[] = [];
  let chunk: Buffer | null;
  // The stream is readable synchronously once created (it is filled as it is read).
  while ((chunk = stream.read() as Buffer | null) !== null) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString()) as Snapshot;
}

/**
 * Groups nodes by type and name: strings and numbers by type alone, the rest by constructor/closure name.
 * With `detail`, plain objects are told apart by their first property names and strings by their text
 * (the first 40 characters), to find which objects and strings a connection adds.
 */
export function census(s: Snapshot, detail = false): Census {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const iEdges = fields.indexOf("edge_count");
  const ef = s.snapshot.meta.edge_fields;
  const eWidth = ef.length;
  const eType = ef.indexOf("type");
  const eName = ef.indexOf("name_or_index");
  const eTypes = s.snapshot.meta.edge_types[0];
  const out: Census = new Map();
  let edge = 0;
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    const name = s.strings[s.nodes[i + iName]!]!;
    const edges = s.nodes[i + iEdges]!;
    let key = type === "string" || type === "number" || type === "concatenated string" || type === "sliced string" ? type : `${type}:${name.slice(0, 60)}`;
    if (detail && (type === "string" || type === "concatenated string")) key = `${type} ${JSON.stringify(name.slice(0, 40))}`;
    if (detail && (key === "object:Object" || key === "array:" || key === "object:Array" || key.startsWith("closure"))) {
      const props: string[] = [];
      for (let e = edge; e < edge + edges * eWidth && props.length < 6; e += eWidth) {
        const t = eTypes[s.edges[e + eType]!];
        if (t === "property" || t === "element" || t === "context") props.push(t === "element" ? "#" : s.strings[s.edges[e + eName]!]!);
      }
      key += `{${props.join(",")}}`;
    }
    edge += edges * eWidth;
    const e = out.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += s.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

export function diffCensus(before: Census, after: Census, n: number): Array<{ key: string; count: number; bytes: number }> {
  const rows: Array<{ key: string; count: number; bytes: number }> = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    const count = (a.count - b.count) / n;
    const bytes = (a.bytes - b.bytes) / n;
    if (Math.abs(count) >= 0.5 || Math.abs(bytes) >= 8) rows.push({ key, count, bytes });
  }
  return rows.sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes) || Math.abs(y.count) - Math.abs(x.count));
}
