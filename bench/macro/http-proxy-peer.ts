// The http-proxy (npm) peer: a reverse proxy to one upstream over a keep-alive http.Agent, as its
// users configure it for speed; it must not do more than forward.
// Run: node dist/bench/macro/http-proxy-peer.js --port N --upstream-port N
import http from "node:http";
import { parseArgs } from "node:util";
import httpProxy from "http-proxy";

const { values } = parseArgs({
  options: { port: { type: "string" }, "upstream-port": { type: "string" } },
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 64 });
const proxy = httpProxy.createProxyServer({
  target: `http://127.0.0.1:${values["upstream-port"]}`,
  agent,
});
proxy.on("error", (_err, _req, res) => {
  if (res instanceof http.ServerResponse && !res.headersSent) {
    res.writeHead(502, { "content-type": "text/plain" });
    res.end("bad gateway\n");
  } else {
    res.destroy();
  }
});

const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen(Number(values.port), "127.0.0.1");
