// The benchmark's upstream: a Node hello-world with a fixed 12-byte body on two listeners (base and
// gray, one process); it must stay trivial so that it costs every peer the same.
// Run: node dist/bench/macro/upstream.js --base-port N --gray-port N
import http from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { "base-port": { type: "string" }, "gray-port": { type: "string" } },
});

const BODY = Buffer.from("hello world\n");

/** One listener; `x-served-by` (same length for both) tells the smoke check which one answered. */
function listen(port: number, lane: "base" | "gray"): void {
  const headers = {
    "content-type": "text/plain",
    "content-length": String(BODY.length),
    "x-served-by": lane,
  };
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, headers);
    res.end(BODY);
  });
  // Longer than every peer's idle timeout, so no proxy ever reuses a connection the upstream closed.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.requestTimeout = 0;
  server.listen(port, "127.0.0.1");
}

listen(Number(values["base-port"]), "base");
listen(Number(values["gray-port"]), "gray");
