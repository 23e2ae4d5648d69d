// `npm start`: runs the chat demo (examples/chat/server.ts) on Node through tsx.
// The server prints its URL (http://localhost:3000 unless PORT says otherwise).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const port = process.env.PORT ?? "3000";
console.log(`Starting the unio chat demo on http://localhost:${port === "0" ? "<free port>" : port} ...`);

const child = spawn(process.execPath, ["--import", "tsx", "examples/chat/server.ts"], {
  cwd: root,
  stdio: "inherit",
  env: process.env,
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (child.exitCode === null) child.kill(signal);
  });
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
