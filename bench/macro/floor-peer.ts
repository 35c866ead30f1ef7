// The "floor" peer: the least a Node.js proxy on node:http can do, a server that sends every request through lanemesh's own HTTP/1.1 forwarder to one upstream; what Node itself costs, with no lane, metric or check.
// Run: node dist/bench/macro/floor-peer.js --port N --upstream-port N
import http from "node:http";
import { parseArgs } from "node:util";
import { H1Forwarder } from "../../src/proxy/forward/h1/forwarder.js";

const { values } = parseArgs({
  options: { port: { type: "string" }, "upstream-port": { type: "string" } },
});
const upstream = { address: "127.0.0.1", port: Number(values["upstream-port"]) };
const forwarder = new H1Forwarder();
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "upgrade", "trailer"]);

const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP.has((raw[i] as string).toLowerCase()))
      headers.push(raw[i] as string, raw[i + 1] as string);
  }
  const hasBody =
    req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined;
  forwarder.dispatch({
    upstream,
    method: req.method ?? "GET",
    path: req.url ?? "/",
    headers,
    body: hasBody ? req : null,
    interceptAppUnavailable: false,
    res,
    onHead: () => {},
    settle: (o) => {
      if (!o.ok && !res.headersSent) res.writeHead(502).end();
    },
  });
});
server.listen(Number(values.port), "127.0.0.1");
