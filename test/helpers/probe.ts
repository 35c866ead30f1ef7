// A child-process load probe: N GETs through a proxy on a few keep-alive connections, printing each one's latency as JSON, so a test's own event loop (busy with thousands of sockets) is not in the measurement; it asserts nothing.
import { Agent, request } from "node:http";

/*
 * Usage: node probe.js PORT PATH N [CONCURRENCY] [EXPECT]. Output: {ms (sorted), failed, slowest}
 * where `failed` lists answers that were not 200 with body EXPECT, and `slowest` the six slowest
 * as `<ms>ms@<start ms from the first request>`.
 */

const [port, path, n, concurrency = "4", expect = "pong"] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const ms: number[] = [];
const at: [number, number][] = [];
const failed: string[] = [];
const t0 = performance.now();
let left = Number(n);

function one(): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request({ host: "127.0.0.1", port: Number(port), path, agent }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => {
        body += c.toString();
      });
      res.on("end", () => {
        const took = performance.now() - started;
        ms.push(took);
        at.push([Math.round(started - t0), Math.round(took)]);
        if (res.statusCode !== 200 || body !== expect) failed.push(`${res.statusCode} ${body}`);
        resolve();
      });
    });
    req.on("error", (err) => {
      failed.push(err.message);
      resolve();
    });
    req.end();
  });
}

await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (left-- > 0) await one();
  }),
);
agent.destroy();
const slowest = at
  .sort((a, b) => b[1] - a[1])
  .slice(0, 6)
  .map(([s, d]) => `${d}ms@${s}`);
process.stdout.write(`${JSON.stringify({ ms: ms.sort((a, b) => a - b), failed, slowest })}\n`);
