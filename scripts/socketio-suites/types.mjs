// socket.io's type test (packages/socket.io/test/socket.io.test-d.ts)
// compiled with the project's tsc against unio/node's declarations (dist).
// tsd's assertions and mocha's describe/it are stubbed: `expectType<T>(v)`
// then checks that v is assignable to T (tsd checks identity), so the count
// is of errors a user migrating such code would see.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { clean, root } from "./common.mjs";

/** `serverScratch`: the server suite's folder, whose node_modules has socket.io-adapter. */
export function runTypeTest(git, serverScratch) {
  const dir = join(serverScratch, "types");
  clean(dir);
  mkdirSync(join(dir, "test"), { recursive: true });
  mkdirSync(join(dir, "lib"), { recursive: true });
  writeFileSync(join(dir, "test", "socket.io.test-d.ts"), git("show", "HEAD:packages/socket.io/test/socket.io.test-d.ts"));
  const decl = JSON.stringify(join(root, "dist", "runtimes", "node.js"));
  writeFileSync(join(dir, "lib", "index.ts"), `export * from ${decl};\n`);
  writeFileSync(join(dir, "lib", "typed-events.ts"), `export type { DefaultEventsMap, EventsMap } from ${JSON.stringify(join(root, "dist", "index.js"))};\n`);
  writeFileSync(
    join(dir, "stubs.d.ts"),
    [
      'declare module "tsd" {',
      "  export function expectType<T>(value: T): void;",
      "  export function expectAssignable<T>(value: T): void;",
      "  export function expectError<T = unknown>(value: T): void;",
      "}",
      "declare function describe(name: string, fn: () => void): void;",
      "declare function it(name: string, fn: (done: (err?: unknown) => void) => void | Promise<void>): void;",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          strict: true,
          // As packages/socket.io/tsconfig.json: the test file's own code has untyped parameters.
          noImplicitAny: false,
          noEmit: true,
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          skipLibCheck: true,
          esModuleInterop: true,
          typeRoots: [join(root, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["stubs.d.ts", "test/socket.io.test-d.ts"],
      },
      null,
      2,
    ),
  );
  const r = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["-p", dir], { encoding: "utf8" });
  const errors = (r.stdout.match(/error TS\d+/g) ?? []).length;
  return { errors, output: r.stdout.trim() };
}
