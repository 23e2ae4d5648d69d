/** socket.io 4.8 on Node (its default engine.io + ws), serving the benchmark app. */
import { createServer } from "node:http";
import { Server } from "socket.io";
import { HOST, portFromEnv, ready } from "./lifecycle.ts";
import { installApp, type IoLike } from "./sio-app.ts";

const http = createServer();
const io = new Server(http, { serveClient: false });
installApp(io as unknown as IoLike);
http.listen(portFromEnv(), HOST, () => ready((http.address() as { port: number }).port));
