// The benchmark's load generator with its C engine (loadgen.c, built by openloop.js with the system's compiler): against a real HTTP server answering with Content-Length, chunked and 503 bodies, every request is sent, read to its end and counted as the server answered it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { LoadResult } from "../../bench/macro/stats.js";

const OPENLOOP = fileURLToPath(new URL("../../bench/macro/openloop.js", import.meta.url));

function openloop(args: string[]): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [OPENLOOP, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe("load generator, C engine", { timeout: 120_000 }, () => {
  let server: http.Server;
  let port = 0;
  /** Requests served, and the x-probe header of the last one. */
  let served = 0;
  let probe: string | undefined;

  before(async () => {
    server = http.createServer((req, res) => {
      served++;
      probe = req.headers["x-probe"] as string | undefined;
      // Every fifth answer is a 503; the others alternate a Content-Length and a chunked body.
      if (served % 5 === 0) {
        res.writeHead(503, { "content-length": "4" }).end("busy");
      } else if (served % 2 === 0) {
        res.writeHead(200, { "content-length": "11" }).end("hello world");
      } else {
        res.writeHead(200);
        res.write("hello ");
        res.end("chunked world");
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it("open loop: sends on schedule, reads both framings, counts the 503s", async () => {
    served = 0;
    const r = await openloop([
      "--port",
      String(port),
      "--header",
      "x-probe: seen",
      "--mode",
      "open",
      "--rate",
      "500",
      "--duration",
      "1",
      "--connections",
      "4",
      "--warmup",
      "10",
    ]);
    assert.equal(r.engine, "c");
    assert.equal(probe, "seen", "the headers asked for are sent");
    assert.equal(served, 510, "10 warm-up requests and 500 measured");
    assert.equal(r.sent, 500);
    assert.equal(r.completed, 500);
    assert.equal(r.errors, 0);
    assert.equal(r.non2xx, 100, "every fifth answer (warm-up: 10, a multiple of 5)");
    assert.ok(r.latencyUs.p50 > 0 && r.latencyUs.p50 < r.latencyUs.max + 1);
    assert.ok(r.sendLagUs !== null && r.sendLagUs.p50 >= 0);
  });

  it("closed loop: one connection, one request after another, all completed", async () => {
    served = 0;
    const r = await openloop([
      "--port",
      String(port),
      "--mode",
      "closed",
      "--connections",
      "1",
      "--duration",
      "0.5",
      "--warmup",
      "0",
    ]);
    assert.equal(r.engine, "c");
    assert.equal(r.sent, served, "each request sent was served once");
    assert.equal(r.completed, r.sent);
    assert.equal(r.errors, 0);
    assert.ok(r.sent > 10, `${r.sent} requests in 0.5 s`);
    assert.equal(r.rate, null);
    assert.equal(r.sendLagUs, null);
  });

  it("a server that closes mid-answer: counted as errors, the run goes on", async () => {
    const rude = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => rude.listen(0, "127.0.0.1", r));
    const rudePort = (rude.address() as AddressInfo).port;
    try {
      const r = await openloop([
        "--port",
        String(rudePort),
        "--mode",
        "open",
        "--rate",
        "200",
        "--duration",
        "0.5",
        "--connections",
        "2",
        "--warmup",
        "0",
      ]);
      assert.equal(r.sent, 100);
      assert.equal(r.completed, 0);
      assert.equal(r.errors, 100);
    } finally {
      await new Promise<void>((r) => rude.close(() => r()));
    }
  });
});
