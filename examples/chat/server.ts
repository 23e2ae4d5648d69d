/**
 * The chat demo on Node: `npm start`, then open http://localhost:3000.
 * PORT and HOST override where it listens (PORT=0 picks a free port).
 *
 * One http.Server carries both: unio answers under /socket.io/ (including
 * the client bundle at /socket.io/socket.io.js), the listener below serves
 * the page.
 */
import { createServer } from "node:http";
import { attach } from "../../src/runtimes/node.ts";
import { createChat } from "./app.ts";
import { staticFile } from "./static.ts";

const io = createChat();

const server = createServer(async (req, res) => {
  const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
  try {
    const file = await staticFile(pathname, req.method);
    res.writeHead(file.status, file.headers);
    res.end(req.method === "HEAD" ? undefined : file.body);
  } catch (err) {
    console.error(err);
    res.writeHead(500).end();
  }
});
attach(io, server);

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST;
server.listen(port, host, () => {
  const actual = (server.address() as { port: number }).port;
  console.log(`unio chat is running at http://localhost:${actual} (Node ${process.version}). Ctrl+C stops it.`);
});
server.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EADDRINUSE") console.error(`Port ${port} is in use: try PORT=3001 npm start`);
  else console.error(err);
  process.exit(1);
});

function shutdown() {
  void io.close();
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
