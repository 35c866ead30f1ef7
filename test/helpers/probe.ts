// A child-process load probe: GETs through proxies on a few keep-alive connections, to one or more targets in turn, printing each target's latencies as JSON, so a test's own event loop (busy with thousands of sockets) is not in the measurement; it asserts nothing.
import { Agent, request } from "node:http";

/*
 * Usage: node probe.js N CONCURRENCY TARGET... with TARGET = `port,host,path`. N requests per
 * target; each worker sends to the targets in turn, so every target sees the same moments of the
 * machine. Output: [{ms (sorted), failed, slowest}] per target, where `failed` lists answers that
 * were not 200 `pong`, and `slowest` the six slowest as `<ms>ms@<start ms from the first request>`.
 */

interface Target {
  port: number;
  host: string;
  path: string;
  ms: number[];
  at: [number, number][];
  failed: string[];
}

const [n, concurrency, ...specs] = process.argv.slice(2);
const targets: Target[] = specs.map((s) => {
  const [port, host, path] = s.split(",");
  return { port: Number(port), host: host ?? "", path: path ?? "/", ms: [], at: [], failed: [] };
});
const agent = new Agent({ keepAlive: true, maxSockets: Number(concurrency) * targets.length });
const t0 = performance.now();
let left = Number(n) * targets.length;
let turn = 0;

function one(t: Target): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = request(
      { host: "127.0.0.1", port: t.port, path: t.path, agent, headers: { host: t.host } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => {
          const took = performance.now() - started;
          t.ms.push(took);
          t.at.push([Math.round(started - t0), Math.round(took)]);
          if (res.statusCode !== 200 || body !== "pong") t.failed.push(`${res.statusCode} ${body}`);
          resolve();
        });
      },
    );
    req.on("error", (err) => {
      t.failed.push(err.message);
      resolve();
    });
    req.end();
  });
}

await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (left-- > 0) await one(targets[turn++ % targets.length] as Target);
  }),
);
agent.destroy();
const out = targets.map((t) => ({
  ms: t.ms.sort((a, b) => a - b),
  failed: t.failed,
  slowest: t.at
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([s, d]) => `${d}ms@${s}`),
}));
process.stdout.write(`${JSON.stringify(out)}\n`);
